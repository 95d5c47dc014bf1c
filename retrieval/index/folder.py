"""The index folder: one SQLite database changed in place, immutable vector segments, one writer.

    index/
      brief.sqlite (-wal, -shm)   articles, passages, keyword index, sentence vectors, and the
                                  manifest: the version, its vector segments, passages deleted since
      segments/000007-0.faiss     passage vectors, written once, listed by the manifest
      .lock                       held by the one writer

An update is one SQLite transaction: it writes the passages it adds and one small segment with
their vectors, and deleted passages go on a list until their segment is merged; the commit
publishes the new manifest with the rest. So an update costs what it changes, not the size of
the index. Segments are merged four of a size at a time (each vector is rewritten about log4(n)
times; a big IVF segment keeps its trained cells). A reader holds one read transaction (a WAL
snapshot) and the segments its manifest lists, so it serves one whole version whatever a writer
does meanwhile; a killed writer leaves an uncommitted transaction SQLite rolls back and maybe an
unlisted segment file, removed by the next writer.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import re
import shlex
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embeddings import check_backend
from retrieval.errors import (
    BriefError,
    CorruptIndexError,
    IndexMismatchError,
    IndexWriteError,
    LockTimeoutError,
    NoIndexError,
)
from retrieval.index.corpus import ARTICLE_ROW, PASSAGE_ROW, Applied, Changes, FileLink, NewArticle, assemble
from retrieval.index.store import Gap, Store, StoredPassage, now_iso
from retrieval.index.vectors import EXACT_LIMIT, Segment, SegmentedVectors, Structure, VectorIndex, merged

FORMAT_VERSION = 4  # 2: event dates per passage; 3: vocabulary table; 4: one database, vector segments
LOCK = ".lock"
DATABASE = "brief.sqlite"
SEGMENTS = "segments"
MERGE_FACTOR = 4  # this many segments of one size tier are merged into one
RECLAIM_SHARE = 0.25  # deleted vectors beyond this share of all stored are dropped by merging everything
LEGACY_POINTER = "CURRENT"  # format 3 and before: versions/vNNNNNN/ folders, each a whole copy
VERSION_NAME = re.compile(r"v[0-9]{6,}")
OPTIONAL = {"vectors", "backend", "segments"}  # manifest fields older versions lack


@dataclass(frozen=True)
class Manifest:
    """What an index version holds and how it was built."""

    format: int
    version: str
    model: str
    model_id: str
    dim: int
    articles: int
    passages: int
    created_at: str
    updated_at: str
    vectors: dict[str, Any] = field(default_factory=lambda: {"kind": "flat"})  # the largest segment's structure
    backend: str = "torch"  # BRIEF_EMBED_BACKEND that embedded it (absent before issue 13: torch)
    segments: list[dict[str, Any]] = field(default_factory=list)  # Segment fields, oldest first

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The live manifest of the index at `folder`; CorruptIndexError if missing or malformed."""
        try:
            store = Store(folder / DATABASE, readonly=True)
        except sqlite3.DatabaseError as exc:
            raise CorruptIndexError(f"the index at {folder} is damaged ({exc}); {rebuild_hint(folder)}") from exc
        try:
            return cls.of(store, folder)
        finally:
            store.close()

    @classmethod
    def of(cls, store: Store, index_dir: Path) -> Manifest:
        """The manifest in an open database (as of its snapshot)."""
        try:
            state = store.state()
            if "manifest" not in state and store.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 0:
                raise NoIndexError(f"no index at {index_dir} (an ingest stopped before its first commit); "
                                   f"{build_hint(index_dir)}")  # fmt: skip
            data = json.loads(state["manifest"])
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data or k not in OPTIONAL})
        except (KeyError, ValueError, TypeError, sqlite3.DatabaseError) as exc:
            raise CorruptIndexError(
                f"the index at {index_dir} is damaged: it has no valid manifest ({type(exc).__name__}); "
                f"{rebuild_hint(index_dir)}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        return dict(self.__dict__)

    def segment_list(self) -> list[Segment]:
        """The vector segments, oldest first."""
        return [Segment(**{**s, "structure": Structure(**s["structure"])}) for s in self.segments]


def rebuild_hint(index_dir: Path) -> str:
    """The command that rebuilds an index from scratch (tested by running it, as pasted)."""
    return (
        f"rebuild it with `brief ingest --rebuild --index {shlex.quote(str(index_dir))}` "
        "(it reads BRIEF_ARTICLES_DIR; name other folders after --rebuild)"
    )


def build_hint(index_dir: Path) -> str:
    """The command that builds a missing index (tested by running it, as pasted)."""
    return (
        f"build it with `brief ingest --index {shlex.quote(str(index_dir))}` "
        "(it reads BRIEF_ARTICLES_DIR; or name folders: brief ingest FOLDER...)"
    )


def live_version(index_dir: Path) -> Path:
    """The index folder, once it holds an index of this format; NoIndexError when there is none."""
    if not (index_dir / DATABASE).is_file():
        if (index_dir / LEGACY_POINTER).is_file():
            raise IndexMismatchError(
                f"the index at {index_dir} was made by an older Brief (one whole copy per version); run "
                f"`brief ingest --index {shlex.quote(str(index_dir))}` once to convert it (nothing is embedded again)"
            )
        raise NoIndexError(f"no index at {index_dir}; {build_hint(index_dir)}")
    return index_dir


def metadata_gaps(index_dir: Path) -> tuple[Manifest, list[Gap]]:
    """The live version's manifest and its articles lacking a title or a date, read from the
    manifest and SQLite alone: no model, no vectors, so `brief stats` answers at once."""
    with open_store(index_dir) as (manifest, store):
        return manifest, store.gaps()


@contextmanager
def open_store(index_dir: Path) -> Iterator[tuple[Manifest, Store]]:
    """The live version's manifest and its database, read-only, without the model or the vectors
    (`brief stats`, `list`, `show`, `export`); a damaged database is a CorruptIndexError."""
    folder = live_version(index_dir)
    try:
        store = Store(folder / DATABASE, readonly=True)
        try:
            yield Manifest.of(store, index_dir), store
        finally:
            store.close()
    except sqlite3.DatabaseError as exc:
        raise CorruptIndexError(f"the index at {index_dir} is damaged ({exc}); {rebuild_hint(index_dir)}") from exc


class IndexReader:
    """A read-only view of one index version: SQLite store plus vectors, loaded once."""

    def __init__(
        self,
        index_dir: Path,
        expect_model_id: str | None = None,
        expect_dim: int | None = None,
        expect_backend: str | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.folder = live_version(index_dir)
        for attempt in range(3):
            try:
                self.store = Store(self.folder / DATABASE, readonly=True)  # one snapshot for this reader's life
            except sqlite3.DatabaseError as exc:
                raise CorruptIndexError(f"the index at {index_dir} is damaged ({exc}); {rebuild_hint(index_dir)}") from exc
            try:
                self._load(expect_model_id, expect_dim, expect_backend)
                break
            except FileNotFoundError as exc:
                self.store.close()
                # A writer merged the segments this snapshot lists after it was taken: take a newer one.
                if attempt == 2 or Manifest.read(self.folder).version == self.manifest.version:
                    raise CorruptIndexError(
                        f"the index at {index_dir} is damaged: a vector segment is missing ({Path(str(exc)).name}); "
                        f"{rebuild_hint(index_dir)}"
                    ) from exc
            except BaseException:
                self.store.close()
                raise
        self.lock = threading.Lock()  # one SQLite connection shared by the bot's threads
        self._probe: sqlite3.Connection | None = None

    def _load(self, expect_model_id: str | None, expect_dim: int | None, expect_backend: str | None) -> None:
        index_dir = self.index_dir
        self.manifest = Manifest.of(self.store, index_dir)
        if self.manifest.format != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the index at {index_dir} has format {self.manifest.format}, this Brief reads format "
                f"{FORMAT_VERSION}; {rebuild_hint(index_dir)}"
            )
        self.expect(expect_model_id, expect_dim, expect_backend)
        segments = self.manifest.segment_list()
        folder = self.folder / SEGMENTS
        try:
            self.store.check()
            gone = self.store.gone()
            self.vectors = SegmentedVectors.load(folder, segments, gone, self.manifest.dim)
            articles, passages = self.store.counts()
        except (RuntimeError, sqlite3.DatabaseError) as exc:
            for segment in segments:  # faiss says "could not open": was it merged away meanwhile?
                if not (folder / segment.name).is_file():
                    raise FileNotFoundError(str(folder / segment.name)) from exc
            raise CorruptIndexError(f"the index at {index_dir} is damaged ({exc}); {rebuild_hint(index_dir)}") from exc
        if (self.manifest.articles, self.manifest.passages) != (articles, passages):
            raise CorruptIndexError(
                f"the index at {index_dir} is inconsistent: its manifest counts {self.manifest.articles} articles and "
                f"{self.manifest.passages} passages, its database {articles} and {passages}; {rebuild_hint(index_dir)}"
            )
        if len(self.vectors) != passages:
            raise CorruptIndexError(
                f"the index at {index_dir} is inconsistent ({len(self.vectors)} vectors for {passages} passages); "
                f"{rebuild_hint(index_dir)}"
            )

    def expect(self, model_id: str | None, dim: int | None = None, backend: str | None = None) -> None:
        """IndexMismatchError unless this version was built with this model (and dimension, and kind of vectors)."""
        m, where = self.manifest, self.index_dir
        if model_id and (m.model_id != model_id or (dim and m.dim != dim)):
            raise IndexMismatchError(
                f"the index at {where} was built with model {m.model_id} ({m.dim} dims) "
                f"but BRIEF_EMBED_MODEL is {model_id}; set BRIEF_EMBED_MODEL back, or {rebuild_hint(where)}"
            )
        check_backend(f"the index at {where}", m.backend, backend, rebuild_hint(where))

    @property
    def version(self) -> str:
        """The version name this reader serves."""
        return self.manifest.version

    @property
    def model_id(self) -> str:
        """The embedding model this version was built with."""
        return self.manifest.model_id

    # --- the CopySource protocol (retrieval/index/corpus.py): `brief migrate` -------------------
    def build_info(self) -> tuple[str, int, str]:
        """The model name, the vectors' dimension and the backend that computed them."""
        return self.manifest.model, self.manifest.dim, self.manifest.backend

    def copy_out(self, batch: int = 500) -> Iterator[list[NewArticle]]:
        """Every article with its passages and vectors, oldest passage first."""
        conn = self.store.conn
        docs = [r[0] for r in conn.execute("SELECT doc_id FROM passages GROUP BY doc_id ORDER BY min(vid)")]
        for i in range(0, len(docs), batch):
            chunk = docs[i : i + batch]
            marks = ",".join("?" * len(chunk))
            articles = conn.execute(f"SELECT {ARTICLE_ROW} FROM articles WHERE doc_id IN ({marks})", chunk).fetchall()
            order = {d: n for n, d in enumerate(chunk)}
            articles.sort(key=lambda a: order[a[0]])
            passages = conn.execute(f"SELECT {PASSAGE_ROW} FROM passages WHERE doc_id IN ({marks})", chunk).fetchall()
            vids = [int(p[0]) for p in passages]
            vectors = dict(zip(vids, self.vectors.reconstruct(vids), strict=True)) if vids else {}
            yield assemble(articles, passages, self.store.sentences(vids), vectors)

    def file_links(self) -> list[FileLink]:
        """Every known file with its articles."""
        links: dict[str, list[str]] = {}
        for path, doc_id in self.store.conn.execute("SELECT path, doc_id FROM file_articles ORDER BY path, doc_id"):
            links.setdefault(path, []).append(doc_id)
        rows = self.store.conn.execute("SELECT path, fingerprint FROM files ORDER BY path")
        return [FileLink(path, fingerprint, tuple(links.get(path, []))) for path, fingerprint in rows]

    def removals(self) -> list[tuple[str, str, str | None, str]]:
        """Articles taken out with `brief rm`."""
        return self.store.removals()

    def is_stale(self) -> bool:
        """True when a newer version has gone live since this reader was opened."""
        try:
            with self.lock:
                if self._probe is None:  # outside any transaction: each read sees the latest commit
                    self._probe = sqlite3.connect(f"file:{self.folder / DATABASE}?mode=ro", uri=True,
                                                  check_same_thread=False)  # fmt: skip
                row = self._probe.execute("SELECT value FROM brief_state WHERE key = 'version'").fetchone()
        except sqlite3.DatabaseError:
            return True  # opening it reports the damage; this reader keeps answering meanwhile
        except OSError:
            return False
        return row is not None and row[0] != self.version

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()
        if self._probe is not None:
            self._probe.close()

    # --- the Corpus protocol (retrieval/index/corpus.py): all the question path reads -----------
    def passage_count(self) -> int:
        """Passages in this version."""
        return len(self.vectors)

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(vid, cosine) of the `k` passages nearest to a normalised query vector."""
        ids, scores = self.vectors.search(vector, k)
        return list(zip(ids, scores, strict=True))

    def keyword_search(self, terms: Sequence[str], k: int, df: Mapping[str, int] | None = None) -> list[tuple[int, float]]:
        """(vid, BM25) of the `k` best keyword matches for any of `terms`."""
        with self.lock:
            return self.store.keyword_search(terms, k, df)

    def cosines(self, vids: Sequence[int], vector: np.ndarray) -> dict[int, float]:
        """Cosine of each passage's stored vector to a query vector."""
        if not vids:
            return {}
        return dict(zip(vids, (self.vectors.reconstruct(list(vids)) @ vector).tolist(), strict=True))

    def passages(self, vids: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages with their article metadata, by vector id."""
        with self.lock:
            return self.store.passages(vids)

    def sentences(self, vids: Sequence[int]) -> dict[int, list[tuple[int, int, np.ndarray]]]:
        """(start, end, vector) of each sentence of these passages, by passage."""
        with self.lock:
            return self.store.sentences(vids)

    def document_frequencies(self, words: Sequence[str]) -> dict[str, int]:
        """Passages containing each word (as the keyword index stems it)."""
        with self.lock:
            return self.store.document_frequencies(words)

    def known_word(self, word: str) -> str | None:
        """The indexed word nearest to an unknown one (a typo), as written in the corpus; None if none is close."""
        with self.lock:
            return self.store.nearest_word(word)


class IndexWriter:
    """Changes the index in one transaction and publishes it with its commit."""

    def __init__(
        self,
        index_dir: Path,
        model: str,
        model_id: str,
        dim: int | None,
        rebuild: bool = False,
        lock_timeout_s: float = 600.0,
        on_wait: Callable[[str], None] | None = None,
        exact_limit: int = EXACT_LIMIT,
        checkpoint: Callable[[str], None] | None = None,
        backend: str = "torch",
    ) -> None:
        self.index_dir = index_dir
        self.backend = backend
        self.model, self.model_id, self.dim = model, model_id, dim
        self.rebuild = rebuild
        self.lock_timeout_s = lock_timeout_s
        self.on_wait = on_wait
        self.exact_limit = exact_limit
        self.checkpoint = checkpoint or (lambda _step: None)
        self._lock_file: Any = None
        self.store: Store | None = None
        self.base: Manifest | None = None
        self.changed = False
        self._delta: VectorIndex | None = None  # the vectors this writer adds
        self._segments: list[Segment] = []  # the live version's
        self._gone: set[int] = set()
        self._written: list[Path] = []  # segment files written but not yet published

    # --- context management -----------------------------------------------------------------
    def __enter__(self) -> IndexWriter:
        self._acquire_lock()
        try:
            self._prepare()
        except BaseException as exc:
            self._close_store(commit=False)
            self._release_lock()
            if _disk_fault(exc):
                raise self._write_failed(exc) from exc
            raise
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is not None and _disk_fault(exc):
                raise self._write_failed(exc) from exc
            if exc_type is None and self.changed:
                try:
                    self._publish()
                except (OSError, RuntimeError, sqlite3.Error) as err:  # RuntimeError: faiss's writes
                    raise self._write_failed(err) from err
        finally:
            self._close_store(commit=False)  # after a publish there is nothing left to roll back
            for path in self._written:  # a failed publish's segments
                path.unlink(missing_ok=True)
            self._release_lock()

    def _close_store(self, commit: bool) -> None:
        if self.store is not None:
            if not commit:
                with suppress(sqlite3.Error):
                    self.store.conn.rollback()
            self.store.close()
            self.store = None

    def _write_failed(self, exc: BaseException) -> IndexWriteError:
        try:
            live = f"the index still serves version {Manifest.read(self.index_dir).version}"
        except (BriefError, OSError, sqlite3.Error):
            live = "no version was published"
        what = "no space left on device" if _disk_fault(exc, full_only=True) else " ".join(str(exc).split())[:200]
        return IndexWriteError(
            f"cannot write the index at {self.index_dir}: {what}; {live}. Free some space (or fix the folder's "
            "permissions) and run the ingest again"
        )

    def _acquire_lock(self) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.index_dir / LOCK, "a+")  # noqa: SIM115 - held until __exit__
        deadline = time.monotonic() + self.lock_timeout_s
        told = False
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._lock_file.close()
                    raise LockTimeoutError(
                        f"another ingest is updating the index at {self.index_dir}; try again when it has finished"
                    ) from None
                if not told and self.on_wait:
                    self.on_wait(f"waiting for another ingest to finish updating {self.index_dir} ...")
                    told = True
                time.sleep(0.2)
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # --- opening ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        (self.index_dir / SEGMENTS).mkdir(exist_ok=True)
        database = self.index_dir / DATABASE
        if (self.index_dir / LEGACY_POINTER).is_file() and not database.exists() and not self.rebuild:
            convert_legacy(self.index_dir)  # (a rebuild starts afresh; the old layout goes after it)
        _remove_legacy(self.index_dir)
        removals: list[tuple[str, str, str | None, str]] = []
        if self.rebuild:
            removals = self._live_removals()
            if not _readable(database):  # a damaged database is what a rebuild is for: start a new one
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{database}{suffix}").unlink(missing_ok=True)
        self.store = Store(database)
        self.store.conn.execute("BEGIN IMMEDIATE")
        self._live: list[Segment] = []  # the live version's segments: kept until a commit unlists them
        if "manifest" in self.store.state():
            try:
                self.base = Manifest.of(self.store, self.index_dir)
                self._live = self.base.segment_list()
            except CorruptIndexError:
                if not self.rebuild:
                    raise
        if self.base is not None and not self.rebuild:
            if self.base.format != FORMAT_VERSION:
                raise IndexMismatchError(
                    f"the index at {self.index_dir} has format {self.base.format}, this Brief writes format "
                    f"{FORMAT_VERSION}; {rebuild_hint(self.index_dir)}"
                )
            check_build(self.base, self.index_dir, self.model_id, self.dim, self.backend)
            self._segments = list(self._live)
            self._gone = set(self.store.gone())
            self.dim = self.base.dim
        if self.rebuild:
            self.store.clear()
            self.store.remember_removals(removals)  # `brief rm` outlives a rebuild
        listed = {s.name for s in self._live}
        for leftover in (self.index_dir / SEGMENTS).iterdir():  # from a killed writer, or merged away earlier
            if leftover.name not in listed:
                leftover.unlink(missing_ok=True)
        self._next_vid = max([self.store.max_vid(), *(s.high for s in self._segments)], default=0) + 1
        self._first_vid = self._next_vid  # ids from here on are this writer's own
        self.changed = self.rebuild

    def _live_removals(self) -> list[tuple[str, str, str | None, str]]:
        legacy = self.index_dir / "versions" / _legacy_name(self.index_dir) / DATABASE
        try:
            if not (self.index_dir / DATABASE).exists() and legacy.is_file():  # an index from an older Brief
                store = Store(legacy, readonly=True)
                try:
                    return store.removals()
                finally:
                    store.close()
            with open_store(self.index_dir) as (_, store):
                return store.removals()
        except (BriefError, sqlite3.Error):  # no index, or a damaged one (what a rebuild is for)
            return []

    def vectors(self, dim: int) -> VectorIndex:
        """The vectors this writer adds (created on first use with `dim` dimensions)."""
        if self._delta is None:
            self._delta = VectorIndex.create(dim)
            self.dim = dim
        return self._delta

    # --- the CorpusWriter protocol (retrieval/index/corpus.py): all ingest writes --------------
    def _open_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the index writer is used outside its `with` block")
        return self.store

    def catalog(self) -> Store:
        """The Catalog queries inside this writer's transaction (`brief rm`)."""
        return self._open_store()

    def fingerprints(self) -> dict[str, str]:
        """Known file paths with the fingerprint they were ingested at."""
        return self._open_store().fingerprints()

    def has_article(self, doc_id: str) -> bool:
        """True if the article text is already indexed."""
        return self._open_store().has_article(doc_id)

    def is_removed(self, doc_id: str) -> bool:
        """True if this article text was taken out with `brief rm`."""
        return self._open_store().is_removed(doc_id)

    def apply(self, changes: Changes) -> Applied:
        """Apply a batch of changes to the open transaction (published when the writer closes)."""
        store = self._open_store()
        for new in changes.added:
            # Passage ids only grow (never reused): a deleted id stays on the deleted list until
            # its segment is merged, and must not hide a new passage.
            vids = store.add_article(new.article, new.passages, new.sentence_vectors, first_vid=self._next_vid)
            self._next_vid += len(vids)
            # The vector of a passage is stored under its row id: that is how search finds its text.
            self.vectors(new.vectors.shape[1]).add(np.asarray(vids, np.int64), new.vectors)
        updated = frozenset(a.doc_id for a in changes.updated if store.update_metadata(a))
        store.remember_removals(changes.removals)
        for link in changes.files:
            store.set_file(link.path, link.fingerprint, link.doc_ids)
        for path in changes.dropped_files:
            store.remove_file(path)
        deleted = tuple(dict.fromkeys([*changes.deleted, *store.orphan_articles()]))
        if deleted:
            vids = store.delete_articles(deleted)
            if self._delta is not None:  # added and deleted by this writer: never published
                self._delta.remove(np.asarray([v for v in vids if v >= self._first_vid], np.int64))
            self._gone.update(v for v in vids if v < self._first_vid)
        self.changed = self.changed or bool(changes.added or changes.removals or updated or changes.files or changes.dropped_files or deleted)
        return Applied(updated, deleted, *self._counts())

    def _counts(self) -> tuple[int, int]:
        """(articles, passages) now: the live version's, plus what was added, less what was deleted
        (counting rows would cost as much as the index is big)."""
        store = self._open_store()
        articles, passages = (self.base.articles, self.base.passages) if self.base and not self.rebuild else (0, 0)
        return (articles + store.added_articles - store.deleted_articles,
                passages + (self._next_vid - self._first_vid) - store.deleted_passages)  # fmt: skip

    @property
    def published_version(self) -> str | None:
        """The version published when the writer closed; None if nothing changed."""
        published = getattr(self, "published", None)
        return published.version if published else None

    # --- publishing -----------------------------------------------------------------------------
    def _publish(self) -> None:
        store = self._open_store()
        number = int(self.base.version[1:]) + 1 if self.base else 1
        segments = list(self._segments)
        if self._delta is not None and len(self._delta):
            delta = self._delta.restructured(self.exact_limit)
            segments.append(self._write(delta, f"{number:06d}-0.faiss", self._first_vid, self._next_vid - 1))
        segments = self._compact(segments, number)
        for path in self._written:
            _fsync(path)
        _fsync(self.index_dir / SEGMENTS)
        self.checkpoint("written")
        articles, passages = self._counts()
        largest = max(segments, key=lambda s: s.count).structure if segments else Structure("flat")
        manifest = Manifest(
            format=FORMAT_VERSION,
            version=f"v{number:06d}",
            model=self.model,
            model_id=self.model_id,
            dim=self.dim or 384,
            articles=articles,
            passages=passages,
            created_at=self.base.created_at if self.base else now_iso(),
            updated_at=now_iso(),
            vectors=asdict(largest),
            backend=self.backend,
            segments=[asdict(s) for s in segments],
        )
        store.set_gone(self._gone)
        store.set_state(manifest=json.dumps(manifest.to_dict()), version=manifest.version)
        store.commit()  # the new version is live from here
        self._written = []
        self.checkpoint("committed")
        self.published = manifest
        listed = {s.name for s in segments}
        for old in self._live:  # merged away or rebuilt: readers still on the old version hold them in memory
            if old.name not in listed:
                (self.index_dir / SEGMENTS / old.name).unlink(missing_ok=True)

    def _write(self, index: VectorIndex, name: str, low: int, high: int) -> Segment:
        path = self.index_dir / SEGMENTS / name
        self._written.append(path)
        index.save(path)
        return Segment(name, len(index), low, high, index.structure)

    def _compact(self, segments: list[Segment], number: int) -> list[Segment]:
        """Merge segments of one size tier, MERGE_FACTOR at a time (and everything when many
        vectors are deleted), so that searches see few segments and a vector is rarely rewritten."""
        stored = sum(s.count for s in segments)
        if segments and len(self._gone) > RECLAIM_SHARE * stored:
            one = self._merge(segments, number, 1)
            return [one] if one else []
        part = 1
        while len(segments) >= MERGE_FACTOR and len({_tier(s.count) for s in segments[-MERGE_FACTOR:]}) == 1:
            one = self._merge(segments[-MERGE_FACTOR:], number, part)
            segments = [*segments[:-MERGE_FACTOR], *([one] if one else [])]
            part += 1
        return segments

    def _merge(self, segments: list[Segment], number: int, part: int) -> Segment | None:
        folder = self.index_dir / SEGMENTS
        inside = {v for v in self._gone if segments[0].low <= v <= segments[-1].high}
        indexes = [VectorIndex.load(folder / s.name, s.structure) for s in segments]
        one = merged(indexes, frozenset(inside), self.exact_limit)
        self._gone -= inside
        for s in segments:
            if folder / s.name in self._written:  # written by this writer and merged at once: never published
                self._written.remove(folder / s.name)
                (folder / s.name).unlink()
        return self._write(one, f"{number:06d}-{part}.faiss", segments[0].low, segments[-1].high) if len(one) else None


def _tier(count: int) -> int:
    """Segments within a factor of MERGE_FACTOR in size share a tier."""
    return int(math.log(max(count, 1), MERGE_FACTOR))


def check_build(manifest: Manifest, index_dir: Path, model_id: str | None, dim: int | None, backend: str | None) -> None:
    """IndexMismatchError unless the index was built with this model (and dimension, and kind of vectors)."""
    if model_id and (manifest.model_id != model_id or (dim and manifest.dim != dim)):
        raise IndexMismatchError(
            f"the index at {index_dir} was built with model {manifest.model_id} ({manifest.dim} dims) "
            f"but BRIEF_EMBED_MODEL is {model_id}; set BRIEF_EMBED_MODEL back, or {rebuild_hint(index_dir)}"
        )
    check_backend(f"the index at {index_dir}", manifest.backend, backend, rebuild_hint(index_dir))


def convert_legacy(index_dir: Path) -> None:
    """Turn a format-3 index (versions/vNNNNNN/ folders, CURRENT naming the live one) into this
    format: its live database and vectors become the database and the first segment. Nothing is
    embedded again; a crash part-way leaves the old index as it was."""
    name = _legacy_name(index_dir)
    live = index_dir / "versions" / name
    try:
        old = json.loads((live / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"the index at {index_dir} is damaged ({exc}); {rebuild_hint(index_dir)}") from exc
    if old.get("format") != 3:
        raise IndexMismatchError(f"the index at {index_dir} has format {old.get('format')}; {rebuild_hint(index_dir)}")
    building = index_dir / f".{DATABASE}.converting"
    building.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{live / DATABASE}?mode=ro", uri=True)
    target = sqlite3.connect(building)
    source.backup(target)
    source.close()
    target.close()
    vectors = VectorIndex.load(live / "vectors.faiss", Structure(**old.get("vectors", {"kind": "flat"})))
    store = Store(building)
    segments = []
    if len(vectors):
        ids, _ = vectors.contents()
        segment = Segment(f"{int(name[1:]):06d}-0.faiss", len(vectors), int(ids.min()), int(ids.max()), vectors.structure)
        shutil.copyfile(live / "vectors.faiss", index_dir / SEGMENTS / segment.name)
        _fsync(index_dir / SEGMENTS / segment.name)
        segments.append(asdict(segment))
    manifest = Manifest(**{**{k: old[k] for k in Manifest.__dataclass_fields__ if k in old},
                           "format": FORMAT_VERSION, "segments": segments})  # fmt: skip
    store.set_state(manifest=json.dumps(manifest.to_dict()), version=manifest.version)
    store.commit()
    store.close()
    _fsync(building)
    os.replace(building, index_dir / DATABASE)  # from here the index is in this format
    _fsync(index_dir)


def _legacy_name(index_dir: Path) -> str:
    try:
        name = (index_dir / LEGACY_POINTER).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return "-"
    return name if VERSION_NAME.fullmatch(name) else "-"


def _remove_legacy(index_dir: Path) -> None:
    if (index_dir / DATABASE).exists():
        (index_dir / LEGACY_POINTER).unlink(missing_ok=True)
        shutil.rmtree(index_dir / "versions", ignore_errors=True)


def _readable(database: Path) -> bool:
    if not database.exists():
        return True
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM passages").fetchone()
            return True
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


def checkpoint_hook(name: str | None) -> Callable[[str], None]:
    """A hook for ingest steps: at the step called `name` it announces itself on stderr and
    blocks forever, so a test can kill -9 the process exactly there. No-op when `name` is None."""

    def hook(step: str) -> None:
        if step == name:
            print(f"CHECKPOINT {step}", file=sys.stderr, flush=True)
            threading.Event().wait()

    return hook


FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
WRITE_ERRNOS = FULL_ERRNOS | {errno.EROFS, errno.EIO}


def _disk_fault(exc: BaseException, full_only: bool = False) -> bool:
    """True for errors of the disk under the index rather than of the data (full, read-only, I/O)."""
    if isinstance(exc, OSError):
        return exc.errno in (FULL_ERRNOS if full_only else WRITE_ERRNOS)
    if isinstance(exc, sqlite3.OperationalError):
        codes = {sqlite3.SQLITE_FULL} if full_only else {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY}
        return getattr(exc, "sqlite_errorcode", None) in codes or (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in codes
    return "No space left on device" in str(exc)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
