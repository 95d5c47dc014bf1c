"""The answer: the sentence among the found passages most likely to hold the answer, or none.

Every sentence of the candidate passages is described by features a person can check (its
cosine to the question, the question's words it covers, whether it has the kind of thing the
question asks for, where it stands in its article, whether it is page residue, how recent it is
for "this week" questions) and scored by small gradient-boosted trees fitted on public QA data
(`bench/train_answer.py`, parameters in `retrieval/fitted/`). The score is a probability that the
sentence holds the answer: below the fitted threshold Brief says it has no answer. For "first"
and "last" questions the answer is the earliest (latest) dated sentence among those above it.
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cache

import numpy as np

from retrieval.fitted import AnswerModel, answer_model
from retrieval.index.corpus import Corpus
from retrieval.read.cleaning import residue_score
from retrieval.read.dates import DateMention, primary
from retrieval.read.sentences import sentence_spans
from retrieval.read.temporal import FIRST, LAST, WHEN
from retrieval.read.terms import STOPWORDS, WORD, stem, stems, words
from retrieval.search.hybrid import Hit
from retrieval.search.question import Question

POOL_DEPTH = 30  # passages whose sentences compete for the answer line
HOW_MANY = re.compile(r"\bhow\s+(?:many|much)\b", re.I)
NUMBER = re.compile(
    r"(?:[$£€]\s?)?\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?"
    r"|thousands?|millions?|billions?)\b",
    re.I,
)
WHO = re.compile(r"^\s*(?:who|whom|whose)\b|\bwhich\s+(?:person|man|woman|star|player|leader|politician|company|country)\b", re.I)
WHERE = re.compile(r"^\s*where\b|\bwhich\s+(?:city|country|state|place|region|continent|town|park)\b", re.I)
# "Which show ...", "what country ...": the answer is most often a name.
WHICH = re.compile(r"\b(?:which|what)\s+(?!(?:is|was|are|were|did|does|do|has|have|had|will|would|can|could)\b)[a-z]+", re.I)
NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w’'-]+)*")
BM25_K1, BM25_B, SENTENCE_WORDS = 1.2, 0.75, 25.0  # the usual BM25 constants; a news sentence's length

FEATURES = (
    "cosine",  # sentence to question (MiniLM, late-chunked in its paragraph)
    "passage_cosine",  # the sentence's passage to the question
    "coverage",  # IDF-weighted share of the question's words in the sentence
    "passage_coverage",  # ... in the passage
    "bm25",  # the sentence's own BM25 for the question's words, as a share of the most it could be (scale-free)
    "rarest",  # the sentence has the question's rarest word the corpus knows
    "novel",  # share of the sentence's content words the question does not use
    "type_asked",  # the question asks for a number, date, person, place or other name ("which show")
    "type_found",  # ... and the sentence has one (a name the question does not use, for names)
    "type_near",  # 1 / (1 + words between such a thing and the nearest question word): "85 targets"
    "fused",  # the passage's reciprocal-rank-fusion score, times 60
    "rank",  # 1 / the passage's rank
    "both_retrievers",  # keyword and dense search both found the passage
    "lede",  # the passage is the article's first paragraph
    "paragraph",  # log of the paragraph number
    "first_sentence",  # the sentence opens its passage
    "length",  # log of the sentence's words
    "residue",  # page residue: link lists, credits, transcript labels
    "question_like",  # the sentence is itself a question
    "recent_days",  # log days between publication and the as-of day, for "recently"/"this week" questions
    "recent_unknown",  # ... where the publication date is unknown
    "unknown_words",  # IDF share of the question's words the corpus never uses
    "cosine_behind",  # how far the sentence's cosine is behind the best candidate's
    "coverage_behind",  # ... its coverage
    "bm25_behind",  # ... its BM25
)
RELATIVE = {"cosine_behind": "cosine", "coverage_behind": "coverage", "bm25_behind": "bm25"}

# What the whole candidate list says about whether the corpus answers the question at all: how
# sure the best sentence is, how far ahead of the best sentence of another passage, and how much
# of the question the closest sentences and passages cover. The fitted answerable model turns
# them into P(the answer line holds the answer): "no answer" below its threshold.
QUESTION_FEATURES = (
    "best",  # the best sentence's probability
    "second",  # the best probability among other passages' sentences
    "best_margin",  # best - second
    "log_ratio",  # log(best / second)
    "top5_sum",  # sum of the five best probabilities
    "close",  # sentences within half of the best probability
    "max_cosine",
    "max_passage_cosine",
    "max_coverage",
    "max_passage_coverage",
    "best_cosine",  # the best sentence's own features
    "best_coverage",
    "best_passage_coverage",
    "best_bm25",
    "best_rarest",
    "unknown_words",
    "type_asked",
    "best_type_found",
    "rarest_share",  # share of candidates with the question's rarest known word
    "max_bm25",
)


log = logging.getLogger(__name__)


@cache
def fitted_model(model_id: str, precision: str = "fp32") -> AnswerModel | None:
    """The fitted answer model for this embedding model and precision if it was fitted on these
    FEATURES and QUESTION_FEATURES; None (with a warning) if there is none or it is stale."""
    model = answer_model(model_id, precision)
    if model is not None and (model.features != FEATURES or model.question_features != QUESTION_FEATURES):
        log.warning("the answer model for %s was fitted on other features; refit it with "
                    "`python bench/train_answer.py`", model_id)  # fmt: skip
        return None
    return model


@dataclass(frozen=True)
class When:
    """The period a sentence is about, and where that came from ("text" or "published")."""

    first: date
    last: date
    precision: str
    source: str


@dataclass(frozen=True)
class AnswerPick:
    """A candidate sentence: its hit, span inside the passage, probability, and the date it is about."""

    hit: int
    start: int
    end: int
    text: str
    score: float  # probability that the sentence holds the answer (or cosine, without the model)
    cosine: float
    when: When | None = None
    paragraph: int = 0  # the article paragraph it is in (1 = the lede)
    features: tuple[float, ...] = ()


def candidates(
    corpus: Corpus,
    query_vec: np.ndarray,
    hits: Sequence[Hit],
    question: Question,
    model: AnswerModel | None,
    depth: int = POOL_DEPTH,
    use_sentences: bool = True,
) -> list[AnswerPick]:
    """Every sentence of the top `depth` hits, most probable answer first, each with the date it is about.

    Without a model sentences are ranked by cosine alone; without `use_sentences` each hit offers
    only its first sentence.
    """
    hits = hits[:depth]
    stored = corpus.sentences([h.passage.vid for h in hits]) if use_sentences else {}
    rows: list[tuple[int, int, int, str, float, When | None, int, list[float]]] = []
    weights = {stem(t): question.idf(t) for t in question.terms}
    total = sum(weights.values()) or 1.0
    known = [t for t in question.terms if question.df.get(t)]
    rarest = stem(max(known, key=question.idf)) if known else None
    asked = _asked_type(question.text)
    q_stems = stems(question.text)
    unknown = question.unknown_share()
    q_terms = set(weights)
    for i, hit in enumerate(hits):
        p = hit.passage
        sentences = stored.get(p.vid, [])
        if not sentences:
            spans = sentence_spans(p.text) or [(0, len(p.text))]
            sentences = [(*spans[0], np.zeros(0, np.float32))]
        mentions = p.dates()
        said = [WORD.findall(p.text[a:b]) for a, b, _ in sentences]
        said_stems = [[stem(w) for w in ws] for ws in said]
        p_found = set().union(*said_stems) if _tiles(p.text, sentences) else stems(p.text)
        p_cov = sum(w for t, w in weights.items() if t in p_found) / total
        recent = _recent_days(question, p.published)
        for n, (a, b, vec) in enumerate(sentences):
            text = p.text[a:b]
            ws, sts = said[n], said_stems[n]
            found = set(sts)
            cosine = float(vec @ query_vec) if vec.size else hit.dense
            content = [s for w, s in zip(ws, sts, strict=True) if w.lower() not in STOPWORDS]
            x = [
                cosine,
                hit.dense,
                sum(w for t, w in weights.items() if t in found) / total,
                p_cov,
                _bm25(sts, weights) / total,
                float(rarest is not None and rarest in found),
                sum(s not in q_stems for s in content) / max(1, len(content)),
                float(asked is not None),
                float(asked is not None and _has_type(asked, text, q_stems, mentions, a, b)),
                _type_near(asked, text, sts, q_terms, mentions, a) if asked is not None else 0.0,
                hit.score * 60,
                1.0 / (i + 1),
                float(hit.dense_rank is not None and hit.keyword_rank is not None),
                float(p.paragraph == 1),
                math.log(max(1, p.paragraph)),
                float(n == 0),
                math.log(1 + len(ws)),
                residue_score(text),
                float(text.rstrip().endswith("?")),
                recent[0],
                recent[1],
                unknown,
            ]
            when = _when([m for m in mentions if a <= m.start and m.end <= b], p.published, p.text)
            rows.append((i, a, b, text, cosine, when, p.paragraph, x))
    if not rows:
        return []
    matrix = np.zeros((len(rows), len(FEATURES)), dtype=np.float64)
    matrix[:, : len(rows[0][7])] = [r[7] for r in rows]
    for name, of in RELATIVE.items():
        column = matrix[:, FEATURES.index(of)]
        matrix[:, FEATURES.index(name)] = column.max() - column
    scores = model.probabilities(matrix) if model is not None else matrix[:, 0]
    picks = [
        AnswerPick(i, a, b, text, float(s), cosine, when, paragraph, tuple(x))
        for (i, a, b, text, cosine, when, paragraph, _), s, x in zip(rows, scores, matrix.tolist(), strict=True)
    ]
    picks.sort(key=lambda p: -p.score)
    return picks


def question_features(picks: Sequence[AnswerPick]) -> list[float]:
    """QUESTION_FEATURES of a candidate list sorted most probable first (see `candidates`)."""
    x = np.asarray([p.features for p in picks], dtype=np.float64)
    f = {name: x[:, i] for i, name in enumerate(FEATURES)}
    p = np.asarray([p.score for p in picks], dtype=np.float64)
    best = picks[0]
    second = next((q.score for q in picks if q.hit != best.hit), 0.0)
    return [
        p[0], second, p[0] - second, math.log(p[0] + 1e-6) - math.log(second + 1e-6) if second else 5.0,
        float(p[:5].sum()), float((p > 0.5 * p[0]).sum()),
        float(f["cosine"].max()), float(f["passage_cosine"].max()), float(f["coverage"].max()),
        float(f["passage_coverage"].max()),
        f["cosine"][0], f["coverage"][0], f["passage_coverage"][0], f["bm25"][0], f["rarest"][0],
        f["unknown_words"][0], f["type_asked"][0], f["type_found"][0],
        float((f["rarest"] > 0).mean()), float(f["bm25"].max()),
    ]  # fmt: skip


def rerank(hits: Sequence[Hit], picks: Sequence[AnswerPick], blend: float = 0.0) -> tuple[list[Hit], list[AnswerPick]]:
    """Passages ordered by their best sentence's score plus `blend` times their share of the top fused score.

    `blend` is fitted on the dev sets (gold passage in the top 5); picks are renumbered to the new order.
    """
    best: dict[int, float] = {}
    for p in picks:
        best.setdefault(p.hit, p.score)
    top = max((h.score for h in hits), default=1.0) or 1.0
    key = {i: best.get(i, 0.0) + blend * hits[i].score / top for i in range(len(hits))}
    order = sorted(range(len(hits)), key=lambda i: (i not in best, -key[i], i))
    new = {old: n for n, old in enumerate(order)}
    return [hits[i] for i in order], [replace(p, hit=new[p.hit]) for p in picks]


def choose(
    picks: Sequence[AnswerPick], question: Question, answerable: float = 1.0, threshold: float = 0.0,
    share: float | None = None,
) -> AnswerPick | None:  # fmt: skip
    """The answer among the candidates, or None when P(answerable) is below the fitted threshold.

    For time-range questions ("in 2005", "before 2019") the answer is the best sentence dated in
    the range among those within the fitted `share` of the best probability; for first/last
    questions, the earliest (latest) dated sentence about the question (see `about`).
    """
    if not picks or answerable < threshold:
        return None
    best = picks[0]
    time = question.time
    if not (time.order or time.after or time.before):
        return best
    pool = about(picks, question, None if time.order else share)
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


# Which sentences are about the event a first/last question (or a timeline) orders by date: carried
# over from the first release, not fitted. No public dev set has questions that order events across
# articles (SQuAD's "first"/"last" questions are best answered by the best sentence alone, and a
# share fitted on them leaves nothing to order); see the README's Known limits.
ABOUT_MIN_COSINE = 0.30  # below this the best sentence is unrelated to the question (MiniLM's scale)
ABOUT_MARGIN = 0.12
ABOUT_COSINE = 0.35


def relevance(p: AnswerPick) -> float:
    """The first release's relevance of a sentence: cosine, plus a quarter of its coverage, plus a rank nudge."""
    x = dict(zip(FEATURES, p.features, strict=True))
    return x["cosine"] + 0.25 * x["coverage"] + 0.04 * x["rank"]


