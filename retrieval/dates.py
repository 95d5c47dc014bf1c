"""Absolute dates found in text: datelines and metadata values."""

from __future__ import annotations

import re
from datetime import date

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
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
DATE_PATTERNS = [
    re.compile(r"\b" + _YEAR + r"-(?P<mnum>[01]\d)-(?P<day>[0-3]\d)\b"),
    re.compile(r"\b" + _DAY + r"\s+" + _MONTH + r",?\s+" + _YEAR + r"\b", re.I),
    re.compile(r"\b" + _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\b", re.I),
]


def find_date(text: str) -> tuple[date, int, int] | None:
    """The first complete calendar date in `text`, with its span, or None."""
    best: tuple[date, int, int] | None = None
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = m.groupdict()
            month = int(parts["mnum"]) if parts.get("mnum") else MONTHS[parts["month"].lower()]
            try:
                found = date(int(parts["year"]), month, int(parts["day"]))
            except ValueError:
                continue
            if best is None or m.start() < best[1]:
                best = (found, m.start(), m.end())
            break
    return best


def parse_date(value: object) -> date | None:
    """A metadata value (ISO string, date, or a written date) as a date, or None."""
    if value is None:
        return None
    if isinstance(value, date):
        return value
    found = find_date(str(value))
    return found[0] if found else None
