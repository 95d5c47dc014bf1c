"""Cleaning and metadata detection on held-out text written in the shapes news pages take."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from retrieval.read.articles import build_article
from retrieval.read.cleaning import clean_text, is_residue, residue_score
from retrieval.read.documents import SkipFile, read_file

HELD_OUT = """\
Skip to main content
Menu

Flooding closes Danube ports as river hits record height

Published: 14 September 2024, 18:02 | Updated: 15 September 2024, 07:10

By Anna Kovacs and Peter Horvath

Listen to this article

Loading audio...

Rescue crews in Budapest worked through the night as the Danube\u00a0rose above the level \
reached in 2013, officials said on Saturday.

Share this article
Facebook
Twitter
WhatsApp

Sandbags line the embankment in Budapest
Sandbags line the embankment in Budapest. Photo: Reuters/Bernadett Szabo

Read more: How Europe's rivers are changing

The city's mayor said that
the lower quay would stay closed until Tuesday.

Sign up to our morning newsletter

Subscribe for unlimited access
Already a subscriber? Log in
Get the app
Follow us
Our picks today

Ports upstream in Vienna and Bratislava had already stopped cargo traffic on Friday, \
according to the river authority.

Advertisement

Comments (3)

— floodwatcher
  2 hours ago
  Stay safe everyone.
