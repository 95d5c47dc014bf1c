"""The corpus in view: list, show, export and remove indexed articles, without loading the model,
on the embedded index or on Postgres (the same Catalog queries, retrieval/index/store.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import BriefError, UsageError
from retrieval.index.backend import open_writer
from retrieval.index.corpus import Changes
from retrieval.index.folder import open_store
from retrieval.index.ingest import Log, display_path
from retrieval.index.store import MIN_ID_PREFIX, ArticleFilter, Catalog, Gap, StoredArticle
from retrieval.settings import Settings

EXPORT_KEYS = ("doc_id", "title", "outlet", "published", "url", "author", "path", "record", "text")


class NotFoundError(BriefError):
    """No indexed article has the id or path asked for."""


@dataclass(frozen=True)
class Shown:
    """An article with its passages: (paragraph number, text)."""

    article: StoredArticle
    paragraphs: list[tuple[int, str]]

    def to_dict(self) -> dict[str, Any]:
        """The `brief show --json` object."""
        return {**article_dict(self.article), "passages": [{"paragraph": n, "text": t} for n, t in self.paragraphs]}


@dataclass(frozen=True)
class RemoveReport:
    """What `brief rm` took out, and the version it published."""

    removed: list[StoredArticle]
    articles_total: int
    passages_total: int
    version: str | None
    on_disk: list[str] = field(default_factory=list)  # removed articles' files still in place

    def summary(self) -> str:
        """One line per article taken out, the files left in place, and the new size."""
        lines = [f"removed: {a.title or '(untitled)'} ({a.published or 'no date'}) {where(a)}" for a in self.removed]
        lines += [
            f"  its file is still in the folder: {path}; the removal is remembered, so updates do not add it back "
            "(an edited text comes back as a new article; brief rm --restore ID undoes the removal)"
            for path in self.on_disk
        ]
        lines.append(
            f"index now holds {self.articles_total} articles, {self.passages_total} passages (version {self.version})"
        )
        return "\n".join(lines)


def where(article: StoredArticle) -> str:
    """An article's file as printed: relative to the working directory, `#record` for a record of a feed file."""
    return display_path(article.path) + (f"#{article.record}" if article.record else "")


def article_dict(article: StoredArticle, text: bool = True) -> dict[str, Any]:
    """An article as JSON-ready data, in the `brief export` key order."""
    data = {key: getattr(article, key) for key in EXPORT_KEYS}
    data["path"] = display_path(article.path)
    if not text or data["text"] is None:
        del data["text"]
    return data


@contextmanager
def reading(settings: Settings) -> Iterator[tuple[tuple[str, str, int, str], Catalog]]:
    """The corpus's build (model, model id, dimension, backend) and its Catalog, read-only: the
    embedded index's database, or Postgres when BRIEF_DATABASE_URL is set."""
    if settings.database_url:
        from retrieval.index.postgres import catalog  # psycopg is needed only when Postgres is used

        with catalog(settings.database_url) as found:
            yield found
    else:
        with open_store(settings.index_dir) as (m, store):
            yield (m.model, m.model_id, m.dim, m.backend), store


def build_of(settings: Settings) -> tuple[str, str, int, str]:
    """The model, model id, dimension and backend the corpus was built with (what its writer checks)."""
    with reading(settings) as (build, _):
        return build


def lookup(store: Catalog, target: str) -> list[StoredArticle]:
    """The articles `target` names: an article id (or a unique prefix of 6+ characters), or an
    indexed file's path (`PATH#RECORD` for one record of a feed file). NotFoundError if none."""
    path, _, record = target.partition("#")
    articles = store.articles_of_file(str(Path(path).expanduser().resolve())) if path.strip() else []
    if articles and record.isdigit():
        articles = [a for a in articles if a.record == int(record)]
    if articles:
        return articles
    by_id = store.find_articles(target)
    if len(by_id) > 1:
        ids = ", ".join(a.doc_id for a in by_id[:5])
        raise UsageError(f"{target!r} is the start of {len(by_id)} article ids ({ids}); give more of the id")
    if by_id:
        return by_id
    short = len(target.strip()) < MIN_ID_PREFIX and not Path(path).exists()
    hint = f"an id needs at least {MIN_ID_PREFIX} characters; " if short else ""
    raise NotFoundError(f"no indexed article has the id or path {target!r}; {hint}see them with `brief list`")


