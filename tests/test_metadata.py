"""Metadata from the layouts people keep news in: header blocks, file names, front matter, JSON keys, HTML.

All text here is written for these tests (held out from the dev data the rules were tuned on).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from retrieval.read.articles import Article, build_article, date_from_file_name
from retrieval.read.dates import find_date, parse_date
from retrieval.read.documents import read_file

MB = 1024 * 1024
TITLE = "Night trains return to the Alpine route after a decade"
URL = "https://rail.example.net/2023/05/04/night-trains-return?ref=home_page"
BODY = (
    "The first sleeper service in ten years left Zurich on Thursday evening, carrying about 300 passengers "
    "towards Vienna, the operator said.\n\n"
    "Tickets for the summer sold out within days, and the company said it would add carriages in July."
)


def article(tmp_path: Path, name: str, text: str) -> Article:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return build_article(read_file(path, MB).documents[0])


@pytest.mark.parametrize(
    "head",
    [
        f"{TITLE}\n2023-05-04\n{URL}",
        f"{URL}\nBy Lena Hofer\n{TITLE}\nPublished Thursday, May 4, 2023 5:29 PM ET\nUpdated May 5, 2023",
        f"Alpine Courier\n{TITLE}\nThu, 04 May 2023 17:29:00 GMT\nSource: {URL}\nLena Hofer, Alpine Courier",
        f"{TITLE}\n\nBy Lena Hofer\n\n2023-05-04T17:29:00Z\n\n{URL}",
        f"Updated: May 6, 2023\n{URL}\nPublished: May 4, 2023\n{TITLE}",
    ],
    ids=["title-date-url", "url-byline-title-published", "outlet-rfc2822-author", "separate-blocks", "updated-first"],
)
def test_plain_text_header_block_in_any_order(tmp_path: Path, head: str) -> None:
    got = article(tmp_path, "story.txt", f"{head}\n\n{BODY}\n")
    assert (got.title, got.published, got.url) == (TITLE, date(2023, 5, 4), URL)
    assert got.text == BODY  # the header lines are metadata, not article text


def test_author_and_outlet_lines(tmp_path: Path) -> None:
    got = article(tmp_path, "story.txt", f"Alpine Courier\n{TITLE}\n4 May 2023\nLena Hofer, Alpine Courier\n\n{BODY}")
    assert (got.author, got.outlet) == ("Lena Hofer", "Alpine Courier")
    byline = article(tmp_path, "b.txt", f"{TITLE}\nBy Lena Hofer and Marc Weber\nMay 4, 2023\n\n{BODY}")
    assert byline.author == "Lena Hofer and Marc Weber"


def test_title_with_its_own_punctuation_in_a_header_block(tmp_path: Path) -> None:
    title = "Fares are up again. Here is what a ticket to Vienna costs ..."
    got = article(tmp_path, "story.txt", f"{title}\n2023-05-04\n{URL}\n\n{BODY}")
    assert got.title == title


def test_markdown_heading_and_link_line(tmp_path: Path) -> None:
    got = article(tmp_path, "2023-05-04-night-trains.md", f"# {TITLE}\n\n<{URL}>\n\n{BODY}\n")
    assert (got.title, got.published, got.url) == (TITLE, date(2023, 5, 4), URL)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2021-02-26-slug.txt", date(2021, 2, 26)),
        ("01_2021-02-26_slug.txt", date(2021, 2, 26)),
        ("20210226-slug.md", date(2021, 2, 26)),
        ("report_2021.02.26.txt", date(2021, 2, 26)),
        ("notes-2021-13-45.txt", None),  # not a calendar date
        ("12345678901.txt", None),
    ],
)
def test_date_from_file_name(name: str, expected: date | None) -> None:
    assert date_from_file_name(f"/news/{name}") == expected


def test_file_name_date_only_when_the_text_has_none(tmp_path: Path) -> None:
    assert article(tmp_path, "2021-02-26-trains.txt", f"{TITLE}\n\n{BODY}").published == date(2021, 2, 26)
    dated = article(tmp_path, "2021-02-26-other.txt", f"{TITLE}\nMarch 3, 2021\n\n{BODY}")
    assert dated.published == date(2021, 3, 3)  # the text's own date wins over the file name
    declared = article(
        tmp_path, "2021-02-26-fm.md", f"---\npublished: 2020-01-02\n---\n{TITLE}\nMarch 3, 2021\n\n{BODY}"
    )
    assert declared.published == date(2020, 1, 2)  # declared metadata wins over both


def test_nothing_guessed_from_today(tmp_path: Path) -> None:
    got = article(tmp_path, "story.txt", f"{TITLE}\n\n{BODY}")
    assert (got.published, got.url) == (None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-02-26", date(2021, 2, 26)),
        ("2021-02-26T17:29:00Z", date(2021, 2, 26)),
        ("2021-02-26T23:30:00-05:00", date(2021, 2, 26)),  # the day as written, not moved to UTC
        ("2021/02/26", date(2021, 2, 26)),
        ("Fri, 26 Feb 2021 17:29:00 GMT", date(2021, 2, 26)),
        ("Friday, February 26, 2021 5:29 PM ET", date(2021, 2, 26)),
        ("Feb. 26, 2021", date(2021, 2, 26)),
        ("26/02/2021", date(2021, 2, 26)),
        ("02/26/2021", date(2021, 2, 26)),
        ("03/04/2021", None),  # 3 April or 4 March: ambiguous, so no date
        ("PB4Y-2 September 1944", None),  # "2" belongs to a model name
        ("version 1.2.2021", None),
    ],
)
def test_written_date_forms(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected
    found = find_date(f"Posted {text}")
    assert (found[0] if found else None) == expected


def test_front_matter_key_spellings(tmp_path: Path) -> None:
    text = f"---\nheadline: {TITLE}\npubDate: Thu, 04 May 2023 08:00:00 +0200\nlink: {URL}\nauthors: [Lena Hofer, Marc Weber]\n---\n{BODY}\n"
    got = article(tmp_path, "a.md", text)
    assert (got.title, got.published, got.url, got.author) == (TITLE, date(2023, 5, 4), URL, "Lena Hofer, Marc Weber")


@pytest.mark.parametrize(
    "record",
    [
        {"headline": TITLE, "publishedAt": "2023-05-04T06:00:00Z", "link": URL},
        {"title": TITLE, "date_published": "2023-05-04", "url": URL},
        {"headline": TITLE, "publish_date": "2023/05/04", "canonical_url": URL},
        {"headline": TITLE, "pubDate": "Thu, 04 May 2023 06:00:00 GMT", "permalink": URL},
        {"Headline": TITLE, "DatePublished": "May 4, 2023", "Link": URL},
    ],
    ids=["newsapi", "date_published", "publish_date", "rss-style", "capitalised"],
)
def test_json_key_spellings(tmp_path: Path, record: dict[str, object]) -> None:
    full = {**record, "source": {"id": None, "name": "Alpine Courier"}, "authors": ["Lena Hofer"], "text": BODY}
    got = article(tmp_path, "feed.jsonl", json.dumps(full) + "\n")
    assert (got.title, got.published, got.url) == (TITLE, date(2023, 5, 4), URL)
    assert (got.outlet, got.author) == ("Alpine Courier", "Lena Hofer")


def test_html_meta_tags_win_and_keep_the_query(tmp_path: Path) -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY.split("\n\n"))
    page = (
        "<html><head><title>Trains | Alpine Courier</title>"
        f'<meta property="og:title" content="{TITLE}">'
        '<meta property="og:site_name" content="Alpine Courier">'
        '<meta property="article:published_time" content="2023-05-04T22:10:00-04:00">'
        f'<link rel="canonical" href="{URL}"></head>'
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{TITLE}</h1>{paragraphs}</article></body></html>"
    )
    got = article(tmp_path, "page.html", page)
    assert (got.title, got.published, got.url, got.outlet) == (TITLE, date(2023, 5, 4), URL, "Alpine Courier")


def test_dateline_line_inside_prose_stays_prose(tmp_path: Path) -> None:
    text = f"{TITLE}\n2023-05-04\n\nThe vote is due on June 8, 2023.\n\n{BODY}"
    got = article(tmp_path, "story.txt", text)
    assert got.published == date(2023, 5, 4)
    assert got.paragraphs[0] == "The vote is due on June 8, 2023."


@pytest.mark.parametrize(
    "title",
    ["Most popular ferry routes of the summer, ranked", "Photos: Night trains cross the Alps", "Opinion: Why sleeper trains matter"],
)
def test_headlines_that_start_like_furniture_are_titles_in_a_header(tmp_path: Path, title: str) -> None:
    got = article(tmp_path, "story.txt", f"{title}\n2023-05-04\n{URL}\n\n{BODY}")
    assert (got.title, got.outlet) == (title, None)
