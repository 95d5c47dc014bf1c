"""Vector index: normalised passage vectors searched by inner product (faiss lives here only)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class VectorIndex:
    """Exact inner-product search over vectors keyed by int64 ids."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def create(cls, dim: int) -> VectorIndex:
        """An empty index for vectors of `dim` dimensions."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index saved with `save`."""
        return cls(faiss.read_index(str(path)))

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
        scores, ids = self._index.search(np.asarray(query, np.float32).reshape(1, -1), min(k, len(self)))
        keep = ids[0] >= 0
        return ids[0][keep].tolist(), scores[0][keep].tolist()
