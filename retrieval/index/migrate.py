"""`brief migrate`: copy the corpus from the embedded index to Postgres, or back."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from retrieval.errors import UsageError
from retrieval.index.backend import index_writer, open_writer
from retrieval.index.corpus import Changes, CopySource, CorpusWriter
from retrieval.index.folder import IndexReader
from retrieval.settings import Settings

BATCH = 500  # articles per batch read and written


@dataclass(frozen=True)
class Migrated:
    """What a migration copied, and where to."""

    articles: int
    passages: int
    target: str
    version: str | None
    seconds: float

    def summary(self) -> str:
        """One line for the terminal."""
        return (f"copied {self.articles} articles, {self.passages} passages to {self.target} "
                f"(version {self.version}) in {self.seconds:.1f} s")  # fmt: skip


def migrate(settings: Settings, to_url: str | None, from_url: str | None, say: Callable[[str], None]) -> Migrated:
    """Copy the embedded index at BRIEF_INDEX_DIR to the database `to_url`, or the database `from_url`
    into BRIEF_INDEX_DIR. The target is replaced whole; `brief rm` removals and file fingerprints go
    along, so the next ingest on the target changes only what changed on disk."""
    started = time.perf_counter()
    if bool(to_url) == bool(from_url):
        raise UsageError("name one direction: `brief migrate --to postgresql://...` or `--from postgresql://...`")
    for url in (to_url, from_url):
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise UsageError(f"--to/--from take a postgresql:// URL, got {url.partition(':')[0]}:...")
    source: CopySource
    if to_url:
        source = IndexReader(settings.index_dir)
    else:
        from retrieval.index.postgres import PostgresCorpus

        source = PostgresCorpus(from_url or "")
    model, dim, backend = source.build_info()
    writer: AbstractContextManager[CorpusWriter]
    if to_url:
        writer = open_writer(settings.with_(database_url=to_url), model, source.model_id, dim, True, say, backend)
        target = _redacted(to_url)
    else:
        writer = index_writer(settings, model, source.model_id, dim, True, say, backend)
        target = str(settings.index_dir)
    with writer as w:
        # Links first: an article no file provides would be deleted as an orphan on arrival.
        applied = w.apply(Changes(files=tuple(source.file_links()), removals=tuple(source.removals())))
        for batch in source.copy_out(BATCH):
            applied = w.apply(Changes(added=tuple(batch)))
            say(f"copied {applied.articles} articles, {applied.passages} passages ...")
    source.close()
    return Migrated(applied.articles, applied.passages, target, w.published_version, time.perf_counter() - started)


def _redacted(url: str) -> str:
    from retrieval.index.postgres import redact

    return redact(url)
