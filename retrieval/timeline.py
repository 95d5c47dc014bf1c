"""Timelines: the dated events about a topic, in order, one line each with its citation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from retrieval.answer.pick import AnswerPick, relevance, salient
from retrieval.brief import Brief, Citation, citation, clean_question
from retrieval.read.dates import period_label
from retrieval.read.terms import stems
from retrieval.render import source_line
from retrieval.search.hybrid import Options, Scope
from retrieval.search.question import read_question

DEPTH = 40  # passages searched for events
MIN_COSINE = 0.40  # carried over from the first release, not yet fitted (see answer.about)
RELATIVE = 0.75
MAX_EVENTS = 30


@dataclass(frozen=True)
class Event:
    """One line of a timeline."""

    first: date
    last: date
    precision: str
    text: str
    citation: Citation

    @property
    def label(self) -> str:
        """The event's date in words ("26 Feb 2021", "Feb 2021")."""
        return period_label(self.first, self.precision)


@dataclass(frozen=True)
class Timeline:
    """Events about a topic, oldest first, and relevant passages that carry no date."""

    topic: str
    events: list[Event]
    undated: list[Citation]
    searched: int


def build_timeline(brief: Brief, topic: str) -> Timeline:
    """The dated events about `topic` in the index, one per month, oldest first."""
    topic = clean_question(topic, brief.settings.max_question_chars)
    reader = brief.reader()
    q = read_question(reader, topic)
    hits, picks, _ = brief.find(reader, q, DEPTH, Options(), Scope())
    # About the topic: as for "first"/"last" questions, at least 0.40 close and 75 % of the best relevance.
    top = max((relevance(p) for p in picks), default=0.0)
    names = salient(q, [p.text for p in picks])
    about = [p for p in picks if p.cosine >= MIN_COSINE and relevance(p) >= RELATIVE * top and names & stems(p.text)]
    # A publication date stands in for an article's event only where its text dates none in
    # that month: a report on Friday of a strike on Tuesday must not add a line for Friday.
    text_months: dict[str, set[tuple[int, int]]] = {}
    for p in about:
        if p.when is not None and p.when.source == "text":
            text_months.setdefault(hits[p.hit].passage.doc_id, set()).add(_month(p.when.first))
    # One line per month: the month's best sentence (the lede first, then relevance).
    best: dict[tuple[int, int], AnswerPick] = {}
    undated: dict[int, AnswerPick] = {}
    for p in about:
        if p.when is None:
            undated.setdefault(p.hit, p)
            continue
        key = _month(p.when.first)
        months = text_months.get(hits[p.hit].passage.doc_id)
        if p.when.source == "published" and months and key not in months:
            continue
        if key not in best or (p.paragraph, -p.score) < (best[key].paragraph, -best[key].score):
            best[key] = p
    chosen = sorted(best.values(), key=lambda p: (p.when.first, p.when.last))[:MAX_EVENTS]  # type: ignore[union-attr]
    events = []
    for p in chosen:
        assert p.when is not None
        cited = citation(len(events) + 1, hits[p.hit], (p.start, p.end))
        events.append(Event(p.when.first, p.when.last, p.when.precision, p.text, cited))
    loose = [citation(n, hits[i]) for n, i in enumerate(sorted(undated), start=1)]
    return Timeline(topic, events, loose, reader.passage_count())


def _month(day: date) -> tuple[int, int]:
    return day.year, day.month


def timeline_dict(timeline: Timeline) -> dict[str, object]:
    """JSON-ready timeline: events with their dates and citations, and the undated passages."""
    return {
        "topic": timeline.topic,
        "events": [
            {"date": e.first.isoformat(), "last": e.last.isoformat(), "precision": e.precision, "label": e.label,
             "text": e.text, "citation": e.citation.to_dict()}
            for e in timeline.events
        ],
        "undated": [c.to_dict() for c in timeline.undated],
    }  # fmt: skip


def render_timeline(timeline: Timeline) -> str:
    """Plain text: one line per event (date, sentence, source), then the undated passages."""
    if not timeline.events and not timeline.undated:
        return f"No dated events about “{timeline.topic}” in the corpus."
    lines = [f"Timeline: {timeline.topic}"]
    for n, e in enumerate(timeline.events, start=1):
        source = source_line(e.citation)
        lines.append(f"{e.label:>12}  {' '.join(e.text.split())} [{n}: {source}]")
    if timeline.undated:
        lines.append("Undated but relevant:")
        lines += [f"  - {' '.join(c.text.split())[:200]} [{c.outlet or c.path}]" for c in timeline.undated]
    return "\n".join(lines)
