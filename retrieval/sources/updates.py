"""Keeping the index fresh while Brief answers: the watched folder, the feeds, and reindex."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from retrieval.brief import Brief
from retrieval.index.ingest import IngestReport
from retrieval.sources.feeds import STATE_FILE, FetchReport, fetch_feeds
from retrieval.sources.fetcher import FetchPolicy
from retrieval.sources.watch import FolderWatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """One update: what the feeds brought (if polled) and what the ingest did."""

    fetched: FetchReport | None
    ingested: IngestReport

    def summary(self) -> str:
        """Human lines for logs and Slack."""
        return (
            "\n".join([self.fetched.summary()] if self.fetched else [])
            + ("\n" if self.fetched else "")
            + self.ingested.summary()
        )


class Updater:
    """Runs updates one at a time: on folder changes, on the feed schedule, and on demand."""

    def __init__(self, brief: Brief, on_update: Callable[[Update], None] | None = None) -> None:
        self.brief = brief
        self.settings = brief.settings
        self.on_update = on_update or (lambda _u: None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.watcher = FolderWatcher(
            self.settings.articles_dir, self._changed, debounce_s=self.settings.watch_debounce_s,
            poll_s=min(1.0, self.settings.watch_debounce_s / 2), follow_symlinks=self.settings.follow_symlinks,
        )  # fmt: skip

    def update(self, fetch: bool = False) -> Update:
        """Fetch the feeds (if asked and configured), then ingest the articles folder with prune."""
        with self._lock:
            fetched = None
            if fetch and self.settings.feeds:
                state = self.settings.index_dir / STATE_FILE
                policy = FetchPolicy.from_settings(self.settings)
                fetched = fetch_feeds(list(self.settings.feeds), self.settings.articles_dir, state, policy)
            report = self.brief.ingest([self.settings.articles_dir], prune=True)
            update = Update(fetched, report)
        log.info("index update: %s", update.summary().replace("\n", "; "))
        if report.new_articles or report.removed or report.updated:
            self.on_update(update)
        return update

    def _changed(self) -> None:
        self.update()

    def _feed_loop(self) -> None:
        while not self._stop.wait(self.settings.feed_interval_s):
            try:
                self.update(fetch=True)
            except Exception:
                log.exception("feed update failed")

    def start(self) -> None:
        """Start watching (if enabled) and polling feeds (if configured) in the background."""
        if self.settings.watch:
            self._spawn(lambda: self.watcher.run(self._stop), "brief-watch")
        if self.settings.feeds:
            self._spawn(self._feed_loop, "brief-feeds")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop the background threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
