"""Shared fixtures: the real model, loaded once per session, and an index of the seeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


def qa_rows() -> list[dict]:
    """The seeds QA: from ../shared when present (the source of truth), else the bundled copy."""
    shared = ROOT.parent / "shared" / "eval" / "seeds_qa.jsonl"
    path = shared if shared.is_file() else DATA / "seeds_qa.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def settings_base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings that ignore the developer's .env and environment, with progress bars off."""
    return Settings.from_env(env={}, dotenv_path=None).with_(
        index_dir=tmp_path_factory.mktemp("index"), articles_dir=SEEDS, show_progress=False
    )


@pytest.fixture(scope="session")
def embedder(settings_base: Settings) -> Embedder:
    """The real all-MiniLM-L6-v2, loaded once."""
    return Embedder(settings_base.embed_model, offline=True)


@pytest.fixture(scope="session")
def seed_brief(settings_base: Settings, embedder: Embedder) -> Brief:
    """A Brief over an index of the five seed articles (built once per session)."""
    ingest([SEEDS], settings_base, embedder=embedder)
    return Brief(settings_base, embedder)


@pytest.fixture
def settings(tmp_path: Path, settings_base: Settings) -> Settings:
    """Settings with an empty index folder of the test's own."""
    return settings_base.with_(index_dir=tmp_path / "index")


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A writable copy of the seeds folder."""
    target = tmp_path / "articles"
    shutil.copytree(SEEDS, target)
    return target
