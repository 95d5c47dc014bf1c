"""Hybrid search: FTS5 BM25 and FAISS dense results fused by reciprocal rank fusion."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from retrieval.index import IndexReader
from retrieval.store import StoredPassage, query_terms

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of top ranks
DEPTH = 50  # candidates taken from each retriever before fusion
DUPLICATE_JACCARD = 0.8  # word-set overlap above which two passages count as the same quote
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not of off on once only or other our out over own same she should so some
    such than that the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    according said says tell told much many
    """.split()  # noqa: SIM905
)


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
    coverage: bool = True  # score sentences on the question's words as well as on cosine
    dates: bool = True  # date reasoning: when / first / last / year ranges
    floor: bool = True  # say "no answer" when nothing is relevant enough

    def describe(self) -> str:
        """The non-default switches, e.g. "keyword, no dates"."""
        off = [name for name in ("dedupe", "sentences", "coverage", "dates", "floor") if not getattr(self, name)]
        return ", ".join([self.mode.value] + [f"no {name}" for name in off])


@dataclass(frozen=True)
class Hit:
    """A passage found for a question, with its fused score and per-retriever ranks."""

    passage: StoredPassage
    score: float
    dense: float  # cosine of the passage to the question
    dense_rank: int | None
    keyword_rank: int | None


def search(
    reader: IndexReader,
    question: str,
    query_vec: np.ndarray,
    k: int,
    mode: Mode = Mode.HYBRID,
    depth: int = DEPTH,
    dedupe: bool = True,
    df: Mapping[str, int] | None = None,
) -> list[Hit]:
    """The top `k` distinct passages for a question (`df`: its words' document frequencies, if known)."""
    dense_ranked: list[int] = []
    cosine: dict[int, float] = {}
    keyword_ranked: list[int] = []
    if mode in (Mode.HYBRID, Mode.DENSE):
        ids, scores = reader.vectors.search(query_vec, depth)
        dense_ranked = ids
        cosine = dict(zip(ids, scores, strict=True))
    if mode in (Mode.HYBRID, Mode.KEYWORD):
        with reader.lock:
            keyword_ranked = [
                vid for vid, _ in reader.store.keyword_search(query_terms(question, STOPWORDS), depth, df)
            ]
    fused: dict[int, float] = {}
    for ranked in (dense_ranked, keyword_ranked):
        for rank, vid in enumerate(ranked):
            fused[vid] = fused.get(vid, 0.0) + 1.0 / (RRF_K + rank + 1)
    order = sorted(fused, key=lambda v: (-fused[v], v))
    dense_rank = {vid: r + 1 for r, vid in enumerate(dense_ranked)}
    keyword_rank = {vid: r + 1 for r, vid in enumerate(keyword_ranked)}
    with reader.lock:
        stored = reader.store.passages(order[: k * 3])
    hits: list[Hit] = []
    kept_words: list[set[str]] = []
    for vid in order[: k * 3]:
        passage = stored.get(vid)
        if passage is None:
            continue
        bag = set(re.findall(r"\w+", passage.text.lower()))
        if dedupe and any(_jaccard(bag, other) >= DUPLICATE_JACCARD for other in kept_words):
            continue
        kept_words.append(bag)
        if vid not in cosine:
            cosine[vid] = float(reader.vectors.reconstruct([vid])[0] @ query_vec)
        hits.append(Hit(passage, fused[vid], cosine[vid], dense_rank.get(vid), keyword_rank.get(vid)))
        if len(hits) == k:
            break
    return hits


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))
