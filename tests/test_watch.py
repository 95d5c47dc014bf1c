"""Watching the articles folder: debounced updates, and new articles answered without a restart."""

from __future__ import annotations

from pathlib import Path

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.index.ingest import ingest
from retrieval.sources.updates import Updater
from retrieval.sources.watch import FolderWatcher
from tests.slack_fake import BOT_USER, wait_until
from tests.test_bot import mention, start

SOLAR = (
    "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday, the port "
    "authority said, adding that the panels would power 4,000 homes from next spring."
)


def test_a_burst_of_changes_is_one_update(tmp_path: Path) -> None:
    now = [0.0]
    calls: list[int] = []
    watcher = FolderWatcher(tmp_path, lambda: calls.append(1), debounce_s=2.0, clock=lambda: now[0])
    for i in range(500):  # a copy of 500 files, seen across several polls
        (tmp_path / f"a{i}.txt").write_text(f"Article {i} text.", encoding="utf-8")
        if i % 100 == 99:
            assert not watcher.step()
            now[0] += 0.5
    now[0] += 1.0
    assert not watcher.step()  # quiet for 1 s: not yet
    now[0] += 1.5
    assert watcher.step() and calls == [1]  # quiet for 2.5 s: one update
    now[0] += 10
    assert not watcher.step() and calls == [1]  # nothing new
    (tmp_path / "a1.txt").unlink()
    (tmp_path / ".hidden.txt").write_text("ignored", encoding="utf-8")
    assert not watcher.step()
    now[0] += 3
    assert watcher.step() and calls == [1, 1]


def test_dropped_article_is_answered_then_forgotten(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    settings = settings.with_(articles_dir=seeds_copy, watch_debounce_s=0.2)
    ingest([seeds_copy], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    updater = Updater(brief)
    updater.start()
    question = "Where was the world's largest floating solar farm completed?"
    try:
        assert "Rotterdam" not in (brief.ask(question).answer or "").__str__()
        (seeds_copy / "solar.txt").write_text(SOLAR, encoding="utf-8")
        wait_until(lambda: any("floating solar farm" in p.text for p in brief.ask(question).passages))
        assert "Rotterdam" in brief.ask(question).answer.text  # type: ignore[union-attr]
        for harness in start(settings, brief):  # and the running Slack app cites it, unrestarted
            harness.send.event(mention(f"<@{BOT_USER}> {question}"))
            (post,) = harness.fake.wait_for("chat.postMessage")
            assert "Rotterdam" in post["text"]
        (seeds_copy / "solar.txt").unlink()
        wait_until(lambda: not any("floating solar farm" in p.text for p in brief.ask(question).passages))
    finally:
        updater.stop()
    assert updater.watcher.updates >= 2
