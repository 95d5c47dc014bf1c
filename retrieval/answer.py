"""The answer: the sentence among the top passages that best answers the question, or none.

Sentences are scored by their cosine to the question plus the share of the question's words
they contain. For questions about time, each sentence carries the date it is about (a date it
mentions, else its article's publication date), and "first"/"last" pick the earliest/latest
among the sentences that are about the question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from retrieval.dates import DateMention, primary
from retrieval.index import IndexReader
from retrieval.search import STOPWORDS, Hit
from retrieval.sentences import sentence_spans
from retrieval.store import query_terms
from retrieval.temporal import FIRST, LAST, TimeQuery

ANSWER_DEPTH = 5  # passages whose sentences compete for the answer line
TEMPORAL_DEPTH = 40  # ... and for questions that order events in time or keep to a period
MIN_COSINE = 0.30  # below this the best sentence is unrelated to the question (MiniLM scale)
COVERAGE_WEIGHT = 0.25  # weight of the question's (IDF-weighted) words found in the sentence
RANK_WEIGHT = 0.04  # a nudge towards sentences of higher-ranked passages
ABOUT_MARGIN = 0.12  # sentences within this of the best count as about the question when ordering ...
ABOUT_COSINE = 0.35  # ... and so do those this close to it that name something the question names
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
HOW_MANY = re.compile(
    r"\bhow\s+(?:many|much)\s+((?:[\w'-]+\s+){0,2}?[\w'-]+?)(?=\s+(?:did|do|does|were|was|are|is|have|has|had|will|would|could)\b|[?,.]|$)",
    re.I,
)
NUMBER = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|millions?)"
COUNT_WEIGHT = 0.1  # "how many X": a sentence that puts a number before X answers the question's type


@dataclass(frozen=True)
class When:
    """The period a sentence is about, and where that came from ("text" or "published")."""

    first: date
    last: date
    precision: str
    source: str


@dataclass(frozen=True)
class AnswerPick:
    """A candidate sentence: its hit, span inside the passage, score, and the date it is about."""

    hit: int
    start: int
    end: int
    text: str
    score: float
    cosine: float
    when: When | None = None
    words: frozenset[str] = frozenset()  # stems of the sentence's words
    paragraph: int = 0  # the article paragraph it is in (1 = the lede)


@dataclass(frozen=True)
class Evidence:
    """What the corpus knows of the question's words: document frequency per term."""

    terms: list[str]
    df: dict[str, int]
    passages: int
    question: str = ""

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
        df = reader.store.document_frequencies(sorted(set(terms) | set(_salient(question))))
    return Evidence(terms, df, max(1, len(reader.vectors)), question)


def candidates(
    reader: IndexReader,
    query_vec: np.ndarray,
    hits: Sequence[Hit],
    evidence: Evidence,
    depth: int = ANSWER_DEPTH,
    use_sentences: bool = True,
    use_coverage: bool = True,
) -> list[AnswerPick]:
    """Every sentence of the top `depth` hits, best first, each with the date it is about.

    Without `use_sentences` each hit offers only its first sentence, scored as its passage.
    """
    weights = {t: evidence.idf(t) for t in evidence.terms}
    total = sum(weights.values()) or 1.0
    counted = _counted(evidence.question)
    picks: list[AnswerPick] = []
    with reader.lock:
        stored = reader.store.sentences([h.passage.vid for h in hits[:depth]]) if use_sentences else {}
    for i, hit in enumerate(hits[:depth]):
        sentences = stored.get(hit.passage.vid, [])
        if not sentences:
            spans = sentence_spans(hit.passage.text) or [(0, len(hit.passage.text))]
            sentences = [(*spans[0], np.zeros(0, np.float32))]
        mentions = hit.passage.dates()
        for a, b, vec in sentences:
            text = hit.passage.text[a:b]
            cosine = float(vec @ query_vec) if vec.size else hit.dense
            found = _stems(text)
            coverage = sum(w for t, w in weights.items() if _stem(t) in found) / total
            score = cosine + (COVERAGE_WEIGHT * coverage if use_coverage else 0.0) + RANK_WEIGHT / (i + 1)
            if counted is not None and use_coverage and counted.search(text):
                score += COUNT_WEIGHT
            when = _when([m for m in mentions if a <= m.start and m.end <= b], hit.passage.published)
            picks.append(AnswerPick(i, a, b, text, score, cosine, when, frozenset(found), hit.passage.paragraph))
    picks.sort(key=lambda p: -p.score)
    return picks


