"""SQLite store: files, articles, passages, sentence vectors and the FTS5 keyword index."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.read.articles import Article
from retrieval.read.dates import DateMention, resolve
from retrieval.read.passages import Passage
from retrieval.read.terms import WORD

SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, ingested_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_articles(
    path TEXT NOT NULL, doc_id TEXT NOT NULL, PRIMARY KEY(path, doc_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS file_articles_doc ON file_articles(doc_id);
CREATE TABLE IF NOT EXISTS articles(
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, record INTEGER, title TEXT, outlet TEXT,
    published TEXT, url TEXT, author TEXT, text TEXT NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages(
    vid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL,
    paragraph INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
    text TEXT NOT NULL, published TEXT, event_dates TEXT);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE TABLE IF NOT EXISTS passage_dates(
    vid INTEGER NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, precision TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passage_dates_first ON passage_dates(first);
CREATE INDEX IF NOT EXISTS passage_dates_vid ON passage_dates(vid);
CREATE TABLE IF NOT EXISTS sentences(
    vid INTEGER NOT NULL, n INTEGER NOT NULL, start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY(vid, n)) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    text, context, tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, 'row');
CREATE TABLE IF NOT EXISTS removed(
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT, removed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS brief_state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gone(vid INTEGER PRIMARY KEY);
"""
CONTENT = ("files", "file_articles", "articles", "passages", "passage_dates", "sentences", "passages_fts", "gone")
# The query's words go through the index's own tokenizer (Porter stems) to look up their
# document frequencies in the vocabulary table; temp tables work on read-only connections.
TOKENIZER = """
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_tokens USING fts5(x, tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_vocab USING fts5vocab(temp, query_tokens, 'instance');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.row_tokens USING fts5(text, context, tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.row_vocab USING fts5vocab(temp, row_tokens, 'instance');
"""
COMMON_SHARE = 0.1  # a query word in more passages than this share adds little to BM25 but costs much ...
COMMON_MIN = 20_000  # ... and in more passages than this
MAX_QUERY_TERMS = 8
READ_MMAP_BYTES = 1 << 40  # address space only: pages come from the OS file cache, shared between readers
TYPO_MIN_DF = 2  # a spelling correction goes to a word at least this many passages use
CONTEXT_WEIGHT = 0.3  # BM25 weight of the headline-and-month column relative to the passage text


@dataclass(frozen=True)
class StoredPassage:
    """A passage as read back for answering: its text, place and article metadata."""

    vid: int
    id: str
    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str
    title: str | None
    outlet: str | None
    published: str | None
    url: str | None
    path: str
    record: int | None
    event_dates: str | None = None  # JSON list of DateMention dicts, passage-relative

    def dates(self) -> list[DateMention]:
        """The date expressions in the passage, resolved against the publication date."""
        return [DateMention.from_dict(d) for d in json.loads(self.event_dates or "[]")]


@dataclass(frozen=True)
class StoredArticle:
    """An indexed article's metadata (and its text, when asked for): what `brief list/show/export` print."""

    doc_id: str
    title: str | None
    outlet: str | None
    published: str | None
    url: str | None
    author: str | None
    path: str
    record: int | None
    text: str | None = None


@dataclass(frozen=True)
class ArticleFilter:
    """Which articles `brief list` shows: an outlet (any case), publication dates from `since` to
    `until` (inclusive), a substring of the title or text (any case), at most `limit` of them."""

    outlet: str | None = None
    since: date | None = None
    until: date | None = None
    text: str | None = None
    limit: int | None = None


ARTICLE_COLUMNS = "doc_id, title, outlet, published, url, author, path, record"
MIN_ID_PREFIX = 6  # an id prefix shorter than this matches too much to be meant


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Gap:
    """An indexed article without a title or a publication date."""

    path: str
    record: int | None
    title: str | None
    published: str | None


