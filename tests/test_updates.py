"""Updates while answering: concurrent questions, announcements, and kill -9 at any moment."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from bot import announcer, web_client
from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.index.folder import IndexReader, Manifest
from retrieval.index.ingest import ingest
from retrieval.sources.updates import Updater
from tests.conftest import ingest_killed_at
from tests.slack_fake import FakeSlack

NEW = (
    "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday, the port "
    "authority said, adding that the panels would power 4,000 homes from next spring."
)


def test_questions_during_updates_all_get_whole_answers(
    settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    brief.ask("warm up")
    passages_in: dict[str, int] = {}
    results = []
    errors: list[BaseException] = []
    done = threading.Event()

    def asker() -> None:
        while not done.is_set():
            try:
                results.append(brief.ask("When did Biden first strike Syria?"))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=asker) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            (seeds_copy / f"new{i}.txt").write_text(NEW.replace("4,000", f"{4000 + i}"), encoding="utf-8")
            report = ingest([seeds_copy], settings, embedder=embedder)
            passages_in[report.version] = report.passages_total  # type: ignore[index]
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors
    versions = {r.version for r in results}
    assert len(results) >= 3 and len(versions) >= 2  # answers came from several versions
    for r in results:
        assert r.answer is not None and r.answer.date == "2021-02-26" and len(r.passages) == 5
        if r.version in passages_in:
            assert r.searched == passages_in[r.version]  # one version per answer, never a mix


def test_new_articles_are_announced(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    with FakeSlack() as fake:
        settings = settings.with_(
            articles_dir=seeds_copy, announce_channel="C0NEWS", slack_bot_token="xoxb-test",
            slack_api_url=f"{fake.url}/api/",
        )  # fmt: skip
        updater = Updater(Brief(settings, embedder), announcer(settings, web_client(settings)))
        updater.update()
        (announced,) = fake.wait_for("chat.postMessage")
        assert announced["channel"] == "C0NEWS" and "New in the corpus (5)" in announced["blocks"][0]["text"]["text"]
        assert "Middle East Eye · US launches retaliatory strikes in Iraq, Syria · 2024-02-02" in json.dumps(
            announced["blocks"], ensure_ascii=False
        )
        updater.update()  # nothing new: no post
        assert len(fake.of("chat.postMessage")) == 1


@pytest.mark.parametrize("step", ["embedded", "written", "committed"])
def test_kill_9_at_any_step_leaves_a_working_index(
    settings: Settings, embedder: Embedder, seeds_copy: Path, step: str
) -> None:
    ingest([seeds_copy], settings, embedder=embedder)
    (seeds_copy / "solar.txt").write_text(NEW, encoding="utf-8")
    ingest_killed_at(step, seeds_copy, {**os.environ, "BRIEF_INDEX_DIR": str(settings.index_dir), "BRIEF_PROGRESS": "0"})
    # Killed before its commit, the update never happened; killed after it, it is whole.
    reader = IndexReader(settings.index_dir, embedder.model_id, embedder.dim)
    assert (reader.version, reader.store.counts()[0]) == (("v000002", 6) if step == "committed" else ("v000001", 5))
    reader.close()
    brief = Brief(settings, embedder)
    assert brief.ask("When did Biden first strike Syria?").answer is not None
    # ... and the next ingest completes (or finds nothing left to do) with the new article in.
    report = ingest([seeds_copy], settings, embedder=embedder)
    assert report.articles_total == 6 and report.added == (0 if step == "committed" else 1)
    result = brief.ask("Where was the world's largest floating solar farm completed?")
    assert result.answer is not None and "Rotterdam" in result.answer.text
    # A segment file the killed writer wrote but never published is gone.
    listed = [s["name"] for s in Manifest.read(settings.index_dir).segments]
    assert sorted(p.name for p in (settings.index_dir / "segments").iterdir()) == sorted(listed)
