"""Hybrid search: FTS5 BM25 and FAISS dense results fused by reciprocal rank fusion."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

from retrieval.index.corpus import Corpus
from retrieval.index.store import StoredPassage

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of top ranks
DEPTH = 50  # candidates taken from each retriever before fusion
DUPLICATE_JACCARD = 0.8  # word-set overlap above which two passages count as the same quote
_AHEAD: list[ThreadPoolExecutor] = []  # made on first use: importing this module starts no thread


class Mode(StrEnum):
    """Which retrievers run."""

    HYBRID = "hybrid"
    KEYWORD = "keyword"
    DENSE = "dense"


@dataclass(frozen=True)
class Options:
    """Ablation switches shared by `ask` and `eval`: each stage can be turned off to prove its worth."""

    mode: Mode = Mode.HYBRID
    dedupe: bool = True  # collapse near-identical passages
    sentences: bool = True  # answer with the best sentence (else the top passage's first sentence)
    coverage: bool = True  # score sentences with the fitted answer model (else on cosine alone)
    dates: bool = True  # date reasoning: when / first / last / year ranges
    floor: bool = True  # say "no answer" when nothing is relevant enough

    def describe(self) -> str:
        """The non-default switches, e.g. "keyword, no dates"."""
        off = [name for name in ("dedupe", "sentences", "coverage", "dates", "floor") if not getattr(self, name)]
        return ", ".join([self.mode.value] + [f"no {name}" for name in off])


@dataclass(frozen=True)
class Scope:
    """Which passages a search may return: as of a day (nothing published after it), some articles hidden."""

    as_of: date | None = None
    hidden: frozenset[str] = frozenset()  # article ids left out (evaluation's drop-gold variants)

    def admits(self, passage: StoredPassage) -> bool:
        """True if the passage is inside the scope."""
        if passage.doc_id in self.hidden:
            return False
        return self.as_of is None or passage.published is None or passage.published <= self.as_of.isoformat()

    @property
    def narrows(self) -> bool:
        """True if the scope may leave passages out."""
        return bool(self.hidden) or self.as_of is not None


@dataclass(frozen=True)
class Hit:
    """A passage found for a question, with its fused score and per-retriever ranks."""

    passage: StoredPassage
    score: float
    dense: float  # cosine of the passage to the question
    dense_rank: int | None
    keyword_rank: int | None


def reach(depth: int, scope: Scope | None) -> int:
    """How many candidates each retriever returns: a narrowed search looks deeper so that `depth` survive."""
    return depth * 4 if scope is not None and scope.narrows else depth


def keywords_ahead(
    corpus: Corpus,
    terms: Sequence[str],
    df: Mapping[str, int] | None = None,
    scope: Scope | None = None,
    depth: int = DEPTH,
) -> Future[list[tuple[int, float]]]:
    """Start the keyword search on a worker thread, to run while the question is being encoded.

    It needs no vector, and both SQLite (or Postgres) and the model release the GIL, so on a
    machine with a free core a question costs the longer of the two, not their sum.
    """
    if not _AHEAD:
        _AHEAD.append(ThreadPoolExecutor(max_workers=4, thread_name_prefix="brief-keywords"))
    return _AHEAD[0].submit(corpus.keyword_search, list(terms), reach(depth, scope), df)


def search(
    corpus: Corpus,
    terms: Sequence[str],
    query_vec: np.ndarray,
    k: int,
    mode: Mode = Mode.HYBRID,
    depth: int = DEPTH,
    dedupe: bool = True,
    df: Mapping[str, int] | None = None,
    scope: Scope | None = None,
    keywords: Future[list[tuple[int, float]]] | None = None,
) -> list[Hit]:
    """The top `k` distinct passages for a question's `terms` and vector, inside `scope`.

    `keywords` is the keyword search already started with `keywords_ahead` (same terms, depth and scope).
    """
    scope = scope or Scope()
    wide = reach(depth, scope)
    dense_ranked: list[int] = []
    cosine: dict[int, float] = {}
    keyword_ranked: list[int] = []
    if mode in (Mode.HYBRID, Mode.DENSE):
        found = corpus.dense_search(query_vec, wide)
        dense_ranked = [vid for vid, _ in found]
        cosine = dict(found)
    if mode in (Mode.HYBRID, Mode.KEYWORD):
        matched = keywords.result() if keywords is not None else corpus.keyword_search(list(terms), wide, df)
        keyword_ranked = [vid for vid, _ in matched]
    stored = corpus.passages(list(dict.fromkeys(dense_ranked + keyword_ranked)))
    if scope.narrows:
        dense_ranked = [v for v in dense_ranked if v in stored and scope.admits(stored[v])][:depth]
        keyword_ranked = [v for v in keyword_ranked if v in stored and scope.admits(stored[v])][:depth]
    fused: dict[int, float] = {}
    for ranked in (dense_ranked, keyword_ranked):
        for rank, vid in enumerate(ranked):
            fused[vid] = fused.get(vid, 0.0) + 1.0 / (RRF_K + rank + 1)
    order = sorted(fused, key=lambda v: (-fused[v], v))
    dense_rank = {vid: r + 1 for r, vid in enumerate(dense_ranked)}
    keyword_rank = {vid: r + 1 for r, vid in enumerate(keyword_ranked)}
    missing = [v for v in order[: k * 3] if v not in cosine]
    cosine.update(corpus.cosines(missing, query_vec))
    hits: list[Hit] = []
    kept_words: list[set[str]] = []
    for vid in order[: k * 3]:
        passage = stored.get(vid)
        if passage is None:
            continue
        bag = set(re.findall(r"\w+", passage.text.lower()))
        if dedupe and _duplicate(bag, kept_words):
            continue
        kept_words.append(bag)
        hits.append(Hit(passage, fused[vid], cosine[vid], dense_rank.get(vid), keyword_rank.get(vid)))
        if len(hits) == k:
            break
    return hits


def _duplicate(bag: set[str], kept: list[set[str]]) -> bool:
    """True when `bag` overlaps one of `kept` by at least DUPLICATE_JACCARD (word-set Jaccard)."""
    n = len(bag)
    for other in kept:
        m = len(other)
        # |a & b| / |a | b| <= min/max of the sizes: most pairs are ruled out without a set operation.
        if min(n, m) / max(n, m, 1) < DUPLICATE_JACCARD:
            continue
        common = len(bag & other)
        if common / max(1, n + m - common) >= DUPLICATE_JACCARD:
            return True
    return False