def salient(question: Question, texts: Sequence[str]) -> set[str]:
    """Stems of the question's words that the corpus writes as names: capitalised in most of their
    occurrences in `texts` (not at a sentence start), whatever case the question used."""
    names = set()
    for term in question.terms:
        found = [m for t in texts for m in re.finditer(rf"(?<![.!?]\s)(?<!^)\b{re.escape(term)}\b", t, re.I)]
        if found and sum(m.group(0)[0].isupper() for m in found) * 2 > len(found):
            names.add(stem(term))
    return names


def about(picks: Sequence[AnswerPick], question: Question, share: float | None = None) -> list[AnswerPick]:
    """Sentences about the question, for ordering by date: with the fitted `share`, those at least
    that share of the best probability; without it (no fitted model), the first release's rule:
    close to the most relevant one, or close enough and naming one of the question's rarer words."""
    if not picks:
        return []
    if share is not None:
        return [p for p in picks if p.score >= share * picks[0].score]
    top = max(relevance(p) for p in picks)
    names = salient(question, [p.text for p in picks])
    pool = [
        p for p in picks
        if p.cosine >= ABOUT_MIN_COSINE
        and (relevance(p) >= top - ABOUT_MARGIN or (p.cosine >= ABOUT_COSINE and names & stems(p.text)))
    ]  # fmt: skip
    return pool or [picks[0]]


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


