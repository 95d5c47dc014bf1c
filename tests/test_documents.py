"""Reading article files: formats, declared metadata, and bad files skipped with a reason."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from retrieval.read.articles import build_article
from retrieval.read.documents import SkipFile, discover, load_sidecar, read_file

MB = 1024 * 1024
BODY = "The harbour authority said on Monday that the new terminal would open in the spring of next year."


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\n\t \n", "no text"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("latin.txt", bytes(range(128, 256)) * 4, "undecodable"),
        ("broken.json", '{"text": "unterminated', "invalid JSON"),
        ("notext.json", '{"title": "No body here"}', "no `text`"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, name: str, data: str | bytes, reason: str) -> None:
    path = write(tmp_path / name, data)
    with pytest.raises(SkipFile, match=reason):
        read_file(path, 5 * MB)


def test_huge_file_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "huge.txt", BODY * 200)
    with pytest.raises(SkipFile, match="too large"):
        read_file(path, max_bytes=1000)


def test_cp1252_text_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "legacy.txt", "The minister\x92s caf\xe9 visit \x96 a surprise.".encode("latin-1"))
    (doc,) = read_file(path, MB).documents
    assert doc.text == "The minister’s café visit – a surprise."


def test_front_matter_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.md",
        f"---\ntitle: Terminal to open\noutlet: Port News\npublished: 2024-03-05\nurl: https://port.example/t\n---\n{BODY}\n",
    )
    article = build_article(read_file(path, MB).documents[0])
    assert (article.title, article.outlet, article.published, article.url) == (
        "Terminal to open", "Port News", date(2024, 3, 5), "https://port.example/t",
    )  # fmt: skip
    assert article.text == BODY


def test_jsonl_records_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": BODY, "title": "One", "source": "Wire", "date": "March 5, 2024"}),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps({"text": "A second article about the ferry timetable changing from the first of May onwards."}),
    ]
    read = read_file(write(tmp_path / "feed.jsonl", "\n".join(lines)), MB)
    assert [d.record for d in read.documents] == [1, 4]
    assert [reason for _, reason in read.skipped] == ["invalid JSON (Expecting property name enclosed in double quotes)",
                                                      "record has no `text` string"]  # fmt: skip
    first = build_article(read.documents[0])
    assert (first.title, first.outlet, first.published) == ("One", "Wire", date(2024, 3, 5))


def test_json_list(tmp_path: Path) -> None:
    data = [{"text": BODY, "title": "A"}, {"text": BODY.replace("spring", "autumn"), "title": "B"}]
    read = read_file(write(tmp_path / "list.json", json.dumps(data)), MB)
    assert [d.meta["title"] for d in read.documents] == ["A", "B"]


def test_sources_jsonl_supplies_metadata(tmp_path: Path) -> None:
    write(tmp_path / "story.txt", BODY)
    write(tmp_path / "sources.jsonl", json.dumps({"file": "story.txt", "title": "Given", "outlet": "Herald",
                                                  "published": "2022-01-09", "url": None}))  # fmt: skip
    sidecar = load_sidecar(tmp_path)
    article = build_article(read_file(tmp_path / "story.txt", MB, sidecar["story.txt"]).documents[0])
    assert (article.title, article.outlet, article.published, article.url) == (
        "Given",
        "Herald",
        date(2022, 1, 9),
        None,
    )


def test_discover_is_recursive_and_skips_metadata_and_hidden(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", BODY)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b.html", "<html></html>")
    write(tmp_path / "sub" / "notes.odt", "x")
    write(tmp_path / "sources.jsonl", "")
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git" / "c.txt", BODY)
    write(tmp_path / ".DS_Store", "x")
    files, passed = discover([tmp_path, tmp_path / "nope.txt"])
    assert sorted(p.name for p in files) == ["a.txt", "b.html"]
    assert [(Path(p).name, r.split(";")[0]) for p, r in passed] == [
        ("notes.odt", "unsupported format (.odt)"), ("nope.txt", "no such file or folder"),
    ]  # fmt: skip


HTML = """<!DOCTYPE html><html><head>
<title>Ferry operator cancels winter routes | Coast Daily</title>
<meta property="og:title" content="Ferry operator cancels winter routes">
<meta property="og:site_name" content="Coast Daily">
<meta property="article:published_time" content="2023-11-02T08:30:00Z">
<link rel="canonical" href="https://coast.example/ferry-winter">
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>Ferry operator cancels winter routes</h1>
<p>The island ferry operator said on Thursday it would cancel three winter routes because of a shortage of crew, leaving two islands with a single weekly sailing.</p>
<p>Islanders said the decision would cut them off from hospitals on the mainland, and the regional council called an emergency meeting for next week.</p>
<p>The company blamed new rules on rest periods, which it said made it impossible to staff night crossings with its current workforce.</p>
</article>
<footer>Copyright 2023 Coast Daily. All rights reserved. Subscribe to our newsletter.</footer>
</body></html>"""


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    read = read_file(write(tmp_path / "ferry.html", HTML), MB)
    article = build_article(read.documents[0])
    assert article.title == "Ferry operator cancels winter routes"
    assert article.outlet == "Coast Daily"
    assert article.published == date(2023, 11, 2)
    assert article.url == "https://coast.example/ferry-winter"
    assert article.paragraphs[0].startswith("The island ferry operator said on Thursday")
    assert len(article.paragraphs) == 3
    assert "Subscribe" not in article.text and "Sport" not in article.text
