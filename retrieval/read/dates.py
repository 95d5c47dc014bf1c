"""Dates in text: datelines, metadata values, and event dates resolved against publication.

`resolve()` turns "on Friday", "last week", "June 27", "In February", "six months ago" into
absolute periods using the article's publication date; a missing year is the nearest past
occurrence (news reports mostly look back). Expressions that cannot be pinned down stay out,
and nothing is ever resolved against today's date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime

MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
FULL_MONTHS = {calendar.month_name[i].lower() for i in range(1, 13)}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
DATE_PATTERNS = [
    # ISO and its relatives: 2021-02-26, 2021-02-26T17:29:00Z, 2021/02/26, 2021.02.26
    re.compile(r"(?<![\d/.-])" + _YEAR + r"(?P<sep>[-/.])(?P<mnum>[01]\d)(?P=sep)(?P<day>[0-3]\d)(?![\d/.]\d)"),
    re.compile(r"(?<![\w-])" + _DAY + r"\s+" + _MONTH + r",?\s+" + _YEAR + r"\b", re.I),
    re.compile(r"\b" + _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\b", re.I),
    # 26/02/2021 or 02/26/2021: read only when unambiguous (see find_date)
    re.compile(r"(?<![\d/.])(?P<a>[0-3]?\d)(?P<sep>[/.])(?P<b>[0-3]?\d)(?P=sep)" + _YEAR + r"(?![\d/])"),
]

# Event-date expressions, most specific first. Month and weekday names must be capitalised, so
# "may" and "march" as words are not dates.
_CAP_MONTH = (
    r"(?P<month>" + "|".join(sorted({m.capitalize() for m in MONTHS}, key=len, reverse=True)) + r")(?![a-z])\.?"
)
_WEEKDAY = r"(?P<weekday>" + "|".join(w.capitalize() for w in WEEKDAYS) + r")"
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "several": None, "few": None,
}  # fmt: skip
EXPRESSIONS: list[tuple[str, re.Pattern[str]]] = [
    ("full", re.compile(r"\b" + _DAY + r"\s+" + _CAP_MONTH + r",?\s+" + _YEAR + r"\b")),
    ("full", re.compile(r"\b" + _CAP_MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\b")),
    ("full", re.compile(r"\b" + _YEAR + r"-(?P<mnum>[01]\d)-(?P<day>[0-3]\d)\b")),
    ("month_year", re.compile(r"\b" + _CAP_MONTH + r",?\s+" + _YEAR + r"\b")),
    ("day_month", re.compile(r"\b" + _DAY + r"\s+" + _CAP_MONTH + r"(?!\s*,?\s*(?:19|20)\d\d)")),
    ("day_month", re.compile(r"\b" + _CAP_MONTH + r"\s+" + _DAY + r"\b(?!\s*,?\s*(?:19|20)\d\d)(?![:.]\d)")),
    (
        "ago",
        re.compile(
            r"\b(?P<n>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+"
            r"(?P<unit>day|week|month|year)s?\s+ago\b",
            re.I,
        ),
    ),
    ("yesterday", re.compile(r"\byesterday\b", re.I)),
    ("last_night", re.compile(r"\blast\s+night\b", re.I)),
    ("today", re.compile(r"\b(?:today|tonight|this\s+(?:morning|afternoon|evening))\b", re.I)),
    ("last_unit", re.compile(r"\b(?:last|this\s+past|the\s+past|previous)\s+(?P<unit>week|month|year)\b", re.I)),
    ("this_unit", re.compile(r"\b(?:earlier\s+|later\s+)?this\s+(?P<unit>week|month|year)\b", re.I)),
    (
        "weekday",
        re.compile(
            r"\b(?:(?P<last>last)\s+)?"
            + _WEEKDAY
            + r"(?:\s+(?:morning|afternoon|evening|night))?\b(?!\s*,?\s*"
            + _CAP_MONTH
            + r")"
        ),
    ),
    (
        "month",
        re.compile(
            r"\b(?i:in|since|during|by|until|till|before|after|of|from|early|late|mid-?|last|this|earlier\s+in)\s+"
            + _CAP_MONTH
            + r"(?!\s*,?\s*(?:19|20)\d\d)(?!\s+[0-3]?\d\b)"
        ),
    ),
    ("year", re.compile(r"(?<![\d,.$£€#-])\b" + _YEAR + r"\b(?![,.]?\d)")),
]
PRECISION_ORDER = {"day": 0, "week": 1, "month": 2, "year": 3}


@dataclass(frozen=True)
class DateMention:
    """A resolved date expression: where it is, the period it names, and whether it was relative."""

    start: int
    end: int
    text: str
    value: date  # first day of the period
    last: date  # last day of the period
    precision: str  # "day", "week", "month" or "year"
    relative: bool  # needed the publication date (shown with its resolution in brackets)

    def label(self, weekday: bool = False) -> str:
        """Human form: "26 Feb 2021", "week of 19 Oct 2023", "Feb 2021", "2021"."""
        return period_label(self.value, self.precision, weekday=weekday)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "start": self.start, "end": self.end, "text": self.text, "date": self.value.isoformat(),
            "last": self.last.isoformat(), "precision": self.precision, "relative": self.relative,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> DateMention:
        """Inverse of to_dict."""
        return cls(
            int(d["start"]), int(d["end"]), str(d["text"]), date.fromisoformat(str(d["date"])),  # type: ignore[arg-type]
            date.fromisoformat(str(d["last"])), str(d["precision"]), bool(d["relative"]),
        )  # fmt: skip


def period_label(value: date, precision: str, weekday: bool = False, long: bool = False) -> str:
    """A period in words; `long` spells the month out ("26 February 2021")."""
    month = value.strftime("%B" if long else "%b")
    if precision == "day":
        day = f"{value.day} {month} {value.year}"
        return f"{value.strftime('%A')} {day}" if weekday else day
    if precision == "week":
        return f"week of {value.day} {month} {value.year}"
    if precision == "month":
        return f"{month} {value.year}"
    return str(value.year)


def find_date(text: str) -> tuple[date, int, int] | None:
    """The first complete calendar date in `text`, with its span, or None.

    Numeric day/month forms count only when unambiguous: "26/02/2021" is 26 February, "02/26/2021"
    is 26 February, "03/04/2021" is no date at all.
    """
    best: tuple[date, int, int] | None = None
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            found = _calendar_date(m.groupdict())
            if found is None:
                continue
            if best is None or m.start() < best[1]:
                best = (found, m.start(), m.end())
            break
    return best


def _calendar_date(parts: dict[str, str | None]) -> date | None:
    year = int(parts["year"] or 0)
    if parts.get("a"):
        a, b = int(parts["a"] or 0), int(parts["b"] or 0)
        if a > 12 >= b:
            day, month = a, b
        elif b > 12 >= a or a == b:
            day, month = b, a
        else:
            return None
    else:
        month = int(parts["mnum"]) if parts.get("mnum") else MONTHS[(parts["month"] or "").lower()]
        day = int(parts["day"] or 0)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    """A metadata value as a date, or None: a date, ISO 8601 (the day as written, zone kept), RFC 2822, or a written date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        pass
    found = find_date(text)
    return found[0] if found else None


