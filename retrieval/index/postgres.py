"""Postgres backend (psycopg and pgvector live here only): one database that several Brief
processes share, for corpora past one machine or for more than one bot replica.

Tables mirror the embedded index (retrieval/index/store.py); passages carry their vector (pgvector,
an HNSW index for inner product) and their keyword terms as a tsvector of the embedded index's
own Porter stems (text positions unweighted, headline-and-month positions weighted A). Keyword
scores are FTS5's BM25 exactly (k1 1.2, b 0.75, the context column weighted CONTEXT_WEIGHT),
computed from stored term statistics: `terms` holds each stem's document frequency and
`brief_meta` the passage and token totals, all kept up to date by the writer in the same
transaction as the rows. So both backends rank alike and answer alike.

One writer at a time (a session advisory lock); each ingest is one transaction, so readers see
all of it or none of it, and a killed writer leaves nothing behind. Readers notice a new version
(a counter in `brief_meta`) on their next question.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from retrieval.embeddings import check_backend
from retrieval.errors import BriefError, IndexMismatchError, LockTimeoutError, NoIndexError
from retrieval.fitted import probe_cosine
from retrieval.index.corpus import ARTICLE_ROW, PASSAGE_ROW, Applied, Changes, FileLink, NewArticle, Removal, assemble
from retrieval.index.store import (
    CONTEXT_WEIGHT,
    TYPO_MIN_DF,
    Catalog,
    Store,
    StoredPassage,
    closest_word,
    context,
    event_dates,
    keyword_plan,
    now_iso,
)
from retrieval.read.articles import Article

LOCK_KEY = 0x42726965  # "Brie": the advisory lock every Brief writer of a database takes
K1, B = 1.2, 0.75  # FTS5's BM25 constants
READERS = 4  # connections a PostgresCorpus opens at most for queries (the keyword search's thread pool has 4 workers)
EF_SEARCH_MIN = 100  # HNSW candidates per search where none was tuned (raised to k when k is larger)
EF_SEARCH_TRIES = (40, 80, 160, 320, 640, 1000)  # tuned: the first reaching the recall target (1000: pgvector's cap)
TABLES = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS brief_meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS files(path text PRIMARY KEY, fingerprint text NOT NULL, ingested_at text NOT NULL);
CREATE TABLE IF NOT EXISTS file_articles(path text NOT NULL, doc_id text NOT NULL, PRIMARY KEY(path, doc_id));
CREATE INDEX IF NOT EXISTS file_articles_doc ON file_articles(doc_id);
CREATE TABLE IF NOT EXISTS articles(
    doc_id text PRIMARY KEY, path text NOT NULL, record integer, title text, outlet text,
    published text, url text, author text, text text NOT NULL, added_at text NOT NULL);
CREATE TABLE IF NOT EXISTS terms(term text PRIMARY KEY, df integer NOT NULL);
CREATE TABLE IF NOT EXISTS removed(doc_id text PRIMARY KEY, path text NOT NULL, title text, removed_at text NOT NULL);
"""
PASSAGES = """
CREATE TABLE IF NOT EXISTS passages(
    vid bigint PRIMARY KEY, id text NOT NULL UNIQUE, doc_id text NOT NULL REFERENCES articles ON DELETE CASCADE,
    paragraph integer NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL, text text NOT NULL,
    published text, event_dates text, tokens integer NOT NULL, terms tsvector NOT NULL, embedding vector({dim}) NOT NULL);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE INDEX IF NOT EXISTS passages_terms ON passages USING gin(terms);
CREATE INDEX IF NOT EXISTS passages_embedding ON passages USING hnsw(embedding vector_ip_ops);
CREATE TABLE IF NOT EXISTS sentences(
    vid bigint NOT NULL REFERENCES passages ON DELETE CASCADE, n integer NOT NULL, start_char integer NOT NULL,
    end_char integer NOT NULL, vector bytea NOT NULL, PRIMARY KEY(vid, n));
CREATE TABLE IF NOT EXISTS postings(
    term text NOT NULL, vid bigint NOT NULL REFERENCES passages ON DELETE CASCADE, tokens integer NOT NULL,
    in_text integer NOT NULL, in_context integer NOT NULL, impact real NOT NULL);
CREATE INDEX IF NOT EXISTS postings_impact ON postings(term, impact DESC) INCLUDE (vid, tokens, in_text, in_context);
CREATE INDEX IF NOT EXISTS postings_vid ON postings(vid, term) INCLUDE (tokens, in_text, in_context);
"""
# A keyword search reads the postings of its few query stems with an index-only scan, instead of
# opening the tsvector of every matching passage (20-50 times faster at 100k passages), and of
# each stem only the POSTINGS_PER_STEM with the highest BM25 weight ("impact": the stem's
# occurrences against the passage's length), so that a common stem costs no more than a rare one.
# The best candidates' other query stems are then read by vid, also from an index alone (postings_vid
# covers the counts: a database made before 2026-12-08 reads them from the table, as correctly).
POSTINGS = (
    "INSERT INTO postings(term, vid, tokens, in_text, in_context, impact)"
    f" SELECT term, vid, tokens, in_text, in_context, f * {K1 + 1} / (f + {K1} * ({1 - B} + {B} * tokens / %s))"
    f" FROM (SELECT *, in_text + {CONTEXT_WEIGHT} * in_context AS f FROM (SELECT u.lexeme AS term, p.vid, p.tokens,"
    " cardinality(u.positions) - cardinality(array_positions(u.weights, 'A')) AS in_text,"
    " cardinality(array_positions(u.weights, 'A')) AS in_context"
    " FROM passages p, unnest(p.terms) u WHERE p.vid BETWEEN %s AND %s) AS counted) AS weighted"
)
POSTINGS_FORMAT = "2"  # brief_meta "postings": 1 without impact; 2 with it
POSTINGS_PER_STEM = 2000  # with COMPLETED: top 10 as every posting gives for 96.6 % of places at 100k (bench/scale.py)
COMPLETED = 400
CONTENT = ("postings", "sentences", "passages", "file_articles", "files", "articles", "terms")  # what a rebuild empties


