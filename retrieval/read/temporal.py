"""What a question asks about time: "when", first or last, and a year or range to keep to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from retrieval.read.dates import MONTHS, _month

WHEN = re.compile(
    r"^\s*(?:when\b|on\s+what\s+(?:date|day)|what\s+(?:date|day|year|month)\b|in\s+what\s+(?:year|month)|how\s+long\s+ago)",
    re.I,
)
FIRST = re.compile(r"\b(?:first|earliest|initial(?:ly)?|began|begin|beginning|start(?:ed)?)\b", re.I)
_UNITS = r"(?:week|weekend|month|year|night|time|\w+day)"
LAST = re.compile(r"\b(?:last|latest|most\s+recent|newest)\b(?!\s+" + _UNITS + r"\b)", re.I)
# Words that place a question near the day it is asked ("recently", "this week", "on Tuesday"), and
# the plans news reports on that day ("soon", "next month", "later this year", "upcoming").
RECENT = re.compile(
    r"\b(?:recent(?:ly)?|lately|latest|newest|currently|so\s+far|just|now|today|tonight|yesterday|this\s+past"
    r"|soon|upcoming|tomorrow|(?:this|last|past|next)\s+" + _UNITS + r"|later\s+this\s+" + _UNITS
    + r"|(?:on|last)\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.I,
)  # fmt: skip
_MONTH = r"(?:(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?\s+)?"
_WHEN = _MONTH + r"(?P<year>(?:19|20)\d\d)"
RANGE = re.compile(
    r"\b(?P<op>in|during|since|after|from|before|until|by|between)?\s*" + _WHEN
    + r"(?:\s+(?:and|to|-)\s+" + _MONTH.replace("month", "month2") + r"(?P<year2>(?:19|20)\d\d))?",
    re.I,
)  # fmt: skip


@dataclass(frozen=True)
class TimeQuery:
    """The temporal side of a question."""

    asks_when: bool = False
    order: str | None = None  # "first" or "last"
    after: date | None = None  # keep events ending on or after this day
    before: date | None = None  # keep events starting on or before this day
    topic: str = ""  # the question with ordering words removed, for relevance scoring
    recent: bool = False  # the question asks about the days before it was asked
    as_of: date | None = None  # the day the question is asked; nothing published after it counts

    def admits(self, first: date, last: date) -> bool:
        """True if a period [first, last] overlaps the question's range."""
        return (self.after is None or last >= self.after) and (self.before is None or first <= self.before)


def parse_question(question: str, as_of: date | None = None) -> TimeQuery:
    """Read "when", first/last, recency and a year or range ("in 2021", "since October 2023") from a question."""
    order = _order(question)
    after = before = None
    for m in RANGE.finditer(question):
        start, end = _span(m.group("month"), m.group("year"))
        op = (m.group("op") or "in").lower()
        if m.group("year2"):
            after, before = start, _span(m.group("month2"), m.group("year2"))[1]
        elif op in ("since", "after", "from"):
            after = start if op != "after" else end + timedelta(days=1)
        elif op in ("before", "until", "by"):
            before = end if op != "before" else start - timedelta(days=1)
        else:
            after, before = start, end
    topic = LAST.sub(" ", FIRST.sub(" ", question)) if order else question
    recent = as_of is not None and bool(RECENT.search(question))
    return TimeQuery(bool(WHEN.search(question)), order, after, before, " ".join(topic.split()), recent, as_of)


# An ordering word asks to order events when it modifies the question's verb ("when did X first
# strike", "was it last seen", "the last time"), not when it describes a thing the question names
# ("its first episode", "the first Super Bowl", "first lady", "over the last 12 months", "since
# the beginning of"): such a question is answered by the sentence about that thing. Measured on
# the dev sets' first/last questions: see the README (Answers, first/last).
_AUXILIARY = re.compile(r"\b(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could)\b", re.I)
_DESCRIBES = re.compile(r"(?:\b(?:the|a|an|its|his|her|their|our|my|your|this|that|these|those|whose|each|every)|['’]s)\s+$", re.I)
_ORDER_WORD = re.compile(
    r"\b(?:first|earliest|initially|last(?!\s+" + _UNITS.replace("|time", "") + r"\b)|latest|most\s+recent(?:ly)?|newest)\b", re.I
)


def _order(question: str) -> str | None:
    """"first" or "last" when the question asks to order events by date (see above), else None."""
    for m in _ORDER_WORD.finditer(question):
        before, after = question[: m.start()], question[m.end() :]
        if re.match(r"\s+times?\b", after) or (
            not _DESCRIBES.search(before)
            and (_AUXILIARY.search(before.split(",")[-1]) or not re.search(r"\w", after))
        ):
            return "first" if FIRST.fullmatch(m.group(0)) else "last"
    return None


def _span(month: str | None, year: str) -> tuple[date, date]:
    y = int(year)
    if month:
        return _month(y, MONTHS[month.lower().rstrip(".")])
    return date(y, 1, 1), date(y, 12, 31)
