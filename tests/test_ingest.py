"""Incremental ingest: content-hash ids, nothing re-embedded needlessly, nothing indexed lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import retrieval.index.ingest as ingest_module
from retrieval import Settings
from retrieval.embeddings import Embedder
from retrieval.index.folder import IndexReader
from retrieval.index.ingest import ingest

LBC = "000_25e66b6cc12ca714.txt"


def passages_text(settings: Settings) -> str:
    reader = IndexReader(settings.index_dir)
    try:
        return "\n".join(r[0] for r in reader.store.conn.execute("SELECT text FROM passages"))
    finally:
        reader.close()


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if ingest tries to load the embedding model."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(ingest_module, "Embedder", refuse)


def test_first_ingest_then_unchanged_loads_no_model(
    settings: Settings, embedder: Embedder, seeds_copy: Path, no_model: None
) -> None:
    first = ingest([seeds_copy], settings, embedder=embedder)
    assert (first.files_seen, first.added, first.articles_total) == (5, 5, 5)
    assert first.passages_embedded == first.passages_total > 50
    again = ingest([seeds_copy], settings)  # embedder=None: would load the model if needed
    assert (again.unchanged, again.added, again.updated, again.passages_embedded) == (5, 0, 0, 0)
    assert again.version is None  # no new index version for a no-op


def test_changed_file_replaces_its_passages(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    path = seeds_copy / LBC
    path.write_text(path.read_text(encoding="utf-8").replace("Abu Kamal", "Deir Hafer"), encoding="utf-8")
    report = ingest([seeds_copy], settings, embedder=embedder)
    assert (report.updated, report.unchanged, report.articles_total) == (1, 4, 5)
    assert 0 < report.passages_embedded < 25  # only the changed article
    text = passages_text(settings)
    assert "Deir Hafer" in text and "Abu Kamal" not in text


def test_prune_drops_articles_whose_files_are_gone(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    (seeds_copy / LBC).unlink()
    kept = ingest([seeds_copy], settings, embedder=embedder)
    assert kept.articles_total == 5 and len(kept.gone) == 1  # without --prune nothing is dropped
    pruned = ingest([seeds_copy], settings, embedder=embedder, prune=True)
    assert (pruned.removed, pruned.articles_total) == (1, 4)
    assert "Abu Kamal" not in passages_text(settings)


def test_same_text_twice_is_stored_once(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    (seeds_copy / "copy").mkdir()
    (seeds_copy / "copy" / "again.txt").write_bytes((seeds_copy / LBC).read_bytes())
    report = ingest([seeds_copy], settings, embedder=embedder)
    assert (report.files_seen, report.articles_total) == (6, 5)
    (seeds_copy / LBC).unlink()
    report = ingest([seeds_copy], settings, embedder=embedder, prune=True)
    assert report.articles_total == 5  # still provided by the copy


def test_bad_files_are_skipped_and_nothing_indexed_is_lost(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    before = passages_text(settings)
    (seeds_copy / "empty.txt").write_bytes(b"")
    (seeds_copy / "blob.txt").write_bytes(bytes(range(256)) * 10)
    (seeds_copy / "big.txt").write_text("Big news. " * 700_000, encoding="utf-8")
    (seeds_copy / "bad.json").write_text("{oops", encoding="utf-8")
    (seeds_copy / LBC).write_bytes(b"\x00\x01binary now")  # a known file turned bad
    report = ingest([seeds_copy], settings, embedder=embedder)
    reasons = dict(report.skipped)
    assert "empty file" in reasons.values()
    assert len(report.skipped) == 5
    assert any("too large" in r for r in reasons.values())
    assert any("binary" in r for r in reasons.values())
    assert report.articles_total == 5
    assert passages_text(settings) == before


def test_metadata_change_updates_without_embedding(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    sources = seeds_copy / "sources.jsonl"
    rows = [json.loads(line) for line in sources.read_text(encoding="utf-8").splitlines()]
    rows[0]["outlet"] = "LBC News"
    sources.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = ingest([seeds_copy], settings, embedder=embedder)
    assert (report.updated, report.passages_embedded) == (1, 0)
    reader = IndexReader(settings.index_dir)
    assert reader.store.conn.execute("SELECT count(*) FROM articles WHERE outlet='LBC News'").fetchone()[0] == 1
    reader.close()


def test_passages_keep_offsets_and_dates(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    reader = IndexReader(settings.index_dir)
    rows = reader.store.conn.execute(
        "SELECT p.start_char, p.end_char, p.text, a.text, p.published FROM passages p JOIN articles a USING(doc_id)"
    ).fetchall()
    reader.close()
    for start, end, text, article_text, published in rows:
        assert article_text[start:end] == text
        assert published is not None  # every seed has a publication date, stored on each passage
    with pytest.raises(sqlite3.OperationalError):  # the live version is read-only
        IndexReader(settings.index_dir).store.conn.execute("DELETE FROM passages")