@dataclass(frozen=True)
class Restored:
    """An article whose removal `brief rm --restore` undid."""

    doc_id: str
    path: str
    title: str | None

    def line(self) -> str:
        """What `brief rm --restore` prints for it."""
        return f"restored: {self.title or '(untitled)'} {display_path(self.path)} ({self.doc_id})"


def list_articles(settings: Settings, kept: ArticleFilter) -> list[StoredArticle]:
    """Indexed articles newest first, filtered (see ArticleFilter)."""
    if kept.since and kept.until and kept.since > kept.until:
        raise UsageError(f"--since {kept.since} is after --until {kept.until}; swap them")
    with reading(settings) as (_, store):
        return store.list_articles(kept)


def show(settings: Settings, target: str) -> list[Shown]:
    """The articles `target` names (an id, an id prefix, or a file), each with its passages."""
    with reading(settings) as (_, store):
        return [Shown(a, store.article_paragraphs(a.doc_id)) for a in lookup(store, target)]


def export(settings: Settings, text: bool = True) -> Iterator[dict[str, Any]]:
    """Every indexed article as JSON-ready data, oldest first."""
    with reading(settings) as (_, store):
        for article in store.iter_articles(with_text=text):
            yield article_dict(article, text)


def gaps(settings: Settings) -> list[Gap]:
    """Indexed articles lacking a title or a publication date."""
    with reading(settings) as (_, store):
        return store.gaps()


def remove(targets: Sequence[str], settings: Settings, log: Log | None = None) -> RemoveReport:
    """Take articles out of the corpus: a new version published through its writer and lock, as
    an ingest does; the removal is remembered so their files do not bring them back."""
    model, mid, dim, backend = build_of(settings)
    with open_writer(settings, model, mid, dim, False, log or (lambda _msg: None), backend) as writer:
        store = writer.catalog()
        found: dict[str, StoredArticle] = {}
        for target in targets:  # all are looked up before anything changes: one unknown id, no change
            found.update((a.doc_id, a) for a in lookup(store, target))
        doc_ids = list(found)
        store.forget_articles(doc_ids)
        applied = writer.apply(Changes(deleted=tuple(doc_ids)))
        articles_total, passages_total = applied.articles, applied.passages
    removed = list(found.values())
    on_disk = list(dict.fromkeys(display_path(a.path) for a in removed if Path(a.path).exists()))
    return RemoveReport(removed, articles_total, passages_total, writer.published_version, on_disk)


def restore(targets: Sequence[str], settings: Settings, log: Log | None = None) -> list[Restored]:
    """Undo `brief rm` for removed articles named by id (or a 6+ character prefix) or file path: the
    next ingest (or the watcher's next update) reads their files again and adds them back."""
    model, mid, dim, backend = build_of(settings)
    with open_writer(settings, model, mid, dim, False, log or (lambda _m: None), backend) as writer:
        store = writer.catalog()
        found: dict[str, Restored] = {}
        for target in targets:
            path = target.partition("#")[0]
            rows = store.removals(str(Path(path).expanduser().resolve())) if path.strip() else []
            rows = rows or store.removals(target)
            if not rows:
                raise NotFoundError(f"no removed article has the id or path {target!r}; removed ones are listed by "
                                    "`brief rm --restore` without arguments")  # fmt: skip
            found.update((r[0], Restored(r[0], r[1], r[2])) for r in rows)
        store.restore(list(found))
        writer.changed = bool(found)
    return list(found.values())


def removed(settings: Settings) -> list[Restored]:
    """Every article taken out with `brief rm` (and not restored)."""
    with reading(settings) as (_, store):
        try:
            rows = store.removals()
        except sqlite3.OperationalError:  # an index from before `brief rm` has no removals table
            return []
    return [Restored(r[0], r[1], r[2]) for r in rows]
