"""Date expressions resolved against publication dates, and what questions ask about time."""

from __future__ import annotations

from datetime import date

import pytest

from retrieval.read.dates import resolve
from retrieval.read.temporal import parse_question

D = date.fromisoformat
CASES = [
    # (text, published, expected (start, precision) or None for "stays unresolved")
    ("The strike on Friday was launched", "2021-02-26", ("2021-02-26", "day")),  # a Friday: that day
    ("It happened last Friday", "2021-02-26", ("2021-02-19", "day")),
    ("a drone attacked the base on Thursday night", "2023-03-24", ("2023-03-23", "day")),
    ("the attack took place on Sunday", "2024-02-02", ("2024-01-28", "day")),
    ("That's exactly what happened last night.", "2023-03-24", ("2023-03-23", "day")),
    ("a series of attacks that began at the start of last week", "2023-10-27", ("2023-10-16", "week")),
    ("officials met earlier this month", "2023-10-27", ("2023-10-01", "month")),
    ("the Pentagon said on June 27 that", "2021-06-28", ("2021-06-27", "day")),
    ("In February, the U.S. military launched air strikes", "2021-06-28", ("2021-02-01", "month")),
    ("since 7 October when the war began", "2024-02-02", ("2023-10-07", "day")),  # year rollover
    ("In December, talks collapsed", "2024-01-15", ("2023-12-01", "month")),  # month rollover
    ("Prices rose last month", "2024-01-10", ("2023-12-01", "month")),
    ("It rained yesterday", "2024-01-01", ("2023-12-31", "day")),
    ("since he took office six months ago", "2021-06-28", ("2020-12-01", "month")),
    ("the fire started three days ago", "2022-03-02", ("2022-02-27", "day")),
    ("the 27 October 2023 strikes", "2024-02-02", ("2023-10-27", "day")),
    ("escalated in January 2020 when", "2021-06-28", ("2020-01-01", "month")),
    ("formed in 2014 to fight", "2021-06-28", ("2014-01-01", "year")),
    ("Officials said on June 28, 2021 that", "2023-01-01", ("2021-06-28", "day")),
    ("the attacks have happened recently", "2021-06-28", None),
    ("at the time, nobody knew", "2021-06-28", None),
    ("the council may reconsider; protesters march on", "2021-06-28", None),
    ("some 2,500 U.S. troops and 107 caliber missiles", "2021-06-28", None),
    ("the talks will resume next month", "2021-06-28", None),
]


@pytest.mark.parametrize(("text", "published", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_resolution_table(text: str, published: str, expected: tuple[str, str] | None) -> None:
    mentions = resolve(text, D(published))
    if expected is None:
        assert mentions == []
    else:
        assert [(m.value.isoformat(), m.precision) for m in mentions] == [expected]
        assert text[mentions[0].start : mentions[0].end] == mentions[0].text


def test_without_a_publication_date_only_absolute_dates_resolve() -> None:
    mentions = resolve("On Friday, a year after the 27 October 2023 strikes and in 2014, it ended.", None)
    assert [m.text for m in mentions] == ["27 October 2023", "2014"]


def test_labels() -> None:
    (friday,) = resolve("on Friday", D("2021-02-26"))
    assert friday.label() == "26 Feb 2021" and friday.relative
    (month,) = resolve("In February", D("2021-06-28"))
    assert month.label() == "Feb 2021"


@pytest.mark.parametrize(
    ("question", "when", "order", "after", "before"),
    [
        ("When did Biden first strike Syria?", True, "first", None, None),
        ("when did Biden last strike Syria?", True, "last", None, None),
        # "the most recent strike" names what is asked for: the best sentence about it answers (on
        # SQuAD's 75 "what was the first/last …" questions ordering was right 23 times, the best sentence 47).
        ("What was the most recent strike?", False, None, None, None),
        ("When did the union most recently strike?", True, "last", None, None),
        ("Which strikes happened in 2021?", False, None, "2021-01-01", "2021-12-31"),
        ("Strikes since October 2023", False, None, "2023-10-01", None),
        ("What happened before 2022?", False, None, None, "2021-12-31"),
        ("What happened after 2020?", False, None, "2021-01-01", None),
        ("Attacks between 2019 and 2021", False, None, "2019-01-01", "2021-12-31"),
        ("What aircraft carried out the October 2023 strikes?", False, None, "2023-10-01", "2023-10-31"),
    ],
)
def test_question_time(question: str, when: bool, order: str | None, after: str | None, before: str | None) -> None:
    t = parse_question(question)
    assert (t.asks_when, t.order) == (when, order)
    assert (t.after, t.before) == (after and D(after), before and D(before))
    if order:
        assert "first" not in t.topic.lower() and "last" not in t.topic.lower()