class Catalog:
    """The corpus in view (`brief list/show/export/rm`, `stats --missing`): queries in the SQL both
    SQLite and Postgres read, over `self.conn` (`?` placeholders; retrieval/index/postgres.py adapts them).
    The engines sort NULLs differently (SQLite first, Postgres last), so every nullable ORDER BY key
    says where its NULLs go (`x IS NOT NULL, x`), and free text sorts byte by byte (COLLATE BINARY,
    Postgres's "C", whatever the database's locale): both backends list alike."""

    conn: Any

    def list_articles(self, kept: ArticleFilter) -> list[StoredArticle]:
        """Articles newest first (undated last), kept to what the filter asks."""
        outlet, since, until, text, limit = kept.outlet, kept.since, kept.until, kept.text, kept.limit
        where: list[str] = []
        args: list[str | int] = []
        if outlet:
            where.append("lower(outlet) = lower(?)")
            args.append(outlet)
        if since:
            where.append("published >= ?")
            args.append(since.isoformat())
        if until:
            where.append("published <= ?")
            args.append(until.isoformat())
        if text:
            # instr on lower(): LIKE would read % and _ in the user's text as wildcards.
            where.append("(instr(lower(coalesce(title, '')), lower(?)) > 0 OR instr(lower(text), lower(?)) > 0)")
            args += [text, text]
        sql = f"SELECT {ARTICLE_COLUMNS} FROM articles"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        sql += " ORDER BY published IS NULL, published DESC, title IS NOT NULL, title COLLATE BINARY, doc_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [StoredArticle(*row) for row in self.conn.execute(sql, args)]

    def find_articles(self, key: str) -> list[StoredArticle]:
        """Articles whose id is `key` or starts with it (at least MIN_ID_PREFIX characters)."""
        key = key.strip().lower()
        if len(key) < MIN_ID_PREFIX or not key.isalnum():
            return []
        rows = self.conn.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE substr(doc_id, 1, ?) = ? ORDER BY doc_id LIMIT 20",
            (len(key), key),
        )
        return [StoredArticle(*row) for row in rows]

    def articles_of_file(self, path: str) -> list[StoredArticle]:
        """The articles an indexed file holds (by its absolute path), in record order."""
        rows = self.conn.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE path = ? OR doc_id IN "
            "(SELECT doc_id FROM file_articles WHERE path = ?) ORDER BY record IS NOT NULL, record, doc_id",
            (path, path),
        )
        return [StoredArticle(*row) for row in rows]

    def article_paragraphs(self, doc_id: str) -> list[tuple[int, str]]:
        """(paragraph number, text) of an article's passages, in order."""
        rows = self.conn.execute("SELECT paragraph, text FROM passages WHERE doc_id = ? ORDER BY vid", (doc_id,))
        return [(int(n), text) for n, text in rows]

    def iter_articles(self, with_text: bool = True) -> Iterator[StoredArticle]:
        """Every article, oldest first (undated first), with its text unless `with_text` is False."""
        columns = ARTICLE_COLUMNS + (", text" if with_text else "")
        rows = self.conn.execute(f"SELECT {columns} FROM articles ORDER BY published IS NOT NULL, published, doc_id")
        for row in rows:
            yield StoredArticle(*row)

    def removals(self, key: str | None = None) -> list[tuple[str, str, str | None, str]]:
        """(doc_id, path, title, removed_at) of removed articles: all, or those whose id starts with
        `key` (6+ characters) or whose file is `key` (an absolute path)."""
        sql = "SELECT doc_id, path, title, removed_at FROM removed"
        if key is None:
            return list(self.conn.execute(sql + " ORDER BY removed_at, doc_id"))
        prefix = key.strip().lower()
        if len(prefix) < MIN_ID_PREFIX:  # too short to mean an id: a path only
            return list(self.conn.execute(sql + " WHERE path = ? ORDER BY doc_id", (key,)))
        rows = self.conn.execute(sql + " WHERE path = ? OR substr(doc_id, 1, ?) = ? ORDER BY doc_id",
                                 (key, len(prefix), prefix))  # fmt: skip
        return list(rows)

    def restore(self, doc_ids: Sequence[str]) -> None:
        """Forget removals, and make the next ingest read their files again."""
        for doc_id in doc_ids:
            self.conn.execute(
                "UPDATE files SET fingerprint = '' WHERE path = (SELECT path FROM removed WHERE doc_id = ?)", (doc_id,)
            )
            self.conn.execute("DELETE FROM removed WHERE doc_id = ?", (doc_id,))

    def forget_articles(self, doc_ids: Sequence[str]) -> None:
        """Unlink articles from their files and remember them as removed, so that ingesting their
        files again does not bring the same text back (an edited text is a new article)."""
        for doc_id in doc_ids:
            row = self.conn.execute("SELECT path, title FROM articles WHERE doc_id = ?", (doc_id,)).fetchone()
            if row is not None:
                self.conn.execute(
                    "INSERT INTO removed(doc_id, path, title, removed_at) VALUES (?, ?, ?, ?) ON CONFLICT (doc_id) "
                    "DO UPDATE SET path = excluded.path, title = excluded.title, removed_at = excluded.removed_at",
                    (doc_id, row[0], row[1], now_iso()),
                )
            self.conn.execute("DELETE FROM file_articles WHERE doc_id = ?", (doc_id,))

    def gaps(self) -> list[Gap]:
        """The articles lacking a title or a date."""
        return [Gap(path, record, title or None, published) for path, record, title, published in self.conn.execute(
            "SELECT path, record, title, published FROM articles "
            "WHERE coalesce(trim(title), '') = '' OR published IS NULL ORDER BY path COLLATE BINARY, record IS NOT NULL, record"
        )]