def _when(mentions: list[DateMention], published: str | None, text: str) -> When | None:
    m = primary(mentions, text)
    if m is not None:
        return When(m.value, m.last, m.precision, "text")
    if published:
        day = date.fromisoformat(published)
        return When(day, day, "day", "published")
    return None


def _asked_type(question: str) -> str | None:
    """What kind of answer the question asks for: "number", "date", "person", "place" or "name"."""
    if HOW_MANY.search(question) or re.search(r"\bhow\s+(?:long|old|far|big|large|soon)\b|\bwhat\s+(?:percentage|share|number|amount)\b", question, re.I):
        return "number"
    if WHEN.search(question):
        return "date"
    if WHO.search(question):
        return "person"
    if WHERE.search(question):
        return "place"
    if WHICH.search(question):
        return "name"
    return None


def _has_type(asked: str, text: str, q_stems: set[str], mentions: list[DateMention], a: int, b: int) -> bool:
    if asked == "number":
        return bool(NUMBER.search(text))
    if asked == "date":
        return any(a <= m.start and m.end <= b for m in mentions)
    # A person or place: a capitalised name the question does not already use (not the sentence's first word).
    for m in NAME.finditer(text):
        if m.start() == 0 and " " not in m.group(0):
            continue
        if not {stem(w) for w in words(m.group(0))} <= q_stems:
            return True
    return False


