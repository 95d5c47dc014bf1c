"""The answer: the sentence among the top passages that best answers the question, or none."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.index import IndexReader
from retrieval.search import STOPWORDS, Hit
from retrieval.store import query_terms

ANSWER_DEPTH = 5  # passages whose sentences compete for the answer line
MIN_COSINE = 0.30  # below this the best sentence is unrelated to the question (MiniLM scale)
COVERAGE_WEIGHT = 0.25  # weight of the question's (IDF-weighted) words found in the sentence
RANK_WEIGHT = 0.04  # a nudge towards sentences of higher-ranked passages
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@dataclass(frozen=True)
class AnswerPick:
    """The chosen sentence: which hit it is in, its span inside the passage, and its score."""

    hit: int
    start: int
    end: int
    text: str
    score: float
    cosine: float


@dataclass(frozen=True)
class Evidence:
    """What the corpus knows of the question's words: document frequency per term."""

    terms: list[str]
    df: dict[str, int]
    passages: int

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency."""
        return math.log(1 + (self.passages + 1) / (self.df.get(term, 0) + 0.5))

    def unknown_names(self, question: str) -> tuple[int, int]:
        """(names or numbers in the question the corpus never mentions, names or numbers in it)."""
        names = _salient(question)
        return sum(self.df.get(n, 0) == 0 for n in names), len(names)


def gather_evidence(reader: IndexReader, question: str) -> Evidence:
    """Document frequencies of the question's words in the index."""
    terms = query_terms(question, STOPWORDS)
    with reader.lock:
        df = {t: reader.store.document_frequency(t) for t in set(terms) | set(_salient(question))}
    return Evidence(terms, df, max(1, len(reader.vectors)))


def pick_answer(
    reader: IndexReader,
    question: str,
    query_vec: np.ndarray,
    hits: Sequence[Hit],
    evidence: Evidence,
    use_sentences: bool = True,
) -> AnswerPick | None:
    """The best answering sentence, or None when nothing clears the relevance floor."""
    if not hits:
        return None
    unknown, named = evidence.unknown_names(question)
    if named and unknown * 2 >= named + 1:
        # Most of what the question names (people, places, numbers) never occurs in the corpus.
        return None
    weights = {t: evidence.idf(t) for t in evidence.terms}
    total = sum(weights.values()) or 1.0
    best: AnswerPick | None = None
    for i, hit in enumerate(hits[:ANSWER_DEPTH]):
        with reader.lock:
            sentences = reader.store.sentences(hit.passage.vid) if use_sentences else []
        if not sentences:
            sentences = [(0, len(hit.passage.text), np.zeros(0, np.float32))]
        for a, b, vec in sentences:
            text = hit.passage.text[a:b]
            cosine = float(vec @ query_vec) if vec.size else hit.dense
            found = _stems(text)
            coverage = sum(w for t, w in weights.items() if _stem(t) in found) / total
            score = cosine + COVERAGE_WEIGHT * coverage + RANK_WEIGHT / (i + 1)
            if best is None or score > best.score:
                best = AnswerPick(i, a, b, text, score, cosine)
    if best is None or max(best.cosine, hits[best.hit].dense) < MIN_COSINE:
        return None
    return best


def _salient(question: str) -> list[str]:
    """Proper names and numbers in a question: capitalised words after the first, and digits."""
    tokens = WORD.findall(question)
    out = [
        t.lower()
        for i, t in enumerate(tokens)
        if (t[0].isdigit() or (i > 0 and t[0].isupper())) and t.lower() not in STOPWORDS
    ]
    return list(dict.fromkeys(out))


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'")
    for suffix in ("'s", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in WORD.findall(text)}