def choose(
    picks: Sequence[AnswerPick],
    hits: Sequence[Hit],
    question: str,
    evidence: Evidence,
    time: TimeQuery,
    floor: bool = True,
) -> AnswerPick | None:
    """The answer among the candidates, or None when nothing clears the relevance floor."""
    if not picks:
        return None
    unknown, named = evidence.unknown_names(question)
    if floor and named and unknown * 2 >= named + 1:
        # Most of what the question names (people, places, numbers) never occurs in the corpus.
        return None
    best = picks[0]
    if floor and max(best.cosine, hits[best.hit].dense) < MIN_COSINE:
        return None
    if not (time.order or time.after or time.before):
        return best
    # About the question: close to the best, or close enough and naming one of its names.
    names = names_in(question)
    pool = [
        p
        for p in picks
        if p.cosine >= MIN_COSINE
        and (p.score >= best.score - ABOUT_MARGIN or (p.cosine >= ABOUT_COSINE and (not names or names & p.words)))
    ]
    dated = [p for p in pool if p.when is not None]
    in_range = [p for p in dated if time.admits(p.when.first, p.when.last)]  # type: ignore[union-attr]
    if time.after or time.before:
        if not in_range:
            return best
        pool = dated = in_range
    if time.order and dated:
        # Among sentences about the same day, one that says "first" (or "last") is the better quote.
        says = FIRST if time.order == "first" else LAST
        if time.order == "first":
            return min(dated, key=lambda p: (p.when.last, p.when.first, *_prefer(p, says, time.asks_when)))  # type: ignore[union-attr]
        return max(dated, key=lambda p: (p.when.first, p.when.last, *(-x for x in _prefer(p, says, time.asks_when))))  # type: ignore[union-attr]
    return pool[0]


def _prefer(p: AnswerPick, says: re.Pattern[str], asks_when: bool) -> tuple[float, ...]:
    """Tie-breaks between sentences about the same period, smaller is better.

    "When" questions ask for the event itself: earlier in its article first (news puts the main
    event in the lede), then the ordering word ("first") in it, a date stated in the sentence,
    relevance. Other questions ("how many ... the first strike") ask about a detail of the
    event: relevance first.
    """
    assert p.when is not None
    if not asks_when:
        return (-p.score, p.paragraph)
    return (p.paragraph, not says.search(p.text), p.when.source != "text", -p.score)


def _when(mentions: list[DateMention], published: str | None) -> When | None:
    m = primary(mentions)
    if m is not None:
        return When(m.value, m.last, m.precision, "text")
    if published:
        day = date.fromisoformat(published)
        return When(day, day, "day", "published")
    return None


def _counted(question: str) -> re.Pattern[str] | None:
    """For "how many X" questions: a pattern for a number followed (within two words) by X."""
    m = HOW_MANY.search(question)
    if not m:
        return None
    head = _stem(m.group(1).split()[-1])
    return re.compile(rf"\b{NUMBER}\s+(?:[\w'-]+\s+){{0,2}}{re.escape(head)}", re.I)


def names_in(question: str) -> set[str]:
    """Stems of the names and numbers in a question, to match against sentence words."""
    return {_stem(n) for n in _salient(question)}


def _salient(question: str) -> list[str]:
    """Proper names and numbers in a question: capitalised words after the first, and digits."""
    # The first word counts too unless it is a stop word ("When", "Which"): topics start with names.
    tokens = WORD.findall(question)
    out = [t.lower() for t in tokens if (t[0].isdigit() or t[0].isupper()) and t.lower() not in STOPWORDS]
    return list(dict.fromkeys(out))


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'")
    for suffix in ("'s", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in WORD.findall(text)}