class Store(Catalog):
    """One SQLite database of an index version."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self._passages: int | None = None
        self._vocabulary: dict[str, int] | None = None
        self._tokenizer_ready = False
        self._unlinked: set[str] = set()  # articles added or unlinked from a file since orphans were last sought
        self.added_articles = self.deleted_articles = self.deleted_passages = 0  # through this connection
        if readonly:
            if not Path(path).is_file():
                raise sqlite3.DatabaseError(f"{path} is missing")
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            # A question reads a few hundred scattered pages: mapped, they cost no read() call each.
            self.conn.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
            # One read transaction for the connection's life: a snapshot of one version, whatever
            # a writer commits meanwhile (WAL keeps the pages it reads).
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        else:
            self.conn = sqlite3.connect(path, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def commit(self) -> None:
        """Commit the open transaction."""
        self.conn.commit()

    def check(self) -> None:
        """Raise sqlite3.DatabaseError if the database is unreadable."""
        self.conn.execute("SELECT count(*) FROM passages").fetchone()

    # --- the index's own state: manifest, deleted vector ids -----------------------------------
    def state(self) -> dict[str, str]:
        """The index's state (the manifest, the version name); empty for a new database."""
        try:
            return dict(self.conn.execute("SELECT key, value FROM brief_state"))
        except sqlite3.OperationalError:  # no such table: not an index of this format
            return {}

    def set_state(self, **values: str) -> None:
        """Replace these state values (in the open transaction)."""
        self.conn.executemany("INSERT OR REPLACE INTO brief_state(key, value) VALUES (?, ?)", list(values.items()))

    def gone(self) -> frozenset[int]:
        """Passage ids deleted whose vectors are still in a segment."""
        return frozenset(r[0] for r in self.conn.execute("SELECT vid FROM gone"))

    def set_gone(self, vids: Iterable[int]) -> None:
        """Replace the deleted ids (in the open transaction)."""
        self.conn.execute("DELETE FROM gone")
        self.conn.executemany("INSERT INTO gone(vid) VALUES (?)", [(int(v),) for v in sorted(vids)])

    def max_vid(self) -> int:
        """The largest passage id in use (0 for none)."""
        return int(self.conn.execute("SELECT coalesce(max(vid), 0) FROM passages").fetchone()[0])

    def clear(self) -> None:
        """Delete every article, passage and file record (a rebuild; removals stay)."""
        for table in CONTENT:
            self.conn.execute(f"DELETE FROM {table}")

    # --- files -----------------------------------------------------------------------------
    def fingerprints(self) -> dict[str, str]:
        """Known file paths with the fingerprint they were ingested at."""
        return dict(self.conn.execute("SELECT path, fingerprint FROM files"))

    def set_file(self, path: str, fingerprint: str, doc_ids: Iterable[str]) -> None:
        """Record that `path` (at `fingerprint`) holds exactly these articles."""
        self.conn.execute(
            "INSERT OR REPLACE INTO files(path, fingerprint, ingested_at) VALUES (?, ?, ?)",
            (path, fingerprint, now_iso()),
        )
        self._unlinked.update(r[0] for r in self.conn.execute("SELECT doc_id FROM file_articles WHERE path = ?", (path,)))
        self.conn.execute("DELETE FROM file_articles WHERE path = ?", (path,))
        self.conn.executemany(
            "INSERT OR IGNORE INTO file_articles(path, doc_id) VALUES (?, ?)", [(path, d) for d in doc_ids]
        )

    def remove_file(self, path: str) -> None:
        """Forget a file and its links to articles."""
        self.conn.execute("DELETE FROM files WHERE path = ?", (path,))
        self._unlinked.update(r[0] for r in self.conn.execute("SELECT doc_id FROM file_articles WHERE path = ?", (path,)))
        self.conn.execute("DELETE FROM file_articles WHERE path = ?", (path,))

    def orphan_articles(self) -> list[str]:
        """Articles no longer provided by any file: of those added or unlinked through this
        connection (an update's cost must not grow with the index)."""
        candidates, self._unlinked = sorted(self._unlinked), set()
        if not candidates:
            return []
        marks = ",".join("?" * len(candidates))
        rows = self.conn.execute(
            f"SELECT doc_id FROM articles WHERE doc_id IN ({marks}) AND doc_id NOT IN (SELECT doc_id FROM file_articles"
            f" WHERE doc_id IN ({marks}))", [*candidates, *candidates],
        )  # fmt: skip
        return [r[0] for r in rows]

    def forget_articles(self, doc_ids: Sequence[str]) -> None:
        """As Catalog's, and the unlinked articles become orphans this batch deletes."""
        super().forget_articles(doc_ids)
        self._unlinked.update(doc_ids)

    def remember_removals(self, rows: Iterable[tuple[str, str, str | None, str]]) -> None:
        """Carry removals over into a rebuilt index."""
        self.conn.executemany("INSERT OR REPLACE INTO removed(doc_id, path, title, removed_at) VALUES (?, ?, ?, ?)",
                              rows)  # fmt: skip

    def is_removed(self, doc_id: str) -> bool:
        """True if this article text was taken out with `brief rm`."""
        return self.conn.execute("SELECT 1 FROM removed WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    # --- articles and passages ----------------------------------------------------------------
    def has_article(self, doc_id: str) -> bool:
        """True if the article text is already indexed."""
        return self.conn.execute("SELECT 1 FROM articles WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def update_metadata(self, article: Article) -> bool:
        """Refresh an indexed article's metadata; True if anything changed."""
        row = self.conn.execute(
            "SELECT title, outlet, published, url, author FROM articles WHERE doc_id = ?", (article.doc_id,)
        ).fetchone()
        new = (article.title, article.outlet, _iso(article.published), article.url, article.author)
        if row is None or tuple(row) == new:
            return False
        self.conn.execute(
            "UPDATE articles SET title=?, outlet=?, published=?, url=?, author=? WHERE doc_id=?",
            (*new, article.doc_id),
        )
        rows = self.conn.execute("SELECT vid, text FROM passages WHERE doc_id=?", (article.doc_id,)).fetchall()
        for vid, text in rows:
            # Relative dates ("on Friday") depend on the publication date: resolve them again.
            mentions, stored = event_dates(text, article.published)
            self.conn.execute("UPDATE passages SET published=?, event_dates=? WHERE vid=?", (new[2], stored, vid))
            self.conn.execute("DELETE FROM passage_dates WHERE vid=?", (vid,))
            self.conn.executemany(
                "INSERT INTO passage_dates(vid, first, last, precision) VALUES (?, ?, ?, ?)",
                [(vid, m.value.isoformat(), m.last.isoformat(), m.precision) for m in mentions],
            )
            self.conn.execute("UPDATE passages_fts SET context=? WHERE rowid=?", (context(article), vid))
        return True

    def add_article(
        self, article: Article, passages: Sequence[Passage], sentence_vectors: Sequence[np.ndarray],
        first_vid: int | None = None,
    ) -> list[int]:
        """Insert an article with its passages (ids from `first_vid` on, or SQLite's next row ids);
        returns the passages' vector ids in order."""
        self._unlinked.add(article.doc_id)
        self.added_articles += 1
        self.conn.execute(
            "INSERT INTO articles(doc_id, path, record, title, outlet, published, url, author, text, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.doc_id, article.path, article.record, article.title, article.outlet,
                _iso(article.published), article.url, article.author, article.text, now_iso(),
            ),
        )  # fmt: skip
        vids: list[int] = []
        for n, (passage, sent_vecs) in enumerate(zip(passages, sentence_vectors, strict=True)):
            mentions, stored = event_dates(passage.text, article.published)
            cur = self.conn.execute(
                "INSERT INTO passages(vid, id, doc_id, paragraph, start_char, end_char, text, published, event_dates)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (None if first_vid is None else first_vid + n, passage.id, passage.doc_id, passage.paragraph,
                 passage.start, passage.end, passage.text, _iso(article.published), stored),
            )  # fmt: skip
            vid = int(cur.lastrowid or 0)
            vids.append(vid)
            self.conn.executemany(
                "INSERT INTO passage_dates(vid, first, last, precision) VALUES (?, ?, ?, ?)",
                [(vid, m.value.isoformat(), m.last.isoformat(), m.precision) for m in mentions],
            )
            self.conn.execute(
                "INSERT INTO passages_fts(rowid, text, context) VALUES (?, ?, ?)", (vid, passage.text, context(article))
            )
            self.conn.executemany(
                "INSERT INTO sentences(vid, n, start_char, end_char, vector) VALUES (?, ?, ?, ?, ?)",
                [
                    (vid, n, a, b, vec.astype(np.float16).tobytes())
                    for n, ((a, b), vec) in enumerate(zip(passage.sentences, sent_vecs, strict=True))
                ],
            )
        return vids

    def delete_articles(self, doc_ids: Sequence[str]) -> list[int]:
        """Delete articles with their passages; returns the vector ids that went with them (and
        counts in `deleted_articles` and `deleted_passages` what was there)."""
        vids: list[int] = []
        for doc_id in doc_ids:
            self.deleted_articles += self.has_article(doc_id)
            ids = [r[0] for r in self.conn.execute("SELECT vid FROM passages WHERE doc_id = ?", (doc_id,))]
            self.deleted_passages += len(ids)
            self.conn.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(v,) for v in ids])
            self.conn.executemany("DELETE FROM sentences WHERE vid = ?", [(v,) for v in ids])
            self.conn.executemany("DELETE FROM passage_dates WHERE vid = ?", [(v,) for v in ids])
            self.conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
            self.conn.execute("DELETE FROM articles WHERE doc_id = ?", (doc_id,))
            vids.extend(ids)
        return vids

    def counts(self) -> tuple[int, int]:
        """(articles, passages)."""
        articles = self.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        passages = self.conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        return int(articles), int(passages)

    # --- reading for search -----------------------------------------------------------------
    def passages(self, vids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages with their article metadata, by vector id."""
        if not vids:
            return {}
        marks = ",".join("?" * len(vids))
        rows = self.conn.execute(
            "SELECT p.vid, p.id, p.doc_id, p.paragraph, p.start_char, p.end_char, p.text, a.title, a.outlet,"
            " p.published, a.url, a.path, a.record, p.event_dates"
            f" FROM passages p JOIN articles a USING(doc_id) WHERE p.vid IN ({marks})",
            list(vids),
        )
        return {r[0]: StoredPassage(*r) for r in rows}

    def sentences(self, vids: Sequence[int]) -> dict[int, list[tuple[int, int, np.ndarray]]]:
        """(start, end, vector) of each sentence of these passages, in order, by passage."""
        out: dict[int, list[tuple[int, int, np.ndarray]]] = {vid: [] for vid in vids}
        if not vids:
            return out
        marks = ",".join("?" * len(vids))
        rows = self.conn.execute(
            f"SELECT vid, start_char, end_char, vector FROM sentences WHERE vid IN ({marks}) ORDER BY vid, n",
            list(vids),
        )
        for vid, a, b, v in rows:
            out[vid].append((a, b, np.frombuffer(v, dtype=np.float16).astype(np.float32)))
        return out

    def keyword_search(
        self, terms: Sequence[str], limit: int, df: Mapping[str, int] | None = None
    ) -> list[tuple[int, float]]:
        """(vid, BM25 score, higher is better) of passages matching any of `terms`.

        Words absent from the index are dropped, and so are very common ones when rarer ones
        remain: an OR query must score every passage a word occurs in.
        """
        if df is None or any(t not in df for t in terms):
            df = self.document_frequencies(terms)
        kept = keyword_plan(terms, df, self.passage_count())
        if not kept:
            return []
        query = " OR ".join(f'"{t}"' for t in kept)
        rows = self.conn.execute(
            f"SELECT rowid, bm25(passages_fts, 1.0, {CONTEXT_WEIGHT}) AS s FROM passages_fts"
            " WHERE passages_fts MATCH ? ORDER BY s LIMIT ?",
            (query, limit),
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    def passage_count(self) -> int:
        """Number of passages (cached: a reader's version never changes)."""
        if self._passages is None:
            self._passages = self.counts()[1]
        return self._passages

    def stems(self, words: Sequence[str]) -> dict[str, str]:
        """Each word as the keyword index stores it (lower case, Porter stem)."""
        if not words:
            return {}
        self._tokenizer()
        self.conn.execute("DELETE FROM temp.query_tokens")
        self.conn.executemany("INSERT INTO temp.query_tokens(rowid, x) VALUES (?, ?)", list(enumerate(words, 1)))
        rows = self.conn.execute("SELECT doc, term FROM temp.query_vocab").fetchall()
        return {words[doc - 1]: term for doc, term in rows}

    def _tokenizer(self) -> None:
        if not self._tokenizer_ready:
            for statement in TOKENIZER.strip().split(";"):  # not executescript: it would end the snapshot
                if statement.strip():
                    self.conn.execute(statement)
            self._tokenizer_ready = True

    def nearest_word(self, word: str) -> str | None:
        """The corpus word closest in spelling to an unknown `word`, as written in a passage, or None."""
        return closest_word(word, self.stems, self._common_words, self._text_with)

    def _common_words(self) -> dict[str, int]:
        if self._vocabulary is None:
            self._vocabulary = dict(self.conn.execute("SELECT term, doc FROM passages_vocab WHERE doc >= ?", (TYPO_MIN_DF,)))
        return self._vocabulary

    def _text_with(self, term: str) -> str | None:
        row = self.conn.execute(
            "SELECT text FROM passages_fts WHERE passages_fts MATCH ? LIMIT 1", (f'text: "{term}"',)
        ).fetchone()
        return None if row is None else str(row[0])

    def tokens(self, rows: Sequence[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
        """The keyword index's terms (Porter stems, in order) of (text, context) pairs, as it would
        index them: for another backend that must count words exactly as this one does."""
        if not rows:
            return []
        self._tokenizer()
        self.conn.execute("DELETE FROM temp.row_tokens")
        self.conn.executemany("INSERT INTO temp.row_tokens(rowid, text, context) VALUES (?, ?, ?)",
                              [(i, t, c) for i, (t, c) in enumerate(rows, 1)])  # fmt: skip
        out: list[tuple[list[str], list[str]]] = [([], []) for _ in rows]
        for doc, col, term in self.conn.execute("SELECT doc, col, term FROM temp.row_vocab ORDER BY doc, col, offset"):
            out[doc - 1][0 if col == "text" else 1].append(term)
        return out

    def document_frequencies(self, words: Sequence[str]) -> dict[str, int]:
        """How many passages contain each word (as the keyword index stems it); 0 if none."""
        stems = self.stems(list(dict.fromkeys(words)))
        if not stems:
            return {w: 0 for w in words}
        marks = ",".join("?" * len(set(stems.values())))
        found = dict(
            self.conn.execute(
                f"SELECT term, doc FROM passages_vocab WHERE term IN ({marks})", list(set(stems.values()))
            )
        )
        return {w: int(found.get(stems.get(w, ""), 0)) for w in words}


def keyword_plan(terms: Sequence[str], df: Mapping[str, int], total: int) -> list[str]:
    """The query words a keyword search keeps, rarest first.

    Words absent from the index are dropped, and so are very common ones when rarer ones remain:
    an OR query must score every passage a word occurs in. Shared by both backends, so that
    they match the same passages. (How many matches come back is the caller's `limit`, not
    this threshold.)
    """
    present = sorted((t for t in terms if df.get(t)), key=lambda t: df[t])
    if not present:
        return []
    # Only long posting lists cost time; on a small corpus every word is cheap and kept.
    common = max(COMMON_SHARE * total, COMMON_MIN)
    kept = [t for t in present if df[t] <= common] or present[:1]
    return kept[:MAX_QUERY_TERMS]


def closest_word(
    word: str,
    stems: Callable[[list[str]], dict[str, str]],
    vocabulary: Callable[[], dict[str, int]],
    text_with: Callable[[str], str | None],
) -> str | None:
    """The corpus word closest in spelling to an unknown `word`, as written in a passage, or None.

    Candidates are indexed stems (`vocabulary`: stem -> passages using it) within one edit (two
    for words of 8+ letters), the most frequent of the closest; the surface form is read back
    from a passage that has it (`text_with`).
    """
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import extract

    key = stems([word]).get(word)
    if not key or len(key) < 4 or not key.isalpha():
        return None
    common = vocabulary()
    limit = 2 if len(word) >= 8 else 1
    found = extract(key, list(common), scorer=Levenshtein.distance, score_cutoff=limit, limit=20)
    if not found:
        return None
    term = min(found, key=lambda f: (f[1], -common[f[0]]))[0]
    text = text_with(term)
    if text is None:
        return None
    written = list(dict.fromkeys(w for w in WORD.findall(text) if w.isalpha()))
    return next((w.lower() for w, t in stems(written).items() if t == term), None)


def event_dates(text: str, published: date | None) -> tuple[list[DateMention], str]:
    """The date expressions of a passage resolved against its publication date, and as stored (JSON)."""
    mentions = resolve(text, published)
    return mentions, json.dumps([m.to_dict() for m in mentions])


def context(article: Article) -> str:
    """Keyword context shared by an article's passages: its headline and month of publication.

    With it, "the October 2023 strikes" matches passages of an article published then even
    where the paragraph itself names no date.
    """
    when = article.published.strftime("%B %Y") if article.published else ""
    return f"{article.title or ''} {when}".strip()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
