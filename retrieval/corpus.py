"""The corpus seam: everything the question path reads from an index, as one small protocol.

Search, answering and timelines use only this; `IndexReader` (SQLite + FAISS) implements it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from retrieval.store import StoredPassage


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