class DatabaseError(BriefError):
    """The database cannot be reached or refused a statement."""


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection with pgvector's types; DatabaseError naming the fix when it cannot connect."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to the database {redact(url)} ({' '.join(str(exc).split())[:200]}); check "
            "BRIEF_DATABASE_URL and that the server is running"
        ) from exc
    with contextlib.suppress(psycopg.ProgrammingError):  # no vector type yet: the first writer creates it
        register_vector(conn)
    return conn


def _meta(conn: psycopg.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM brief_meta").fetchall())
    except psycopg.errors.UndefinedTable:
        if not conn.autocommit:
            conn.rollback()
        return {}


def check_database(url: str) -> None:
    """NoIndexError when the database holds no Brief corpus yet (DatabaseError when unreachable)."""
    with connect(url) as conn:
        if "model_id" not in _meta(conn):
            raise NoIndexError(no_corpus(url))


def no_corpus(url: str) -> str:
    """The message for a database without a corpus, with the commands that fill it."""
    return (
        f"no Brief corpus in the database {redact(url)}; build it with `brief ingest` (BRIEF_DATABASE_URL set) "
        "or copy an index there with `brief migrate --to URL`"
    )


@dataclass(frozen=True)
class Summary:
    """Size, model and freshness of a Postgres corpus (`brief stats`)."""

    where: str
    version: str
    articles: int
    passages: int
    model_id: str
    dim: int
    updated_at: str
    untitled: int
    undated: int


def summary(url: str) -> Summary:
    """The corpus's size and freshness, from its tables, without the model."""
    with connect(url) as conn:
        meta = _meta(conn)
        if "model_id" not in meta:
            raise NoIndexError(no_corpus(url))
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE coalesce(trim(title), '') = ''),"
            " count(*) FILTER (WHERE published IS NULL) FROM articles"
        ).fetchone()
    assert row is not None
    return Summary(redact(url), f"pg{int(meta.get('version', 0)):06d}", int(row[0]), int(meta.get("passages", 0)),
                   meta["model_id"], int(meta["dim"]), meta.get("updated_at", ""), int(row[1]), int(row[2]))  # fmt: skip


def tsvector(text_terms: Sequence[str], context_terms: Sequence[str]) -> str:
    """A tsvector literal of a passage's stems: text positions first, then context ones weighted A."""
    positions: dict[str, list[str]] = {}
    for i, term in enumerate(text_terms, 1):
        positions.setdefault(term, []).append(str(min(i, 16383)))
    for i, term in enumerate(context_terms, len(text_terms) + 1):
        positions.setdefault(term, []).append(f"{min(i, 16383)}A")
    return " ".join("'" + t.replace("'", "''") + "':" + ",".join(p) for t, p in positions.items())


def tune_ef_search(
    conn: psycopg.Connection, sample: int | None = None, seed: int = 7, cosine: float | None = None
) -> tuple[int, float]:
    """The smallest HNSW `ef_search` whose recall@10 against exact search reaches the embedded
    index's target (TARGET_RECALL), on probe queries made from a sample of the stored vectors,
    `cosine` from them (fitted for the model: `bench/fit_search.py`; else the IVF tuning's).

    Runs in a transaction of its own or the caller's (the setting is local to it); returns
    (ef_search, recall@10 there).
    """
    from retrieval.index.vectors import (  # faiss: only when tuning
        QUERY_COSINE,
        RECALL_SAMPLE,
        TARGET_RECALL,
        probe_queries,
    )

    rows = conn.execute(
        "SELECT embedding FROM passages ORDER BY md5(vid::text) LIMIT %s", (sample or RECALL_SAMPLE,)
    ).fetchall()
    if not rows:
        return EF_SEARCH_MIN, 1.0
    stored = np.vstack([r[0].to_numpy() for r in rows]).astype(np.float32)
    queries = probe_queries(stored, np.random.default_rng(seed), cosine or QUERY_COSINE)

    def top10(q: np.ndarray, exact: bool) -> set[int]:
        order = "(embedding <#> %s) + 0, vid" if exact else "embedding <#> %s"  # "+ 0": no index, exact
        return {int(r[0]) for r in conn.execute(f"SELECT vid FROM passages ORDER BY {order} LIMIT 10", (q,))}

    with conn.transaction():
        truth = [top10(q, exact=True) for q in queries]
        # The planner prefers a sequential scan (exact) when ef_search nears the table's size; the
        # searches tuned here, and the questions later, go through HNSW.
        conn.execute("SELECT set_config('enable_seqscan', 'off', true)")
        for ef in EF_SEARCH_TRIES:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
            recall = float(np.mean([len(top10(q, exact=False) & t) / max(1, len(t)) for q, t in zip(queries, truth, strict=True)]))
            if recall >= TARGET_RECALL:
                break
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(EF_SEARCH_MIN),))
        conn.execute("SELECT set_config('enable_seqscan', 'on', true)")
    return ef, round(recall, 4)


