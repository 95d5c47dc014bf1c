"""The index folder: versioned, self-describing, swapped atomically, one writer at a time.

    index/
      CURRENT              name of the live version, replaced atomically
      .lock                held by the one writer
      versions/v000007/    manifest.json, brief.sqlite, vectors.faiss

A writer builds the next version beside the live one and switches CURRENT only when it is
complete, so readers (and a crash at any moment) only ever see whole versions.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shlex
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.corpus import ARTICLE_ROW, PASSAGE_ROW, Applied, Changes, FileLink, NewArticle, assemble
from retrieval.embeddings import check_backend
from retrieval.errors import (
    BriefError,
    CorruptIndexError,
    IndexMismatchError,
    IndexWriteError,
    LockTimeoutError,
    NoIndexError,
)
from retrieval.store import Store, StoredPassage, now_iso
from retrieval.vectors import EXACT_LIMIT, Structure, VectorIndex

FORMAT_VERSION = 3  # 2: event dates per passage; 3: vocabulary table
POINTER = "CURRENT"
LOCK = ".lock"
MANIFEST = "manifest.json"
DATABASE = "brief.sqlite"
VECTORS = "vectors.faiss"
VERSION_NAME = re.compile(r"v[0-9]{6,}")
OPTIONAL = {"vectors", "backend"}  # manifest fields older versions lack


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
    vectors: dict[str, Any] = field(default_factory=lambda: {"kind": "flat"})
    backend: str = "torch"  # BRIEF_EMBED_BACKEND that embedded it (absent before issue 13: torch)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Read a version's manifest; CorruptIndexError if missing or malformed."""
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data or k not in OPTIONAL})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            index_dir = folder.parent.parent
            raise CorruptIndexError(
                f"the index at {index_dir} is damaged: version {folder.name} has no valid manifest "
                f"({type(exc).__name__}); {rebuild_hint(index_dir)}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        return dict(self.__dict__)


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


def read_pointer(index_dir: Path) -> str:
    """The version name CURRENT holds; CorruptIndexError when it is not a version name."""
    raw = (index_dir / POINTER).read_bytes()
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        name = ""
    if not VERSION_NAME.fullmatch(name):
        raise CorruptIndexError(
            f"the index at {index_dir} is damaged: {POINTER} does not name a version ({raw[:20]!r}); "
            f"{rebuild_hint(index_dir)}"
        )
    return name


def live_version(index_dir: Path) -> Path:
    """Folder of the live version; NoIndexError when there is none."""
    pointer = index_dir / POINTER
    if not pointer.is_file():
        raise NoIndexError(f"no index at {index_dir}; {build_hint(index_dir)}")
    name = read_pointer(index_dir)
    folder = index_dir / "versions" / name
    if not folder.is_dir():
        raise CorruptIndexError(
            f"the index at {index_dir} points to a missing version {name!r}; {rebuild_hint(index_dir)}"
        )
    return folder


@dataclass(frozen=True)
class Gap:
    """An indexed article without a title or a publication date."""

    path: str
    record: int | None
    title: str | None
    published: str | None


def metadata_gaps(index_dir: Path) -> tuple[Manifest, list[Gap]]:
    """The live version's manifest and its articles lacking a title or a date, read from the
    manifest and SQLite alone: no model, no vectors, so `brief stats` answers at once."""
    with open_store(index_dir) as (manifest, store):
        rows = store.conn.execute(
            "SELECT path, record, title, published FROM articles "
            "WHERE coalesce(trim(title), '') = '' OR published IS NULL ORDER BY path, record"
        ).fetchall()
    return manifest, [Gap(path, record, title or None, published) for path, record, title, published in rows]


@contextmanager
def open_store(index_dir: Path) -> Iterator[tuple[Manifest, Store]]:
    """The live version's manifest and its database, read-only, without the model or the vectors
    (`brief stats`, `list`, `show`, `export`); a damaged database is a CorruptIndexError."""
    folder = live_version(index_dir)
    manifest = Manifest.read(folder)
    try:
        store = Store(folder / DATABASE, readonly=True)
        try:
            yield manifest, store
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
        self.manifest = Manifest.read(self.folder)
        if self.manifest.format != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the index at {index_dir} has format {self.manifest.format}, this Brief reads format "
                f"{FORMAT_VERSION}; {rebuild_hint(index_dir)}"
            )
        self.expect(expect_model_id, expect_dim, expect_backend)
        try:
            self.vectors = VectorIndex.load(self.folder / VECTORS, Structure(**self.manifest.vectors))
            self.store = Store(self.folder / DATABASE, readonly=True)
            self.store.check()
            articles, passages = self.store.counts()
        except (RuntimeError, sqlite3.DatabaseError) as exc:
            raise CorruptIndexError(f"the index at {index_dir} is damaged ({exc}); {rebuild_hint(index_dir)}") from exc
        if (self.manifest.articles, self.manifest.passages) != (articles, passages):
            raise CorruptIndexError(
                f"the index at {index_dir} is inconsistent: its manifest counts {self.manifest.articles} articles and "
                f"{self.manifest.passages} passages, its database {articles} and {passages}; {rebuild_hint(index_dir)}"
            )
        if len(self.vectors) != passages or self.vectors.dim != self.manifest.dim:
            raise CorruptIndexError(
                f"the index at {index_dir} is inconsistent ({len(self.vectors)} vectors for {passages} passages); "
                f"{rebuild_hint(index_dir)}"
            )
        self.lock = threading.Lock()  # one SQLite connection shared by the bot's threads

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
        return self.folder.name

    @property
    def model_id(self) -> str:
        """The embedding model this version was built with."""
        return self.manifest.model_id

    # --- the CopySource protocol (retrieval/corpus.py): `brief migrate` -------------------------
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
            return read_pointer(self.index_dir) != self.version
        except OSError:
            return False
        except CorruptIndexError:
            return True  # opening it reports the damage; this reader keeps answering meanwhile

    def close(self) -> None:
        """Release the database connection."""
        self.store.close()

    # --- the Corpus protocol (retrieval/corpus.py): all the question path reads -----------------
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
    """Builds the next version from the live one (or from scratch) and publishes it atomically."""

    def __init__(
        self,
        index_dir: Path,
        model: str,
        model_id: str,
        dim: int | None,
        rebuild: bool = False,
        lock_timeout_s: float = 600.0,
        keep_versions: int = 2,
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
        self.keep_versions = keep_versions
        self.on_wait = on_wait
        self.exact_limit = exact_limit
        self.checkpoint = checkpoint or (lambda _step: None)
        self._lock_file: Any = None
        self.store: Store | None = None
        self._vectors: VectorIndex | None = None
        self.base: Manifest | None = None
        self.changed = False

    # --- context management -----------------------------------------------------------------
    def __enter__(self) -> IndexWriter:
        self._acquire_lock()
        try:
            self._prepare()
        except BaseException as exc:
            if hasattr(self, "_building"):  # a partial copy must not keep the disk full
                shutil.rmtree(self._building, ignore_errors=True)
            self._release_lock()
            if _disk_fault(exc):  # e.g. no room for the copy of the live database
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
            if self.store is not None:
                self.store.close()
            shutil.rmtree(self._building, ignore_errors=True)
            self._release_lock()

    def _write_failed(self, exc: BaseException) -> IndexWriteError:
        try:
            live = f"the index still serves version {read_pointer(self.index_dir)}"
        except (OSError, CorruptIndexError):
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

    # --- building -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        versions = self.index_dir / "versions"
        versions.mkdir(exist_ok=True)
        for leftover in versions.glob(".building-*"):  # from a writer that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        live: Path | None = None
        removals = self._live_removals() if self.rebuild else []
        if not self.rebuild and (self.index_dir / POINTER).exists():
            reader = IndexReader(self.index_dir, self.model_id, self.dim, self.backend)
            live, self.base = reader.folder, reader.manifest
            reader.close()
        self._number = self._next_number(versions)
        self._building = versions / f".building-v{self._number:06d}"
        self._building.mkdir()
        if live is not None:
            source = sqlite3.connect(f"file:{live / DATABASE}?mode=ro", uri=True)
            target = sqlite3.connect(self._building / DATABASE)
            source.backup(target)
            source.close()
            target.close()
        self.store = Store(self._building / DATABASE)
        self.store.remember_removals(removals)  # `brief rm` outlives a rebuild
        if live is not None and self.base is not None:
            self._vectors = VectorIndex.load(live / VECTORS, Structure(**self.base.vectors))
        self.changed = self.rebuild

    def _live_removals(self) -> list[tuple[str, str, str | None, str]]:
        try:
            with open_store(self.index_dir) as (_, store):
                return store.removals()
        except (BriefError, sqlite3.Error):  # no index, a damaged one (what a rebuild is for), or one from before `brief rm`
            return []

    @staticmethod
    def _next_number(versions: Path) -> int:
        numbers = [int(p.name[1:]) for p in versions.glob("v[0-9]*") if p.name[1:].isdigit()]
        return max(numbers, default=0) + 1

    def vectors(self, dim: int) -> VectorIndex:
        """The vector index being built (created on first use with `dim` dimensions)."""
        if self._vectors is None:
            self._vectors = VectorIndex.create(dim)
            self.dim = dim
        return self._vectors

    # --- the CorpusWriter protocol (retrieval/corpus.py): all ingest writes --------------------
    def _open_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the index writer is used outside its `with` block")
        return self.store

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
        """Apply a batch of changes to the version being built (published when the writer closes)."""
        store = self._open_store()
        for new in changes.added:
            vids = store.add_article(new.article, new.passages, new.sentence_vectors)
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
            self.vectors(self.dim or 384).remove(np.asarray(store.delete_articles(deleted), np.int64))
        self.changed = self.changed or bool(changes.added or changes.removals or updated or changes.files or changes.dropped_files or deleted)
        articles, passages = store.counts()
        return Applied(updated, deleted, articles, passages)

    @property
    def published_version(self) -> str | None:
        """The version published when the writer closed; None if nothing changed."""
        published = getattr(self, "published", None)
        return published.version if published else None

    def _publish(self) -> None:
        assert self.store is not None
        self.store.commit()
        self.checkpoint("committed")
        articles, passages = self.store.counts()
        self.store.close()
        self.store = None
        vectors = self._vectors if self._vectors is not None else VectorIndex.create(self.dim or 384)
        vectors = vectors.restructured(self.exact_limit)
        vectors.save(self._building / VECTORS)
        name = f"v{self._number:06d}"
        manifest = Manifest(
            format=FORMAT_VERSION,
            version=name,
            model=self.model,
            model_id=self.model_id,
            dim=vectors.dim,
            articles=articles,
            passages=passages,
            created_at=self.base.created_at if self.base else now_iso(),
            updated_at=now_iso(),
            vectors=asdict(vectors.structure),
            backend=self.backend,
        )
        write_file(self._building / MANIFEST, (json.dumps(manifest.to_dict(), indent=2) + "\n").encode())
        for item in self._building.iterdir():
            _fsync(item)
        self.checkpoint("written")
        final = self._building.parent / name
        os.rename(self._building, final)
        _fsync(final.parent)
        self.checkpoint("renamed")
        tmp = self.index_dir / f".{POINTER}.tmp"
        write_file(tmp, f"{name}\n".encode())
        _fsync(tmp)
        os.replace(tmp, self.index_dir / POINTER)
        _fsync(self.index_dir)
        self.published = manifest
        self._cleanup(final.parent, name)

    def _cleanup(self, versions: Path, live: str) -> None:
        # Readers hold whole versions open (vectors in memory, SQLite by file handle), so
        # deleting an old folder never breaks a question in flight.
        old = sorted(p for p in versions.glob("v[0-9]*") if p.name != live)
        for folder in old[: max(0, len(old) - (self.keep_versions - 1))]:
            shutil.rmtree(folder, ignore_errors=True)


def checkpoint_hook(name: str | None) -> Callable[[str], None]:
    """A hook for ingest steps: at the step called `name` it announces itself on stderr and
    blocks forever, so a test can kill -9 the process exactly there. No-op when `name` is None."""

    def hook(step: str) -> None:
        if step == name:
            print(f"CHECKPOINT {step}", file=sys.stderr, flush=True)
            threading.Event().wait()

    return hook


def write_file(path: Path, data: bytes) -> None:
    """Write a small file of the index (manifest, pointer): the writer's own file I/O."""
    with open(path, "wb") as f:
        f.write(data)


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
