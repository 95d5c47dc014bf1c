"""A question as Brief reads it: its words checked against the corpus, typos mended, its time read."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from retrieval.fitted import background
from retrieval.index.corpus import Corpus
from retrieval.read.temporal import TimeQuery, parse_question
from retrieval.read.terms import TIME_WORDS, query_terms

PRIOR_PASSAGES = 1000  # the weight of the background word statistics, in passages
GREETING = re.compile(r"^(?:(?:hi|hello|hey|hiya|good\s+(?:morning|afternoon|evening)|please|thanks)\b[\s,!.:;-]*)+", re.I)
MIN_TYPO_LENGTH = 4  # shorter unknown words are left alone: too many real words are one edit apart


@dataclass(frozen=True)
class Question:
    """What the pipeline needs of a question: search text, term statistics and time."""

    text: str  # as asked
    search: str  # what is searched for: unknown words replaced by the corpus word they were taken for
    terms: tuple[str, ...]  # words worth matching (no stop words, no time words)
    df: Mapping[str, int]  # passages holding each term
    passages: int  # passages in the corpus
    time: TimeQuery = field(default_factory=TimeQuery)
    corrections: tuple[tuple[str, str], ...] = ()  # (as typed, as searched)

    def idf(self, term: str) -> float:
        """Inverse document frequency of a term, its corpus count smoothed by general prose's."""
        # The background counts as PRIOR_PASSAGES passages: it decides on a folder of a few
        # articles (where "place" looks as rare as "Jordan") and fades on a big archive.
        total, background_df = background()
        expected = PRIOR_PASSAGES * background_df.get(term, 0) / total
        return math.log(1 + (self.passages + PRIOR_PASSAGES + 1) / (self.df.get(term, 0) + expected + 0.5))

    def unknown_share(self) -> float:
        """The IDF-weighted share of the question's words that no passage uses."""
        total = sum(self.idf(t) for t in self.terms)
        return sum(self.idf(t) for t in self.terms if not self.df.get(t)) / total if total else 0.0

    @property
    def topic(self) -> str:
        """The text relevance is judged on: the searched text without ordering words when the question orders."""
        return self.time.topic if self.time.order else self.search


def read_question(corpus: Corpus, text: str, as_of: date | None = None, dates: bool = True) -> Question:
    """Look a question's words up in the corpus, replace unknown words by their nearest known word, read its time."""
    # "hello, when did ...": a greeting is not part of the question (nor a word to mend or match).
    text = GREETING.sub("", text) or text
    terms = [t for t in query_terms(text) if t not in TIME_WORDS]
    df = corpus.document_frequencies(terms)
    search, corrections = text, []
    for term in terms:
        if df.get(term) or len(term) < MIN_TYPO_LENGTH or not term.isalpha():
            continue
        known = corpus.known_word(term)
        if known and known != term:
            search = re.sub(rf"\b{re.escape(term)}\b", known, search, flags=re.I)
            corrections.append((term, known))
    if corrections:
        terms = [t for t in query_terms(search) if t not in TIME_WORDS]
        df = corpus.document_frequencies(terms)
    time = parse_question(search, as_of) if dates else TimeQuery(topic=search)
    return Question(text, search, tuple(terms), df, max(1, corpus.passage_count()), time, tuple(corrections))
