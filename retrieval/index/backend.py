"""Which corpus backend serves and takes changes: the embedded index folder (SQLite + FAISS, the
default) or Postgres with pgvector when BRIEF_DATABASE_URL is set."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from retrieval.index.corpus import CorpusWriter, LiveCorpus
from retrieval.index.folder import IndexReader, IndexWriter, checkpoint_hook, live_version
from retrieval.settings import Settings

Log = Callable[[str], None]


def open_corpus(
    settings: Settings, model_id: str | None = None, dim: int | None = None, backend: str | None = None
) -> LiveCorpus:
    """The live corpus for questions; IndexMismatchError when it was built with another model (or
    another kind of vectors: `backend`). Without a model named nothing is checked yet (`expect` later)."""
    if settings.database_url:
        from retrieval.index.postgres import PostgresCorpus  # psycopg is needed only when Postgres is used

        return PostgresCorpus(settings.database_url, model_id, dim, exact_limit=settings.exact_limit, expect_backend=backend)
    return IndexReader(settings.index_dir, model_id, dim, backend)


def check_corpus(settings: Settings) -> None:
    """Raise NoIndexError when there is no corpus to answer from (cheap: no model, no vectors)."""
    if settings.database_url:
        from retrieval.index.postgres import check_database

        check_database(settings.database_url)
    else:
        live_version(settings.index_dir)


def open_writer(
    settings: Settings, model: str, mid: str, dim: int | None, rebuild: bool, say: Log, backend: str | None = None
) -> AbstractContextManager[CorpusWriter]:
    """The corpus's one writer (it holds the lock until closed); its changes go live together on close.

    `backend` is what computes the vectors written (default: BRIEF_EMBED_BACKEND); it is recorded."""
    if settings.database_url:
        from retrieval.index.postgres import PostgresWriter

        return PostgresWriter(
            settings.database_url, model, mid, dim, rebuild=rebuild, lock_timeout_s=settings.lock_timeout_s,
            on_wait=say, checkpoint=checkpoint_hook(settings.crash_checkpoint),
            backend=backend or settings.embed_backend, exact_limit=settings.exact_limit,
        )  # fmt: skip
    return index_writer(settings, model, mid, dim, rebuild, say, backend)


def index_writer(
    settings: Settings, model: str, mid: str, dim: int | None, rebuild: bool, say: Log, backend: str | None = None
) -> IndexWriter:
    """The embedded index's writer (and its lock) every change to the index folder goes through.

    `backend` as for `open_writer`; `brief rm` passes the index's own, since it embeds nothing."""
    return IndexWriter(
        settings.index_dir, model, mid, dim, rebuild=rebuild,
        lock_timeout_s=settings.lock_timeout_s, on_wait=say,
        exact_limit=settings.exact_limit, checkpoint=checkpoint_hook(settings.crash_checkpoint),
        backend=backend or settings.embed_backend,
    )  # fmt: skip
