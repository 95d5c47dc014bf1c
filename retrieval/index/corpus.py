"""The corpus seam: everything the question path reads from an index, and everything ingest
writes to one, as two small protocols.

Search, answering and timelines use only `Corpus`; ingest uses only `CorpusWriter`. The embedded
backend (`IndexReader`/`IndexWriter`: SQLite + FAISS) and the Postgres backend
(retrieval/index/postgres.py) implement both; retrieval/index/backend.py picks one from the settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from retrieval.index.store import Catalog, StoredPassage
from retrieval.read.articles import Article
from retrieval.read.passages import Passage

Removal = tuple[str, str, str | None, str]  # doc_id, path, title, removed_at: an article taken out with `brief rm`


class Corpus(Protocol):
    """A searchable, read-only corpus version."""

    @property
    def version(self) -> str:
        """The version name answers come from."""
        ...

    def passage_count(self) -> int:
        """Passages searched."""
        ...

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine) of the `k` nearest passages."""
        ...

    def keyword_search(self, terms: Sequence[str], k: int, df: Mapping[str, int] | None = None) -> list[tuple[int, float]]:
        """(passage id, BM25) of the `k` best keyword matches."""
        ...

    def cosines(self, vids: Sequence[int], vector: np.ndarray) -> dict[int, float]:
        """Cosine of each passage to a query vector."""
        ...

    def passages(self, vids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages with their article metadata."""
        ...

    def sentences(self, vids: Sequence[int]) -> dict[int, list[tuple[int, int, np.ndarray]]]:
        """Sentence spans and vectors of passages."""
        ...

    def document_frequencies(self, words: Sequence[str]) -> dict[str, int]:
        """How many passages contain each word."""
        ...

    def known_word(self, word: str) -> str | None:
        """The corpus word nearest in spelling to an unknown word, or None."""
        ...


class LiveCorpus(Corpus, Protocol):
    """A corpus a long-running process holds: it knows its model and when a newer version is live."""

    @property
    def model_id(self) -> str:
        """The embedding model the passages were embedded with."""
        ...

    def expect(self, model_id: str | None, dim: int | None = None, backend: str | None = None) -> None:
        """IndexMismatchError unless the passages were embedded with this model (dimension, kind of vectors)."""
        ...

    def is_stale(self) -> bool:
        """True when a newer version has gone live since this one was opened."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class NewArticle:
    """An article to add, with its passages, one vector per passage and per passage its sentence vectors."""

    article: Article
    passages: tuple[Passage, ...]
    vectors: np.ndarray  # (passages, dim), normalised
    sentence_vectors: tuple[np.ndarray, ...]  # per passage: (sentences, dim)


@dataclass(frozen=True)
class FileLink:
    """An article file, the fingerprint it was read at, and exactly the articles it holds."""

    path: str
    fingerprint: str
    doc_ids: tuple[str, ...]


@dataclass(frozen=True)
class Changes:
    """One batch of changes to a corpus. Applied in this order: removals remembered, articles added,
    metadata refreshed, files linked and dropped, articles deleted, then every article no file
    provides any more (an orphan) deleted with it."""

    added: tuple[NewArticle, ...] = ()
    updated: tuple[Article, ...] = ()  # indexed articles whose metadata may have changed
    files: tuple[FileLink, ...] = ()
    dropped_files: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()  # doc ids
    removals: tuple[Removal, ...] = ()  # `brief rm` removals to remember (copying a corpus)


@dataclass(frozen=True)
class Applied:
    """What a batch changed, and the corpus's size after it."""

    updated: frozenset[str]  # doc ids whose metadata changed
    deleted: tuple[str, ...]  # doc ids deleted, orphans included
    articles: int
    passages: int


class CorpusWriter(Protocol):
    """The one writer of a corpus (held under its lock): what ingest reads before writing, and `apply`."""

    def catalog(self) -> Catalog:
        """The corpus-in-view queries inside this writer's transaction (`brief rm`)."""
        ...

    def fingerprints(self) -> dict[str, str]:
        """Known file paths with the fingerprint they were ingested at."""
        ...

    def has_article(self, doc_id: str) -> bool:
        """True if the article text is already indexed."""
        ...

    def is_removed(self, doc_id: str) -> bool:
        """True if this article text was taken out with `brief rm`."""
        ...

    def apply(self, changes: Changes) -> Applied:
        """Apply a batch of changes; they go live together when the writer closes without error."""
        ...

    @property
    def published_version(self) -> str | None:
        """The version the changes went live as, once the writer has closed; None if nothing changed."""
        ...


class CopySource(Protocol):
    """A corpus read out whole, in passage order, to copy it to another backend (`brief migrate`)."""

    @property
    def model_id(self) -> str:
        """The embedding model the passages were embedded with."""
        ...

    def build_info(self) -> tuple[str, int, str]:
        """The model name (as BRIEF_EMBED_MODEL gave it), the vectors' dimension and the backend that computed them."""
        ...

    def copy_out(self, batch: int) -> Iterator[list[NewArticle]]:
        """Every article with its passages and vectors, about `batch` articles at a time, oldest vid first."""
        ...

    def file_links(self) -> list[FileLink]:
        """Every known file with its articles."""
        ...

    def removals(self) -> list[Removal]:
        """Articles taken out with `brief rm`."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


ArticleRow = tuple[str, str, int | None, str, str | None, str | None, str | None, str | None, str | None]
PassageRow = tuple[int, str, str, int, int, int, str]  # vid, id, doc_id, paragraph, start, end, text
ARTICLE_ROW = "doc_id, path, record, text, title, outlet, published, url, author"  # an ArticleRow's columns
PASSAGE_ROW = "vid, id, doc_id, paragraph, start_char, end_char, text"  # a PassageRow's columns


def assemble(
    articles: Sequence[ArticleRow],
    passages: Sequence[PassageRow],
    sentences: Mapping[int, list[tuple[int, int, np.ndarray]]],
    vectors: Mapping[int, np.ndarray],
) -> list[NewArticle]:
    """Stored rows back into articles to add (`copy_out` of both backends)."""
    by_doc: dict[str, list[PassageRow]] = {}
    for row in passages:
        by_doc.setdefault(row[2], []).append(row)
    out: list[NewArticle] = []
    for doc_id, path, record, text, title, outlet, published, url, author in articles:
        article = Article(doc_id, path, record, text, title, outlet, date.fromisoformat(published) if published else None,
                          url, author)  # fmt: skip
        rows = sorted(by_doc.get(doc_id, []))
        kept = tuple(
            Passage(pid, doc, paragraph, start, end, body, tuple((a, b) for a, b, _ in sentences.get(vid, [])))
            for vid, pid, doc, paragraph, start, end, body in rows
        )
        dim = next(iter(vectors.values())).shape[0] if vectors else 0
        out.append(NewArticle(
            article, kept,
            np.vstack([vectors[r[0]] for r in rows]) if rows else np.zeros((0, dim), np.float32),
            tuple(np.vstack([v for _, _, v in sentences.get(r[0], [])]) if sentences.get(r[0])
                  else np.zeros((0, dim), np.float32) for r in rows),
        ))  # fmt: skip
    return out
