"""Vector index: normalised passage vectors searched by inner product (faiss lives here only).

Small indexes are searched exactly (a flat index). Past `exact_limit` vectors the index becomes
an IVF index (inverted lists over k-means cells) whose `nprobe` is raised until recall@10
against exact search is at least 0.95 on a sample of the index's own vectors. IVF rather than
HNSW because articles are updated and removed in place, and faiss's HNSW cannot remove vectors.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.inspect_tools import get_invlist

EXACT_LIMIT = 50_000  # below this many vectors exact search is a few milliseconds
TARGET_RECALL = 0.97  # tuned with a margin over the promised 0.95
QUERY_COSINE = 0.3  # calibrated: real SQuAD questions need as many probes as these (bench/scale.py)
RECALL_SAMPLE = 200  # queries used to tune nprobe
REBUILD_GROWTH = 4  # retrain the cells when the index has grown this many times since training


@dataclass(frozen=True)
class Structure:
    """What kind of faiss index is in use, and how it was tuned."""

    kind: str  # "flat" or "ivf"
    nlist: int = 0
    nprobe: int = 0
    trained_on: int = 0
    recall_at_10: float | None = None


class VectorIndex:
    """Inner-product search over vectors keyed by int64 ids; exact or IVF by size."""

    def __init__(self, index: faiss.Index, structure: Structure | None = None) -> None:
        self._index = index
        if structure is None:
            ivf = _ivf(index)
            structure = Structure("ivf", ivf.nlist, ivf.nprobe, int(index.ntotal)) if ivf else Structure("flat")
        self.structure = structure

    @classmethod
    def create(cls, dim: int) -> VectorIndex:
        """An empty exact index for vectors of `dim` dimensions."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), Structure("flat"))

    @classmethod
    def load(cls, path: Path, structure: Structure | None = None) -> VectorIndex:
        """Read an index saved with `save`."""
        return cls(faiss.read_index(str(path)), structure)

    def save(self, path: Path) -> None:
        """Write the index to `path`."""
        faiss.write_index(self._index, str(path))

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids."""
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids (unknown ids are ignored)."""
        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def reconstruct(self, ids: list[int]) -> np.ndarray:
        """The stored vectors for these ids."""
        return np.vstack([self._index.reconstruct(int(i)) for i in ids]) if ids else np.zeros((0, self.dim))

    def search(self, query: np.ndarray, k: int) -> tuple[list[int], list[float]]:
        """Ids and cosine scores of the `k` nearest vectors to one normalised query."""
        if len(self) == 0:
            return [], []
        # One query gains nothing from OpenMP threads, which on a busy machine wait for each other.
        # The setting is the calling thread's own, so an ingest on another thread keeps its threads.
        faiss.omp_set_num_threads(1)
        scores, ids = self._index.search(np.asarray(query, np.float32).reshape(1, -1), min(k, len(self)))
        keep = ids[0] >= 0
        return ids[0][keep].tolist(), scores[0][keep].tolist()

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) stored, in no particular order."""
        ivf = _ivf(self._index)
        if ivf is None:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return ids, self._index.index.reconstruct_n(0, len(self))
        parts = [get_invlist(ivf.invlists, cell) for cell in range(ivf.nlist)]
        ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        codes = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, ivf.code_size), np.uint8)
        return ids.astype(np.int64), codes.view(np.float32).reshape(-1, self.dim)

    def restructured(self, exact_limit: int = EXACT_LIMIT) -> VectorIndex:
        """This index, or a rebuilt one when its size calls for the other structure."""
        n = len(self)
        s = self.structure
        if s.kind == "flat" and n <= exact_limit:
            return self
        if s.kind == "ivf" and exact_limit // 2 <= n <= max(s.trained_on, 1) * REBUILD_GROWTH:
            return self
        ids, vectors = self.contents()
        if n <= exact_limit:
            flat = VectorIndex.create(self.dim)
            flat.add(ids, vectors)
            return flat
        return build_ivf(ids, vectors)


def build_ivf(ids: np.ndarray, vectors: np.ndarray, target_recall: float = TARGET_RECALL, seed: int = 7) -> VectorIndex:
    """An IVF index over the vectors, with nprobe raised until recall@10 reaches the target."""
    n, dim = vectors.shape
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # training and tuning are batch work
    nlist = int(min(4096, max(16, round(math.sqrt(n)))))
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, size=min(n, nlist * 64), replace=False)]
    ivf.train(np.ascontiguousarray(sample, dtype=np.float32))
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # for reconstruct() and remove_ids()
    ivf.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    picks = rng.choice(n, size=min(n, RECALL_SAMPLE), replace=False)
    queries = probe_queries(vectors[picks], rng)
    exact = faiss.IndexFlatIP(dim)
    exact.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, truth = exact.search(queries, 10)
    truth_ids = ids[truth]
    recall = 0.0
    nprobe = 1
    while True:
        ivf.nprobe = nprobe
        _, found = ivf.search(queries, 10)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth_ids, strict=True)]))
        if recall >= target_recall or nprobe >= nlist:
            break
        nprobe = min(nlist, nprobe * 2)
    return VectorIndex(ivf, Structure("ivf", nlist, nprobe, n, round(recall, 4)))


def probe_queries(stored: np.ndarray, rng: np.random.Generator, cosine: float = QUERY_COSINE) -> np.ndarray:
    """Queries for tuning an approximate search: stored vectors moved to a cosine of about
    `cosine` from where they were, then normalised.

    Questions sit between passages: near-copies of stored vectors would make a tiny search look enough.
    """
    sigma = math.sqrt((1 / cosine**2 - 1) / stored.shape[1])
    queries = stored + rng.normal(0, sigma, size=stored.shape).astype(np.float32)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


@dataclass(frozen=True)
class Segment:
    """One immutable file of passage vectors: its name, how many vectors it holds, the lowest and
    highest passage id in it (ids only grow, so the segments hold disjoint, ordered id ranges), and
    how its index was built."""

    name: str
    count: int
    low: int
    high: int
    structure: Structure


class SegmentedVectors:
    """The passage vectors of an index version: immutable segment files, less the ids deleted since
    they were written. Searching asks every segment and merges; an update adds a small segment."""

    def __init__(self, parts: list[tuple[Segment, VectorIndex]], gone: frozenset[int], dim: int) -> None:
        self.parts = parts
        self.gone = gone
        self._dim = dim
        self._lows = [s.low for s, _ in parts]
        # Per segment, how many of its ids are deleted: a search asks it for that many more.
        self._dead = [0] * len(parts)
        for i in gone:
            part = bisect.bisect_right(self._lows, i) - 1
            if part >= 0:
                self._dead[part] += 1

    @classmethod
    def load(cls, folder: Path, segments: list[Segment], gone: frozenset[int], dim: int) -> SegmentedVectors:
        """Read the listed segment files from `folder`."""
        return cls([(s, VectorIndex.load(folder / s.name, s.structure)) for s in segments], gone, dim)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def structure(self) -> Structure:
        """How the largest segment is built (what decides search speed)."""
        return max(self.parts, key=lambda p: len(p[1]))[1].structure if self.parts else Structure("flat")

    def __len__(self) -> int:
        return sum(s.count for s, _ in self.parts) - len(self.gone)

    def search(self, query: np.ndarray, k: int) -> tuple[list[int], list[float]]:
        """Ids and cosine scores of the `k` nearest live vectors to one normalised query."""
        found: list[tuple[float, int]] = []
        for (_, index), dead in zip(self.parts, self._dead, strict=True):
            ids, scores = index.search(query, k + dead)  # deleted ids may take some of the k places
            found += [(s, i) for i, s in zip(ids, scores, strict=True) if not dead or i not in self.gone]
        found.sort(key=lambda r: (-r[0], r[1]))
        return [i for _, i in found[:k]], [s for s, _ in found[:k]]

    def reconstruct(self, ids: list[int]) -> np.ndarray:
        """The stored vectors for these ids."""
        if not ids:
            return np.zeros((0, self.dim), np.float32)
        rows = []
        for i in ids:
            part = bisect.bisect_right(self._lows, int(i)) - 1
            if part < 0 or int(i) in self.gone:
                raise KeyError(f"no vector for passage {i}")
            rows.append(self.parts[part][1].reconstruct([int(i)])[0])
        return np.vstack(rows)


def merged(parts: list[VectorIndex], gone: frozenset[int], exact_limit: int = EXACT_LIMIT) -> VectorIndex:
    """One index holding the live vectors of these segments (oldest first; the first is changed in place):
    the first one with the others added, restructured for its size (a trained IVF keeps its cells
    until it has grown 4 times)."""
    base = parts[0]
    base.remove(np.asarray(sorted(gone), np.int64))
    for index in parts[1:]:
        ids, vectors = index.contents()
        keep = ~np.isin(ids, np.asarray(sorted(gone), np.int64))
        base.add(ids[keep], vectors[keep])
    return base.restructured(exact_limit)
