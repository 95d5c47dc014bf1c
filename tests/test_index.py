"""The index folder: self-describing, versioned, changed in place by deltas, clear errors when damaged."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest

import retrieval.index.folder as index_module
from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.errors import CorruptIndexError, IndexMismatchError, IndexWriteError, LockTimeoutError, NoIndexError
from retrieval.index.folder import IndexReader, IndexWriter, Manifest, live_version
from retrieval.index.ingest import ingest
from retrieval.index.store import Store

ARTICLE = (
    "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday, "
    "the port authority said, adding that it would power 4,000 homes."
)


def test_manifest_describes_the_index(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    manifest = Manifest.read(live_version(settings.index_dir)).to_dict()
    assert manifest["model_id"] == embedder.model_id
    assert (manifest["dim"], manifest["articles"], manifest["format"]) == (384, 5, 4)
    assert manifest["passages"] > 50 and manifest["updated_at"]
    assert [s["count"] for s in manifest["segments"]] == [manifest["passages"]]


def test_no_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(NoIndexError, match=r"no index at .*; build it with `brief ingest --index "):
        IndexReader(tmp_path / "nothing")


def test_another_model_is_refused_with_a_rebuild_hint(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    with pytest.raises(IndexMismatchError, match=r"built with model .* rebuild it with `brief ingest --rebuild"):
        IndexReader(settings.index_dir, expect_model_id="intfloat/e5-small-v2", expect_dim=384)


@pytest.mark.parametrize("damage", ["truncate-vectors", "drop-manifest", "garble-database", "missing-segment"])
def test_damaged_index_is_detected(settings: Settings, embedder: Embedder, seeds_copy: Path, damage: str) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    (segment,) = (settings.index_dir / "segments").iterdir()
    if damage == "truncate-vectors":
        segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])
    elif damage == "drop-manifest":
        with sqlite3.connect(settings.index_dir / "brief.sqlite") as conn:
            conn.execute("DELETE FROM brief_state WHERE key = 'manifest'")
    elif damage == "garble-database":
        for extra in settings.index_dir.glob("brief.sqlite-*"):
            extra.unlink()
        (settings.index_dir / "brief.sqlite").write_bytes(b"this is not a database" * 100)
    else:
        segment.unlink()
    with pytest.raises(CorruptIndexError, match="rebuild"):
        IndexReader(settings.index_dir)
    # ... and a rebuild repairs it.
    report = ingest([seeds_copy], settings, embedder=embedder, rebuild=True)
    assert report.articles_total == 5
    IndexReader(settings.index_dir).close()


def test_updates_publish_new_versions_and_readers_move_on(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    old_reader = brief.reader()
    assert "Rotterdam" not in str(brief.ask("Where is the largest floating solar farm?").to_dict())
    (seeds_copy / "solar.txt").write_text(ARTICLE, encoding="utf-8")
    report = ingest([seeds_copy], settings, embedder=embedder)
    assert report.added == 1 and report.version == "v000002"
    assert old_reader.is_stale()
    # The old version still answers questions already holding it ...
    assert old_reader.store.counts()[0] == 5
    # ... and the next question is answered from the new one, without a restart.
    result = brief.ask("Where was the world's largest floating solar farm completed?")
    assert result.answer is not None and "Rotterdam" in result.answer.text
    (seeds_copy / "solar.txt").write_text(ARTICLE.replace("4,000", "5,000"), encoding="utf-8")
    assert ingest([seeds_copy], settings, embedder=embedder).version == "v000003"
    # Each update wrote only its own vectors; the first version's segment is untouched.
    segments = Manifest.read(settings.index_dir).segments
    assert [s["name"] for s in segments] == ["000001-0.faiss", "000002-0.faiss", "000003-0.faiss"]
    assert sorted(p.name for p in (settings.index_dir / "segments").iterdir()) == [s["name"] for s in segments]
    assert old_reader.store.counts()[0] == 5 and old_reader.version == "v000001"  # still its own snapshot


def test_one_writer_at_a_time(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    with (
        IndexWriter(settings.index_dir, settings.embed_model, embedder.model_id, 384),
        pytest.raises(LockTimeoutError, match="another ingest is updating"),
    ):
        ingest([seeds_copy], settings.with_(lock_timeout_s=0), embedder=embedder)


def test_a_damaged_new_version_does_not_stop_a_running_brief(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    assert brief.ask("Which town on the Iraq border was hit in October 2023?").answer is not None
    (seeds_copy / "solar.txt").write_text(ARTICLE, encoding="utf-8")
    ingest([seeds_copy], settings, embedder=embedder)
    newest = sorted((settings.index_dir / "segments").iterdir())[-1]
    newest.write_bytes(b"garbage")
    result = brief.ask("Which town on the Iraq border was hit in October 2023?")
    assert result.answer is not None and result.version == "v000001"  # still served by the good version


def test_small_updates_merge_into_bigger_segments_and_deletions_leave_search(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    towns = ["Rotterdam", "Gdansk", "Bilbao", "Tromso"]
    for n, town in enumerate(towns):  # one small update each: a segment each, until four of a size merge
        (seeds_copy / f"port-{n}.txt").write_text(
            f"Engineers in {town} opened a tidal power station on Monday, the harbour office said. "
            f"The station in {town} will supply {n + 2},000 homes.",
            encoding="utf-8",
        )
        ingest([seeds_copy], settings, embedder=embedder)
    segments = Manifest.read(settings.index_dir).segments
    assert len(segments) == 2 and segments[0]["name"] == "000001-0.faiss"  # the first segment was never rewritten
    for n, town in enumerate(towns):
        result = brief.ask(f"How many homes will the tidal power station in {town} supply?")
        assert result.answer is not None and f"{n + 2},000" in result.answer.text
    # A deleted article leaves search at once, before its segment is merged away.
    (seeds_copy / "port-1.txt").unlink()
    assert ingest([seeds_copy], settings, embedder=embedder, prune=True).removed == 1
    with sqlite3.connect(settings.index_dir / "brief.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM gone").fetchone()[0] > 0
    reader = IndexReader(settings.index_dir)
    passages = reader.passage_count()
    vector = embedder.encode_queries(["tidal power station in Gdansk"])[0]
    found = reader.passages([vid for vid, _ in reader.dense_search(vector, passages)])
    assert len(found) == passages and not any("Gdansk" in p.text for p in found.values())
    reader.close()
    assert "Gdansk" not in str(brief.ask("Where did engineers open a tidal power station?").to_dict())


def test_an_index_from_an_older_brief_is_converted_without_embedding_again(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    question = "Which town on the Iraq border was hit in October 2023?"
    before = Brief(settings, embedder).ask(question).to_dict()
    # Lay the same index out as format 3 did: a whole copy per version, CURRENT naming the live one.
    index = settings.index_dir
    manifest = Manifest.read(index).to_dict()
    (segment,) = manifest.pop("segments")
    old = index / "versions" / "v000001"
    old.mkdir(parents=True)
    with sqlite3.connect(index / "brief.sqlite") as live, sqlite3.connect(old / "brief.sqlite") as copy:
        live.backup(copy)
        copy.execute("DROP TABLE brief_state")
    (index / "segments" / segment["name"]).rename(old / "vectors.faiss")
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": 3}), encoding="utf-8")
    for path in [*index.glob("brief.sqlite*"), index / "segments"]:
        path.rmdir() if path.is_dir() else path.unlink()
    (index / "CURRENT").write_text("v000001\n", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"older Brief .* run `brief ingest --index .*` once to convert it"):
        IndexReader(index)
    report = ingest([seeds_copy], settings, embedder=embedder)
    assert (report.added, report.unchanged) == (0, 5)
    assert not (index / "CURRENT").exists() and not (index / "versions").exists()
    after = Brief(settings, embedder).ask(question).to_dict()
    assert after["answer"] == before["answer"] and after["passages"] == before["passages"]


def test_a_reader_whose_segments_were_merged_away_while_it_opened_takes_the_newer_version(
    settings: Settings, embedder: Embedder, seeds_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)

    def add(n: int) -> None:
        (seeds_copy / f"ferry-{n}.txt").write_text(f"The ferry line {n} to Texel resumed service on Friday.", encoding="utf-8")
        ingest([seeds_copy], settings, embedder=embedder)

    for n in range(3):
        add(n)
    assert len(Manifest.read(settings.index_dir).segments) == 4
    real_load = index_module.SegmentedVectors.load
    interleaved = []

    def load_after_a_merge(*args: object) -> object:
        if not interleaved:  # the reader has its snapshot; a writer now merges the small segments away
            interleaved.append(True)
            add(3)
        return real_load(*args)

    monkeypatch.setattr(index_module.SegmentedVectors, "load", load_after_a_merge)
    reader = IndexReader(settings.index_dir, embedder.model_id, embedder.dim)
    assert interleaved and reader.version == "v000005" and reader.store.counts()[0] == 9
    assert len(reader.manifest.segments) == 2
    reader.close()


def test_a_rebuild_that_fails_before_its_commit_leaves_the_live_version_whole(
    settings: Settings, embedder: Embedder, seeds_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    question = "Which town on the Iraq border was hit in October 2023?"
    before = Brief(settings, embedder).ask(question).to_dict()

    def fail(self: IndexWriter) -> None:
        raise OSError(errno.EIO, "simulated I/O error while publishing")  # a fake fault: the disk here is fine

    monkeypatch.setattr(IndexWriter, "_publish", fail)
    with pytest.raises(IndexWriteError, match="still serves version v000001"):
        ingest([seeds_copy], settings, embedder=embedder, rebuild=True)
    monkeypatch.undo()
    assert Brief(settings, embedder).ask(question).to_dict() == before  # its segments were not swept away


def test_an_ingest_stopped_before_the_first_commit_leaves_no_index(settings: Settings, seeds_copy: Path) -> None:
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    Store(settings.index_dir / "brief.sqlite").close()  # what a killed first ingest leaves: tables, no manifest
    with pytest.raises(NoIndexError, match=r"stopped before its first commit\); build it with `brief ingest"):
        IndexReader(settings.index_dir)