""".replace("said that\n", "said that \n")  # a trailing space, as pages leave them


def test_furniture_goes_and_content_stays() -> None:
    cleaned = clean_text(HELD_OUT)
    body = "\n".join(cleaned.paragraphs)
    for furniture in ("Listen to", "Loading audio", "Share this", "Read more", "Photo:", "newsletter",
                      "Subscribe", "Log in", "Get the app", "Advertisement", "Comments", "floodwatcher",
                      "Stay safe", "Skip to", "Menu", "Sandbags line"):  # fmt: skip
        assert furniture not in body, furniture
    assert cleaned.paragraphs == [
        "Rescue crews in Budapest worked through the night as the Danube rose above the level reached in 2013, "
        "officials said on Saturday.",
        "The city's mayor said that the lower quay would stay closed until Tuesday.",
        "Ports upstream in Vienna and Bratislava had already stopped cargo traffic on Friday, according to the "
        "river authority.",
    ]


def test_metadata_found_in_the_head() -> None:
    cleaned = clean_text(HELD_OUT)
    assert cleaned.title == "Flooding closes Danube ports as river hits record height"
    assert cleaned.published == date(2024, 9, 14)  # the published date, not the update
    assert cleaned.author == "Anna Kovacs and Peter Horvath"


def test_non_breaking_and_odd_spaces_are_normalised() -> None:
    cleaned = clean_text("Officials\u00a0said  the\u2009talks\u200b would resume on Monday in Geneva after a pause.")
    assert cleaned.paragraphs == ["Officials said the talks would resume on Monday in Geneva after a pause."]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("27 October 2023, 05:29", date(2023, 10, 27)),
        ("2021-02-26", date(2021, 2, 26)),
        ("June 28, 2021", date(2021, 6, 28)),
        ("Posted Sept. 3, 2022 at 9:15 a.m.", date(2022, 9, 3)),
        ("WASHINGTON, March 4, 2019", date(2019, 3, 4)),
    ],
)
def test_datelines(line: str, expected: date) -> None:
    text = f"Storm closes schools across the region\n\n{line}\n\nSchools across the county were closed on Tuesday after heavy snow fell overnight."
    assert clean_text(text).published == expected


def test_unknown_metadata_stays_unknown() -> None:
    text = (
        "The council voted on Tuesday to delay the new tram line by two years, citing rising costs and a "
        "shortage of engineers, according to minutes published after the meeting.\n\n"
        "The decision was criticised by residents who had campaigned for the line since 2015."
    )
    cleaned = clean_text(text)
    assert (cleaned.title, cleaned.published, cleaned.url, cleaned.author) == (None, None, None, None)
    assert len(cleaned.paragraphs) == 2  # a date inside the body is not a dateline


def test_url_in_first_lines() -> None:
    text = "Bridge reopens after repairs\nhttps://news.example.org/bridge-reopens\n\nThe bridge reopened to traffic on Monday."
    cleaned = clean_text(text)
    assert cleaned.url == "https://news.example.org/bridge-reopens"
    assert cleaned.title == "Bridge reopens after repairs"


def test_reader_comment_with_title_is_cut() -> None:
    text = (
        "The minister resigned on Friday after weeks of pressure over the procurement scandal.\n\n"
        "Why did this take so long?\n\n  \u2022 citizen_k\n    3 days ago\n\n    Should have happened months ago."
    )
    assert clean_text(text).paragraphs == [
        "The minister resigned on Friday after weeks of pressure over the procurement scandal."
    ]


def test_wire_credit_ends_the_story() -> None:
    text = (
        "Talks resumed in Doha on Monday, mediators said, after a two-week pause.\n\n"
        "With reporting by Reuters and AFP\n\n"
        "Our journalists report from 40 countries. Support independent journalism today."
    )
    assert clean_text(text).paragraphs == ["Talks resumed in Doha on Monday, mediators said, after a two-week pause."]


def test_markdown_is_flattened() -> None:
    text = "# Port strike ends\n\nDock workers **returned** to work on [Monday](https://x.example) after a deal.\n"
    cleaned = clean_text(text, "markdown")
    assert cleaned.title == "Port strike ends"
    assert cleaned.paragraphs == ["Dock workers returned to work on Monday after a deal."]


def test_bulleted_lists_are_content() -> None:
    text = "The plan has three parts:\n- new buses\n- cheaper fares\n- longer hours"
    assert clean_text(text).paragraphs == [
        "The plan has three parts:",
        "- new buses",
        "- cheaper fares",
        "- longer hours",
    ]


# Prose is never page furniture: encyclopedic records, short factual paragraphs, lists in a body.
@pytest.mark.parametrize(
    "text",
    [
        "The Harrow Valley Railway opened its northern branch on 3 March 1911",
        "- Lakeside Station , Wessex - 1 June 1924",
        "- 1932 . The Glass Orchard , published in The Weekly Review , 4 May 1932",
        "1951–1967 .",
        "Related species are found across the northern hemisphere.",
        "Annually , the Coastal Trust hosts the Tidewater Lecture",
    ],
)
def test_a_short_encyclopedic_record_is_kept(text: str) -> None:
    cleaned = clean_text(text, "json")
    assert cleaned.paragraphs == [text]
    assert cleaned.title is None


def test_a_heading_only_record_is_dropped_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({"text": "Related Articles ."}) + "\n" + json.dumps({"text": "- ( )"}) + "\n")
    reasons = []
    for doc in read_file(path, 10**6).documents:
        with pytest.raises(SkipFile) as info:
            build_article(doc)
        reasons.append(str(info.value))
    assert reasons == [
        'no article text left after removing page furniture (the text was only "Related Articles .")',
        "no words in the text (only numbers or punctuation)",
    ]


def test_a_list_in_the_body_is_kept() -> None:
    text = (
        "Brindle Foods recalled these products on Monday:\n\n"
        "Oat Crunch 400g\nOat Crunch 750g\nHoney Rings 300g\nMuesli Classic\n\n"
        "Customers can return them to any shop for a refund, the company said."
    )
    assert clean_text(text).paragraphs == [
        "Brindle Foods recalled these products on Monday:",
        "Oat Crunch 400g",
        "Oat Crunch 750g",
        "Honey Rings 300g",
        "Muesli Classic",
        "Customers can return them to any shop for a refund, the company said.",
    ]


RESIDUE = [
    "More:Harbour strike enters its second week as talks stall",
    "READ MORE:Why the river keeps flooding the old town",
    "TOP STORIES:Ten things to know before the match on Sunday",
    "► Ferry timetables: what changes from next month",
    "∎ Mayor unveils the new tram map",
    "Contributing: Jo Example, The Daily Example; wire reports",
    "Follow Sam Writer on Twitter: @samwriter",
    "Reach the reporter at sam.writer@example.com or 555-0142.",
    "news.desk@example.org",
    "Sam Writer, sam.writer@example.com",
    "Harbourtown Example News —",
    "Click here for a lighter version of this page that loads faster.",
    "Sign up for our newsletter to get the day's headlines in your inbox.",
    "Video Ad Feedback Flood waters reach the square 01:12 - Source: Example TV",
    "PORT TOWN, ENGLAND - MAY 03: Boats sit in the harbour on May 3, 2022. (Photo by Jo Lens/Agency)",
]


@pytest.mark.parametrize("line", RESIDUE)
def test_residue_lines_are_dropped(line: str) -> None:
    prose = "The harbour master said on Tuesday that the port would reopen once the water level fell."
    assert clean_text(f"{prose}\n\n{line}\n\n{prose.replace('Tuesday', 'Friday')}").paragraphs == [
        prose,
        prose.replace("Tuesday", "Friday"),
    ]
    assert residue_score(line) == 1.0 and is_residue(line)


@pytest.mark.parametrize(
    "line",
    [
        "MORGAN: We will not stop until the bridge is rebuilt.",
        "SENATOR ALVAREZ, CHAIR: The committee will come to order.",
        "By Sam Writer",
        "Harbour Strike Talks Collapse As Unions Walk Out Of Meeting",
        "FACT CHECK: Claims about the bridge closure",
        "Sandbags line the quay. Photo: Jo Lens/Agency",
    ],
)
def test_residue_kinds_are_flagged_for_the_scorer(line: str) -> None:
    assert is_residue(line), line


@pytest.mark.parametrize(
    "line",
    [
        "The harbour master said the port would reopen on Friday after the water level fell.",
        "By the end of the week, the ferries were running again.",
        "► Firefighters evacuated 200 homes on the east bank overnight, officials said on Tuesday.",
        "- 1965 : Coastal Fellowship , University of the North",
        "Note: figures exclude the two islands, which report separately.",
        "A re:Invent session in Las Vegas drew thousands of developers on Monday.",
        "You can sign up for the ferry pass at any harbour office for $12 a month.",
    ],
)
def test_prose_is_not_residue(line: str) -> None:
    assert residue_score(line) < 0.5, line


def test_hard_wrapped_formula_is_not_a_title() -> None:
    text = "Plants take in carbon dioxide (CO\n2) through their leaves and release water as (H\n2O\n) vapour."
    cleaned = clean_text(text, "json")
    assert cleaned.title is None
    assert " ".join(cleaned.paragraphs) == "Plants take in carbon dioxide (CO 2) through their leaves and release water as (H 2O ) vapour."