def _tiles(text: str, sentences: Sequence[tuple[int, int, np.ndarray]]) -> bool:
    """True when the sentences cover the text but for white space between them (so their words are its words)."""
    end = 0
    for a, b, _ in sentences:
        if a < end or text[end:a].strip() or (0 < a == end and text[a - 1].isalnum() and text[a].isalnum()):
            return False
        end = b
    return not text[end:].strip()


def _type_near(asked: str, text: str, sts: list[str], q_stems: set[str], mentions: list[DateMention], a: int) -> float:
    """1 / (1 + the words between a thing of the asked type and the nearest question word), 0 without one.

    `sts` are the stems of the sentence's words (WORD matches), in order.
    """
    asked_at = [i for i, s in enumerate(sts) if s in q_stems]
    if not asked_at:
        return 0.0
    spans = [m.span() for m in WORD.finditer(text)]
    if asked == "number":
        found = [(m.start(), m.end()) for m in NUMBER.finditer(text)]
    elif asked == "date":
        found = [(m.start - a, m.end - a) for m in mentions if a <= m.start and m.end - a <= len(text)]
    else:
        found = [(m.start(), m.end()) for m in NAME.finditer(text)
                 if m.start() > 0 and not {stem(w) for w in words(m.group(0))} <= q_stems]  # fmt: skip
    starts = [s for s, _ in spans]
    ends = [e for _, e in spans]
    best = None
    for s, e in found:
        # The words overlapping [s, e) are a run: those ending after s and starting before e.
        lo, hi = bisect_right(ends, s), bisect_left(starts, e) - 1
        if lo > hi:
            continue
        gaps = [max(lo - j, j - hi) for j in asked_at if not lo <= j <= hi]
        if gaps and (best is None or min(gaps) < best):
            best = min(gaps)
    return 0.0 if best is None else 1.0 / (1.0 + best)


def _bm25(sentence_stems: list[str], weights: dict[str, float]) -> float:
    counts: dict[str, int] = {}
    for s in sentence_stems:
        if s in weights:
            counts[s] = counts.get(s, 0) + 1
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(sentence_stems) / SENTENCE_WORDS)
    return sum(weights[t] * c * (BM25_K1 + 1) / (c + norm) for t, c in counts.items())


def _recent_days(question: Question, published: str | None) -> tuple[float, float]:
    """(log days from publication to the as-of day, publication unknown) for recency questions; else zeros."""
    time = question.time
    if not time.recent or time.as_of is None:
        return 0.0, 0.0
    if not published:
        return 0.0, 1.0
    return math.log1p(max(0, (time.as_of - date.fromisoformat(published)).days)), 0.0