def resolve(text: str, published: date | None) -> list[DateMention]:
    """Every date expression in `text` that can be resolved, in order of appearance."""
    taken: list[tuple[int, int]] = []
    mentions: list[DateMention] = []
    for kind, pattern in EXPRESSIONS:
        for m in pattern.finditer(text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            period = _period(kind, m, published)
            if period is None:
                continue
            value, last, precision, relative = period
            end = m.end()
            if m.group(0).endswith(".") and (m.groupdict().get("month") or "").lower() in FULL_MONTHS:
                end -= 1  # "7 October." ends a sentence; the full stop is not part of the date
            taken.append((m.start(), end))
            mentions.append(DateMention(m.start(), end, text[m.start() : end], value, last, precision, relative))
    return sorted(mentions, key=lambda d: d.start)


# A year (or month and year) used to name a thing rather than to date what the sentence reports:
# "the 1991 law", "Biden's 2020 campaign", "a law passed in 1991", "an agreement from 2015".
_DETERMINER = re.compile(r"(?:\b(?:the|a|an|its|their|his|her|this|that|our|whose|last|next)|['’]s)\s+$", re.I)
_NOUN_AFTER = re.compile(r"^\s+[\w-]+")
_PARTICIPLE = re.compile(
    r"\b(?:a|an|the|its|their|this|that|his|her)\s+(?:[\w-]+\s+){0,2}?"
    r"(?!(?:was|were|is|are|been|be|being|has|have|had|will|would|and|or)\b)[\w-]+\s+"
    r"(?:passed|signed|adopted|enacted|founded|established|built|introduced|created|agreed|reached|approved|"
    r"ratified|formed|opened|written|issued|published|set\s+up|struck|made|drawn\s+up|imposed|brokered)"
    r"\s+(?:back\s+)?(?:in|on)\s+$",
    re.I,
)
_FROM = re.compile(
    r"\b(?!(?:summer|winter|spring|autumn|fall|end|start|beginning|middle|half|quarter|rest|part|course)\b)"
    r"[a-z]{3,}\s+(?:from|dating\s+(?:back\s+)?to|of)\s+$"
)


def attributive(text: str, mention: DateMention) -> bool:
    """True when a year or month in `text` names a thing ("the 1991 law") rather than dates the sentence's event."""
    if mention.precision not in ("year", "month") or mention.relative:
        return False
    before, after = text[max(0, mention.start - 80) : mention.start], text[mention.end :]
    if _DETERMINER.search(before) and _NOUN_AFTER.match(after):
        return True
    return bool(_PARTICIPLE.search(before) or _FROM.search(before))


def primary(mentions: list[DateMention], text: str | None = None) -> DateMention | None:
    """The date a sentence is about: its most precise mention (the earliest of equals) that is not attributive.

    `text` is what the mentions' offsets point into; with it, years that only name a thing are passed over.
    """
    events = [m for m in mentions if text is None or not attributive(text, m)]
    if not events:
        return None
    return min(events, key=lambda d: (PRECISION_ORDER[d.precision], d.start))


def _period(kind: str, m: re.Match[str], pub: date | None) -> tuple[date, date, str, bool] | None:
    g = m.groupdict()
    month = int(g["mnum"]) if g.get("mnum") else (MONTHS[g["month"].lower().rstrip(".")] if g.get("month") else 0)
    try:
        if kind == "full":
            d = date(int(g["year"]), month, int(g["day"]))
            return d, d, "day", False
        if kind == "month_year":
            return (*_month(int(g["year"]), month), "month", False)
        if kind == "year":
            y = int(g["year"])
            return date(y, 1, 1), date(y, 12, 31), "year", False
    except ValueError:
        return None
    if pub is None:
        return None  # everything below needs the publication date
    if kind == "day_month":
        day = int(g["day"])
        for year in (pub.year, pub.year - 1):
            try:
                d = date(year, month, day)
            except ValueError:
                return None
            # Nearest past occurrence; a few days ahead is still this year (previews, schedules).
            if d <= pub + timedelta(days=7):
                return d, d, "day", True
        return None
    if kind == "month":
        year = pub.year if month <= pub.month else pub.year - 1
        return (*_month(year, month), "month", True)
    if kind == "weekday":
        target = WEEKDAYS.index(g["weekday"].lower())
        back = (pub.weekday() - target) % 7
        if g.get("last") and back == 0:
            back = 7
        d = pub - timedelta(days=back)
        return d, d, "day", True
    if kind in ("yesterday", "last_night"):
        d = pub - timedelta(days=1)
        return d, d, "day", True
    if kind == "today":
        return pub, pub, "day", True
    unit = (g.get("unit") or "").lower()
    if kind == "ago":
        n = g["n"].lower()
        count = int(n) if n.isdigit() else _NUMBER_WORDS[n]
        return _shift(pub, unit, -(count or 0))
    if kind == "last_unit":
        return _shift(pub, unit, -1)
    if kind == "this_unit":
        return _shift(pub, unit, 0)
    return None


def _month(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _shift(pub: date, unit: str, n: int) -> tuple[date, date, str, bool]:
    """The day, week (Monday to Sunday), month or year `n` units from the publication date's."""
    if unit == "day":
        d = pub + timedelta(days=n)
        return d, d, "day", True
    if unit == "week":
        monday = pub - timedelta(days=pub.weekday()) + timedelta(weeks=n)
        return monday, monday + timedelta(days=6), "week", True
    if unit == "month":
        index = pub.year * 12 + pub.month - 1 + n
        return (*_month(index // 12, index % 12 + 1), "month", True)
    year = pub.year + n
    return date(year, 1, 1), date(year, 12, 31), "year", True