class _Qmark:
    """A psycopg connection called as sqlite3 is, for the Catalog queries (plain SQL both engines
    read): `?` placeholders become `%s`, SQLite's instr() Postgres's strpos(), and its byte-order
    collation BINARY Postgres's "C"."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement; its cursor."""
        sql = sql.replace("?", "%s").replace("instr(", "strpos(").replace("COLLATE BINARY", 'COLLATE "C"')
        return self._conn.execute(sql, tuple(args))


class PostgresCatalog(Catalog):
    """The corpus in view on Postgres: `brief list/show/export/rm` and `stats --missing`."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = _Qmark(conn)


@contextlib.contextmanager
def catalog(url: str) -> Iterator[tuple[tuple[str, str, int, str], PostgresCatalog]]:
    """The corpus's build (model, model id, dimension, backend) and its Catalog, read-only."""
    with connect(url) as conn:
        meta = _meta(conn)
        if "model_id" not in meta:
            raise NoIndexError(no_corpus(url))
        build = (meta.get("model", meta["model_id"]), meta["model_id"], int(meta.get("dim", 0)), meta.get("backend", "torch"))
        yield build, PostgresCatalog(conn)


class PostgresCorpus:
    """The corpus in a Postgres database, for questions (the `LiveCorpus` protocol)."""

    def __init__(self, url: str, expect_model_id: str | None = None, expect_dim: int | None = None,
                 exact_limit: int = 50_000, expect_backend: str | None = None) -> None:  # fmt: skip
        self.url = url
        self.exact_limit = exact_limit
        self.conn = connect(url)
        meta = _meta(self.conn)
        if "model_id" not in meta:
            self.conn.close()
            raise NoIndexError(no_corpus(url))
        self.meta = meta
        try:
            self.expect(expect_model_id, expect_dim, expect_backend)
        except IndexMismatchError:
            self.conn.close()
            raise
        self._passages = int(meta.get("passages", 0))
        self._postings = meta.get("postings") == POSTINGS_FORMAT
        self.postings_per_stem = POSTINGS_PER_STEM
        self._ef_search = int(meta.get("ef_search", EF_SEARCH_MIN))
        self._avgdl = int(meta.get("tokens", 0)) / max(1, self._passages)
        self._vocabulary: dict[str, int] | None = None
        self._stemmer = Store(":memory:")  # the embedded index's tokenizer, for query words
        self.lock = threading.Lock()  # the stemmer and `conn` (version checks), shared by the bot's threads
        # Queries take a connection of their own, so that a question's keyword search (started
        # while the question is encoded) and its vector search run at the same time, as they do on
        # the embedded index, and so do two users' questions. Opened as needed, at most READERS.
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._opened = 0

    def expect(self, model_id: str | None, dim: int | None = None, backend: str | None = None) -> None:
        """IndexMismatchError unless the corpus was built with this model (and dimension, and kind of vectors)."""
        meta, where = self.meta, redact(self.url)
        if model_id and (meta["model_id"] != model_id or (dim and int(meta["dim"]) != dim)):
            raise IndexMismatchError(
                f"the corpus in {where} was built with model {meta['model_id']} ({meta['dim']} dims) but "
                f"BRIEF_EMBED_MODEL is {model_id}; set BRIEF_EMBED_MODEL back, or rebuild it with "
                "`brief ingest --rebuild`"
            )
        check_backend(f"the corpus in {where}", self.backend, backend, "rebuild it with `brief ingest --rebuild`")

    @property
    def backend(self) -> str:
        """The embedding backend that computed the vectors (BRIEF_EMBED_BACKEND; torch before it was recorded)."""
        return self.meta.get("backend", "torch")

    @property
    def version(self) -> str:
        """The corpus version this reader was opened at."""
        return f"pg{int(self.meta.get('version', 0)):06d}"

    @property
    def model_id(self) -> str:
        """The embedding model the passages were embedded with."""
        return self.meta["model_id"]

    def is_stale(self) -> bool:
        """True when a writer has committed since this reader was opened."""
        try:
            with self.lock:
                row = self.conn.execute("SELECT value FROM brief_meta WHERE key = 'version'").fetchone()
        except psycopg.Error:
            return False  # the next question reports the database's trouble
        return row is not None and int(row[0]) != int(self.meta.get("version", 0))

    def close(self) -> None:
        """Close the connections."""
        self.conn.close()
        while not self._idle.empty():
            self._idle.get_nowait().close()
        self._stemmer.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """An idle reader connection (a new one while fewer than READERS are open), given back after."""
        while True:
            with contextlib.suppress(queue.Empty):
                conn = self._idle.get_nowait()
                break
            with self.lock:
                opening = self._opened < READERS
                self._opened += opening
            if opening:
                try:
                    conn = connect(self.url)
                except BaseException:
                    with self.lock:
                        self._opened -= 1
                    raise
                break
            with contextlib.suppress(queue.Empty):  # READERS busy: wait for one (re-checking, in case one broke)
                conn = self._idle.get(timeout=1.0)
                break
        try:
            yield conn
        finally:
            if conn.closed or conn.broken:
                with self.lock:
                    self._opened -= 1
            else:
                self._idle.put(conn)

    def _rows(self, sql: str, args: Sequence[Any] = (), settings: Mapping[str, str] | None = None) -> list[tuple]:
        try:
            with self._connection() as conn:
                if not settings:
                    return conn.execute(sql, args).fetchall()
                with conn.transaction():
                    for name, value in settings.items():
                        conn.execute(f"SET LOCAL {name} = {value}")
                    return conn.execute(sql, args).fetchall()
        except psycopg.OperationalError as exc:
            raise DatabaseError(
                f"lost the database {redact(self.url)} ({' '.join(str(exc).split())[:200]}); check that it is running"
            ) from exc

    # --- the Corpus protocol (retrieval/index/corpus.py) ----------------------------------------
    def passage_count(self) -> int:
        """Passages in the corpus when this reader was opened."""
        return self._passages

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(vid, inner product) of the `k` nearest passages: exact up to `exact_limit` passages, HNSW beyond."""
        q = np.asarray(vector, np.float32)
        if self._passages <= self.exact_limit:
            # "+ 0" keeps the planner off the HNSW index: a small corpus is searched exactly, as FAISS does.
            sql = "SELECT vid, -(embedding <#> %s) FROM passages ORDER BY (embedding <#> %s) + 0, vid LIMIT %s"
            return [(int(v), float(s)) for v, s in self._rows(sql, (q, q, k))]
        sql = "SELECT vid, -(embedding <#> %s) FROM passages ORDER BY embedding <#> %s LIMIT %s"
        rows = self._rows(sql, (q, q, k), {"hnsw.ef_search": str(max(self._ef_search, k)), "enable_seqscan": "off"})
        return [(int(v), float(s)) for v, s in rows]

    def keyword_search(self, terms: Sequence[str], k: int, df: Mapping[str, int] | None = None) -> list[tuple[int, float]]:
        """(vid, BM25) of the best keyword matches, as the embedded index's FTS5 scores them."""
        if df is None or any(t not in df for t in terms):
            df = self.document_frequencies(terms)
        kept = keyword_plan(terms, df, self._passages)
        if not kept:
            return []
        with self.lock:
            stems = self._stemmer.stems(kept)
        phrases = [stems[w] for w in kept if w in stems]
        idfs = [max(math.log((self._passages - df[w] + 0.5) / (df[w] + 0.5)), 0.0) or 1e-6 for w in kept if w in stems]
        if self._postings:
            return self._best_postings(phrases, idfs, k)
        # A database no writer has opened since postings came: one pass over each matching tsvector.
        # Per matching passage and query stem in it: the passage's size and the stem's occurrences in
        # the text and in the context (weight A).
        query = " | ".join(f"'{t}'" for t in dict.fromkeys(phrases))
        rows = self._rows(
            "SELECT p.vid, p.tokens, u.lexeme, cardinality(u.positions) - cardinality(array_positions(u.weights, 'A')),"
            " cardinality(array_positions(u.weights, 'A'))"
            " FROM passages p, unnest(p.terms) u WHERE p.terms @@ %s::tsquery AND u.lexeme = ANY(%s)",
            (query, list(dict.fromkeys(phrases))),
        )
        return self._complete([], phrases, idfs, [], k, rows)

    def _best_postings(self, phrases: Sequence[str], idfs: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The top k by BM25, reading each stem's `postings_per_stem` highest-impact postings.

        Exact when no stem has more postings than that. Otherwise a passage's score from the
        postings read, plus for each stem not read for it the last (lowest) weight read of that
        stem, bounds what it can score; the COMPLETED passages with the highest bounds are read
        whole and scored exactly. (Recall against reading every posting: bench/scale.py.)
        """
        unique = list(dict.fromkeys(phrases))
        weight = np.array([sum(i for p, i in zip(phrases, idfs, strict=True) if p == stem) for stem in unique])
        position = {stem: n for n, stem in enumerate(unique)}
        rows = self._rows(
            "SELECT p.vid, p.tokens, p.term, p.in_text, p.in_context FROM unnest(%s::text[]) AS q(term),"
            " LATERAL (SELECT vid, tokens, term, in_text, in_context FROM postings"
            " WHERE postings.term = q.term ORDER BY impact DESC LIMIT %s) AS p",
            (unique, self.postings_per_stem),
        )
        if not rows:
            return []
        vid, tokens, in_text, in_context = (np.array([r[i] for r in rows], np.float64) for i in (0, 1, 3, 4))
        stem = np.array([position[r[2]] for r in rows])
        truncated = np.bincount(stem, minlength=len(unique)) >= self.postings_per_stem
        if not truncated.any():  # every posting of every stem was read: score them all exactly
            return self._complete([], phrases, idfs, unique, k, rows)
        f = in_text + CONTEXT_WEIGHT * in_context
        part = weight[stem] * f * (K1 + 1) / (f + K1 * (1 - B + B * tokens / self._avgdl))
        last = np.zeros(len(unique))
        last[stem] = part  # a stem's rows come in falling impact: the last one written is its lowest
        ids, where = np.unique(vid, return_inverse=True)
        seen = np.zeros((len(ids), len(unique)), bool)
        seen[where, stem] = True
        bound = np.bincount(where, weights=part, minlength=len(ids)) + (~seen * np.where(truncated, last, 0.0)).sum(axis=1)
        best = np.argsort(-bound, kind="stable")[:COMPLETED]
        return self._complete([int(ids[i]) for i in best], phrases, idfs, unique, k)

    def _complete(self, vids: list[int], phrases: Sequence[str], idfs: Sequence[float], unique: list[str], k: int,
                  rows: list[tuple] | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """The exact BM25 of these passages (all their query stems read), best k first."""
        if rows is None:
            rows = self._rows(
                "SELECT vid, tokens, term, in_text, in_context FROM postings WHERE vid = ANY(%s) AND term = ANY(%s)",
                (vids, unique),
            )
        if not rows:
            return []
        # bm25() for every passage at once (a few thousand at 100k passages for common words), in
        # its order of operations, so that the scores are the same to the last bit.
        columns = {stem: n for n, stem in enumerate(dict.fromkeys(r[2] for r in rows))}
        vid = np.array([r[0] for r in rows], np.int64)
        ids, where = np.unique(vid, return_inverse=True)
        tokens = np.zeros(len(ids))
        tokens[where] = [r[1] for r in rows]
        in_text = np.zeros((len(ids), len(columns)))
        in_context = np.zeros((len(ids), len(columns)), np.int64)
        stem = np.array([columns[r[2]] for r in rows])
        in_text[where, stem] = [r[3] for r in rows]
        in_context[where, stem] = [r[4] for r in rows]
        f = in_text
        for n in range(int(in_context.max())):  # FTS5 adds the column weight per occurrence, in this order
            f = np.where(in_context > n, f + CONTEXT_WEIGHT, f)
        length = K1 * (1 - B + B * tokens / self._avgdl)
        score = np.zeros(len(ids))
        for phrase, idf in zip(phrases, idfs, strict=True):
            g = f[:, columns[phrase]] if phrase in columns else np.zeros(len(ids))
            score += idf * ((g * (K1 + 1.0)) / (g + length))
        best = np.lexsort((ids, -score))[:k]
        return [(int(ids[i]), float(score[i])) for i in best]

    def cosines(self, vids: Sequence[int], vector: np.ndarray) -> dict[int, float]:
        """Cosine of each passage's stored vector to a query vector."""
        if not vids:
            return {}
        rows = dict(self._rows("SELECT vid, embedding FROM passages WHERE vid = ANY(%s)", (list(vids),)))
        stored = np.vstack([rows[v].to_numpy().astype(np.float32) for v in vids])
        return dict(zip(vids, (stored @ np.asarray(vector, np.float32)).tolist(), strict=True))

    def passages(self, vids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages with their article metadata, by vid."""
        if not vids:
            return {}
        rows = self._rows(
            "SELECT p.vid, p.id, p.doc_id, p.paragraph, p.start_char, p.end_char, p.text, a.title, a.outlet,"
            " p.published, a.url, a.path, a.record, p.event_dates"
            " FROM passages p JOIN articles a USING(doc_id) WHERE p.vid = ANY(%s)",
            (list(vids),),
        )
        return {int(r[0]): StoredPassage(*r) for r in rows}

    def sentences(self, vids: Sequence[int]) -> dict[int, list[tuple[int, int, np.ndarray]]]:
        """(start, end, vector) of each sentence of these passages, in order, by passage."""
        out: dict[int, list[tuple[int, int, np.ndarray]]] = {vid: [] for vid in vids}
        if not vids:
            return out
        rows = self._rows(
            "SELECT vid, start_char, end_char, vector FROM sentences WHERE vid = ANY(%s) ORDER BY vid, n", (list(vids),)
        )
        for vid, a, b, v in rows:
            out[vid].append((a, b, np.frombuffer(v, dtype=np.float16).astype(np.float32)))
        return out

    def document_frequencies(self, words: Sequence[str]) -> dict[str, int]:
        """Passages containing each word (as the keyword index stems it); 0 if none."""
        with self.lock:
            stems = self._stemmer.stems(list(dict.fromkeys(words)))
        found = dict(self._rows("SELECT term, df FROM terms WHERE term = ANY(%s)", (list(set(stems.values())),)))
        return {w: int(found.get(stems.get(w, ""), 0)) for w in words}

    def known_word(self, word: str) -> str | None:
        """The corpus word nearest to an unknown one (a typo), as written in the corpus; None if none is close."""
        return closest_word(word, self._stems, self._common_words, self._text_with)

    # --- the CopySource protocol (retrieval/index/corpus.py): `brief migrate` -----------------
    def build_info(self) -> tuple[str, int, str]:
        """The model name, the vectors' dimension and the backend that computed them."""
        return self.meta["model"], int(self.meta["dim"]), self.backend

    def copy_out(self, batch: int = 500) -> Iterator[list[NewArticle]]:
        """Every article with its passages and vectors, oldest passage first."""
        docs = [r[0] for r in self._rows("SELECT doc_id FROM passages GROUP BY doc_id ORDER BY min(vid)")]
        for i in range(0, len(docs), batch):
            chunk = docs[i : i + batch]
            order = {d: n for n, d in enumerate(chunk)}
            articles = sorted(self._rows(f"SELECT {ARTICLE_ROW} FROM articles WHERE doc_id = ANY(%s)", (chunk,)),
                              key=lambda a: order[a[0]])  # fmt: skip
            passages = self._rows(f"SELECT {PASSAGE_ROW}, embedding FROM passages WHERE doc_id = ANY(%s)", (chunk,))
            vectors = {int(p[0]): p[-1].to_numpy().astype(np.float32) for p in passages}
            rows = [tuple(p[:-1]) for p in passages]
            yield assemble(articles, rows, self.sentences(list(vectors)), vectors)  # type: ignore[arg-type]

    def file_links(self) -> list[FileLink]:
        """Every known file with its articles."""
        links: dict[str, list[str]] = {}
        for path, doc_id in self._rows("SELECT path, doc_id FROM file_articles ORDER BY path, doc_id"):
            links.setdefault(path, []).append(doc_id)
        rows = self._rows("SELECT path, fingerprint FROM files ORDER BY path")
        return [FileLink(path, fingerprint, tuple(links.get(path, []))) for path, fingerprint in rows]

    def removals(self) -> list[Removal]:
        """Articles taken out with `brief rm`."""
        return [tuple(r) for r in self._rows("SELECT doc_id, path, title, removed_at FROM removed ORDER BY removed_at, doc_id")]  # type: ignore[misc]

    def _stems(self, words: list[str]) -> dict[str, str]:
        with self.lock:
            return self._stemmer.stems(words)

    def _common_words(self) -> dict[str, int]:
        if self._vocabulary is None:
            self._vocabulary = dict(self._rows("SELECT term, df FROM terms WHERE df >= %s", (TYPO_MIN_DF,)))
        return self._vocabulary

    def _text_with(self, term: str) -> str | None:
        rows = self._rows(
            "SELECT text FROM passages WHERE terms @@ %s::tsquery ORDER BY vid LIMIT 1",
            ("'" + term.replace("'", "''") + "':D",),
        )
        return str(rows[0][0]) if rows else None


class PostgresWriter:
    """The one writer of a Postgres corpus (the `CorpusWriter` protocol): holds the advisory lock,
    applies changes in one transaction and commits them, with a new version number, on close."""

    def __init__(
        self,
        url: str,
        model: str,
        model_id: str,
        dim: int | None,
        rebuild: bool = False,
        lock_timeout_s: float = 600.0,
        on_wait: Callable[[str], None] | None = None,
        checkpoint: Callable[[str], None] | None = None,
        backend: str = "torch",
        exact_limit: int = 50_000,
    ) -> None:
        self.url = url
        self.exact_limit = exact_limit
        self.model, self.model_id, self.dim = model, model_id, dim
        self.backend = backend
        self.rebuild = rebuild
        self.lock_timeout_s = lock_timeout_s
        self.on_wait = on_wait
        self.checkpoint = checkpoint or (lambda _step: None)
        self.conn: psycopg.Connection | None = None
        self.changed = False
        self._version: str | None = None
        self._stemmer = Store(":memory:")

    def __enter__(self) -> PostgresWriter:
        self.conn = connect(self.url, autocommit=True)
        try:
            self._acquire_lock()
            self.conn.autocommit = False
            self._prepare()
        except BaseException:
            self.conn.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        conn = self.conn
        assert conn is not None
        try:
            if exc_type is None and self.changed:
                self._tune()
                n = int(self._get("version", "0")) + 1
                self._set(version=str(n), updated_at=now_iso())
                self.checkpoint("committing")
                conn.commit()
                self._version = f"pg{n:06d}"
            else:
                conn.rollback()
        except psycopg.Error as err:
            raise DatabaseError(f"cannot write to the database {redact(self.url)} ({err}); nothing was changed") from err
        finally:
            conn.close()  # also releases the advisory lock
            self._stemmer.close()

    @property
    def published_version(self) -> str | None:
        """The version committed on close; None if nothing changed."""
        return self._version

    def _acquire_lock(self) -> None:
        assert self.conn is not None
        deadline = time.monotonic() + self.lock_timeout_s
        told = False
        while not self.conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"another ingest is updating the corpus in {redact(self.url)}; try again when it has finished"
                )
            if not told and self.on_wait:
                self.on_wait(f"waiting for another ingest to finish updating {redact(self.url)} ...")
                told = True
            time.sleep(0.2)

    def _prepare(self) -> None:
        conn = self._conn()
        conn.execute(TABLES)
        register_vector(conn)
        meta = _meta(conn)
        if self.rebuild:
            conn.execute("DROP TABLE IF EXISTS postings, sentences, passages")
            conn.execute("TRUNCATE " + ", ".join(t for t in CONTENT if t not in ("postings", "sentences", "passages")))
            conn.execute("DELETE FROM brief_meta WHERE key NOT IN ('version', 'created_at')")
            meta = {k: v for k, v in meta.items() if k in ("version", "created_at")}
            self.changed = True
        elif "model_id" in meta and (meta["model_id"] != self.model_id or (self.dim and int(meta["dim"]) != self.dim)):
            raise IndexMismatchError(
                f"the corpus in {redact(self.url)} was built with model {meta['model_id']} ({meta['dim']} dims) but "
                f"BRIEF_EMBED_MODEL is {self.model_id}; set it back, or rebuild with `brief ingest --rebuild`"
            )
        elif "model_id" in meta:
            where = f"the corpus in {redact(self.url)}"
            check_backend(where, meta.get("backend", "torch"), self.backend, "rebuild with `brief ingest --rebuild`")
        if "dim" in meta:
            self.dim = int(meta["dim"])
        if self.dim:
            refill = meta.get("postings") != POSTINGS_FORMAT  # a database from before postings (or their impact)
            if refill:
                conn.execute("DROP TABLE IF EXISTS postings")
            self._create_passages(self.dim)
            if refill:
                conn.execute(POSTINGS, (self._avgdl(), 0, 2**62))
                self.changed = True
        self._set(model=self.model, model_id=self.model_id, backend=self.backend,
                  created_at=meta.get("created_at") or now_iso())  # fmt: skip
        for key in ("passages", "tokens", "version"):
            meta.setdefault(key, "0")
            self._set(**{key: meta[key]})

    def _create_passages(self, dim: int) -> None:
        self._conn().execute(PASSAGES.format(dim=int(dim)))
        self._set(postings=POSTINGS_FORMAT)
        self._set(dim=str(dim))
        self.dim = dim

    def _tune(self) -> None:
        """Tune HNSW's ef_search once searches leave exact territory, and again each time the corpus doubles."""
        passages = int(self._get("passages", "0"))
        if passages <= self.exact_limit or passages < 2 * int(self._get("ef_tuned_on", "0")):
            return
        ef, recall = tune_ef_search(self._conn(), cosine=probe_cosine(self.model_id))
        self._set(ef_search=str(ef), ef_tuned_on=str(passages), ef_recall=str(recall))

    def _conn(self) -> psycopg.Connection:
        if self.conn is None:
            raise RuntimeError("the Postgres writer is used outside its `with` block")
        return self.conn

    def catalog(self) -> PostgresCatalog:
        """The Catalog queries inside this writer's transaction (`brief rm`)."""
        return PostgresCatalog(self._conn())

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._conn().cursor() as cur:
                cur.executemany(sql, rows)

    def _get(self, key: str, default: str) -> str:
        row = self._conn().execute("SELECT value FROM brief_meta WHERE key = %s", (key,)).fetchone()
        return str(row[0]) if row else default

    def _set(self, **values: str) -> None:
        self._many(
            "INSERT INTO brief_meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    # --- the CorpusWriter protocol (retrieval/index/corpus.py) ------------------------------------
    def fingerprints(self) -> dict[str, str]:
        """Known file paths with the fingerprint they were ingested at."""
        return dict(self._conn().execute("SELECT path, fingerprint FROM files").fetchall())

    def has_article(self, doc_id: str) -> bool:
        """True if the article text is already indexed."""
        return self._conn().execute("SELECT 1 FROM articles WHERE doc_id = %s", (doc_id,)).fetchone() is not None

    def is_removed(self, doc_id: str) -> bool:
        """True if this article text was taken out with `brief rm`."""
        return self._conn().execute("SELECT 1 FROM removed WHERE doc_id = %s", (doc_id,)).fetchone() is not None

    def apply(self, changes: Changes) -> Applied:
        """Apply a batch of changes inside the writer's transaction (committed on close)."""
        conn = self._conn()
        if changes.added:
            if not self.dim:
                self._create_passages(int(changes.added[0].vectors.shape[1]))
            self.add(changes.added)
        updated = frozenset(a.doc_id for a in changes.updated if self._update_metadata(a))
        self._many(
            "INSERT INTO removed(doc_id, path, title, removed_at) VALUES (%s, %s, %s, %s) ON CONFLICT (doc_id) DO UPDATE"
            " SET path = excluded.path, title = excluded.title, removed_at = excluded.removed_at",
            list(changes.removals),
        )
        for link in changes.files:
            conn.execute(
                "INSERT INTO files(path, fingerprint, ingested_at) VALUES (%s, %s, %s) ON CONFLICT (path) DO UPDATE"
                " SET fingerprint = excluded.fingerprint, ingested_at = excluded.ingested_at",
                (link.path, link.fingerprint, now_iso()),
            )
            conn.execute("DELETE FROM file_articles WHERE path = %s", (link.path,))
            self._many("INSERT INTO file_articles(path, doc_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                             [(link.path, d) for d in link.doc_ids])  # fmt: skip
        for path in changes.dropped_files:
            conn.execute("DELETE FROM files WHERE path = %s", (path,))
            conn.execute("DELETE FROM file_articles WHERE path = %s", (path,))
        orphans = [r[0] for r in conn.execute(
            "SELECT doc_id FROM articles a WHERE NOT EXISTS (SELECT 1 FROM file_articles f WHERE f.doc_id = a.doc_id)"
            " ORDER BY doc_id")]  # fmt: skip
        deleted = tuple(dict.fromkeys([*changes.deleted, *orphans]))
        if deleted and self.dim:
            vids = [r[0] for r in conn.execute("SELECT vid FROM passages WHERE doc_id = ANY(%s)", (list(deleted),))]
            self._tally(vids, -1)
        if deleted:
            conn.execute("DELETE FROM articles WHERE doc_id = ANY(%s)", (list(deleted),))  # passages cascade
        self.changed = self.changed or bool(changes.added or changes.removals or updated or changes.files or changes.dropped_files or deleted)
        articles = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
        return Applied(updated, deleted, articles, int(self._get("passages", "0")))

    def add(self, added: Sequence[NewArticle]) -> None:
        """Insert articles with their passages, vectors and sentence vectors (COPY: bulk loads are fast)."""
        conn = self._conn()
        row = conn.execute("SELECT coalesce(max(vid), 0) FROM passages").fetchone()
        vid = int(row[0]) if row else 0  # ids as SQLite gives them: one past the largest
        pairs = [(p.text, context(new.article)) for new in added for p in new.passages]
        terms = iter(self._stemmer.tokens(pairs))
        first = vid + 1
        with conn.cursor() as cur:
            with cur.copy("COPY articles(doc_id, path, record, title, outlet, published, url, author, text, added_at)"
                          " FROM STDIN") as copy:  # fmt: skip
                for new in added:
                    a = new.article
                    copy.write_row((a.doc_id, a.path, a.record, a.title, a.outlet, _iso(a), a.url, a.author, a.text,
                                    now_iso()))  # fmt: skip
            with cur.copy("COPY passages(vid, id, doc_id, paragraph, start_char, end_char, text, published, event_dates,"
                          " tokens, terms, embedding) FROM STDIN") as copy:  # fmt: skip
                for new in added:
                    for passage, vector in zip(new.passages, new.vectors, strict=True):
                        vid += 1
                        text_terms, context_terms = next(terms)
                        _, stored = event_dates(passage.text, new.article.published)
                        copy.write_row((vid, passage.id, passage.doc_id, passage.paragraph, passage.start, passage.end,
                                        passage.text, _iso(new.article), stored, len(text_terms) + len(context_terms),
                                        tsvector(text_terms, context_terms), np.asarray(vector, np.float32)))  # fmt: skip
            with cur.copy("COPY sentences(vid, n, start_char, end_char, vector) FROM STDIN") as copy:
                v = first
                for new in added:
                    for passage, sentence_vectors in zip(new.passages, new.sentence_vectors, strict=True):
                        for n, ((a, b), vec) in enumerate(zip(passage.sentences, sentence_vectors, strict=True)):
                            copy.write_row((v, n, a, b, np.asarray(vec).astype(np.float16).tobytes()))
                        v += 1
        self._tally(list(range(first, vid + 1)), +1)
        conn.execute(POSTINGS, (self._avgdl(), first, vid))

    def _tally(self, vids: list[int], sign: int) -> None:
        """Count passages in (+1) or out (-1) of the term statistics BM25 reads."""
        if not vids:
            return
        conn = self._conn()
        conn.execute(
            "INSERT INTO terms(term, df) SELECT u.lexeme, %s * count(*) FROM passages p, unnest(p.terms) u"
            " WHERE p.vid = ANY(%s) GROUP BY u.lexeme ON CONFLICT (term) DO UPDATE SET df = terms.df + excluded.df",
            (sign, vids),
        )
        if sign < 0:
            conn.execute("DELETE FROM terms WHERE df <= 0")
        row = conn.execute("SELECT count(*), coalesce(sum(tokens), 0) FROM passages WHERE vid = ANY(%s)", (vids,)).fetchone()
        assert row is not None
        self._set(passages=str(int(self._get("passages", "0")) + sign * int(row[0])),
                  tokens=str(int(self._get("tokens", "0")) + sign * int(row[1])))  # fmt: skip

    def _avgdl(self) -> float:
        """Tokens per passage now, which postings' impact is computed with (only their order per stem counts)."""
        return max(1.0, int(self._get("tokens", "0")) / max(1, int(self._get("passages", "0"))))

    def _update_metadata(self, article: Article) -> bool:
        conn = self._conn()
        row = conn.execute("SELECT title, outlet, published, url, author FROM articles WHERE doc_id = %s",
                           (article.doc_id,)).fetchone()  # fmt: skip
        new = (article.title, article.outlet, _iso(article), article.url, article.author)
        if row is None or tuple(row) == new:
            return False
        conn.execute("UPDATE articles SET title=%s, outlet=%s, published=%s, url=%s, author=%s WHERE doc_id=%s",
                     (*new, article.doc_id))  # fmt: skip
        rows = conn.execute("SELECT vid, text FROM passages WHERE doc_id = %s ORDER BY vid", (article.doc_id,)).fetchall()
        vids = [int(r[0]) for r in rows]
        self._tally(vids, -1)
        tokens = self._stemmer.tokens([(text, context(article)) for _, text in rows])
        for (vid, passage), (text, ctx) in zip(rows, tokens, strict=True):
            _, stored = event_dates(passage, article.published)
            conn.execute("UPDATE passages SET published=%s, event_dates=%s, tokens=%s, terms=%s::tsvector WHERE vid=%s",
                         (new[2], stored, len(text) + len(ctx), tsvector(text, ctx), vid))  # fmt: skip
        conn.execute("DELETE FROM postings WHERE vid = ANY(%s)", (vids,))
        self._tally(vids, +1)
        for vid in vids:
            conn.execute(POSTINGS, (self._avgdl(), vid, vid))
        return True


def _iso(article: Article) -> str | None:
    return article.published.isoformat() if article.published else None
