"""Feeds: RSS and Atom served from 127.0.0.1, pages fetched and indexed once, bad ones reported."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.sources.feeds import USER_AGENT, fetch_feeds
from retrieval.sources.fetcher import FetchPolicy
from retrieval.sources.updates import Updater
from tests.slack_fake import local_server

PAGE = """<html><head><title>{title}</title><meta property="og:site_name" content="Harbour Times"></head>
<body><nav>Home News Sport</nav><article><h1>{title}</h1>{body}</article><footer>Subscribe today</footer></body></html>"""
BODY1 = (
    "<p>The harbour authority in Gdansk said on Tuesday that a new container terminal would open in "
    "June, doubling the port's capacity for deep-sea vessels.</p><p>Officials said the terminal had "
    "cost 1.2 billion zloty and would employ 900 people.</p>"
)
BODY2 = (
    "<p>Ferry crews in Tallinn began a three-day strike on Monday over pay, cancelling most crossings "
    "to Helsinki, the union said.</p><p>The operator said talks would resume on Thursday.</p>"
)


class Site:
    """Feeds and pages on 127.0.0.1, with ETag support, recording every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers.items())))
                body, ctype = site.content(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                etag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server, self.url = local_server(Handler)

    def content(self, path: str) -> tuple[bytes | None, str]:
        u = self.url
        pages = {
            "/rss.xml": (
                f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Times</title>
<link>{u}/</link><description>Ports</description>
<item><title>Gdansk to open deep-sea terminal</title><link>{u}/p1.html</link>
<pubDate>Wed, 05 Mar 2025 08:00:00 GMT</pubDate></item>
<item><title>Gone story</title><link>{u}/missing.html</link><pubDate>Wed, 05 Mar 2025 09:00:00 GMT</pubDate></item>
</channel></rss>""",
                "application/rss+xml",
            ),
            "/atom.xml": (
                f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Baltic Wire</title><id>urn:baltic</id><updated>2025-03-10T10:00:00Z</updated>
<entry><title>Tallinn ferry crews strike</title><link href="{u}/p2.html"/><id>urn:p2</id>
<updated>2025-03-10T10:00:00Z</updated></entry>
<entry><title>Same story, syndicated</title><link href="{u}/p2-copy.html"/><id>urn:p2c</id>
<updated>2025-03-10T11:00:00Z</updated></entry></feed>""",
                "application/atom+xml",
            ),
            "/bad.xml": ("<rss><channel><title>Broken<item><link>nope", "application/rss+xml"),
            "/p1.html": (PAGE.format(title="Gdansk to open deep-sea terminal", body=BODY1), "text/html"),
            "/p2.html": (PAGE.format(title="Tallinn ferry crews strike", body=BODY2), "text/html"),
            "/p2-copy.html": (PAGE.format(title="Tallinn ferry crews strike", body=BODY2), "text/html"),
        }
        if path not in pages:
            return None, "text/plain"
        text, ctype = pages[path]
        return text.encode(), ctype

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


def test_feeds_are_fetched_once_and_problems_reported(
    site: Site, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    articles = tmp_path / "articles"
    feeds = (f"{site.url}/rss.xml", f"{site.url}/atom.xml", f"{site.url}/bad.xml", f"{site.url}/nothing.xml")
    allow = frozenset({site.url.removeprefix("http://")})  # loopback is refused unless allow-listed
    settings = settings.with_(articles_dir=articles, feeds=feeds, feed_allow_hosts=allow)
    brief = Brief(settings, embedder)
    first = Updater(brief).update(fetch=True)
    assert first.fetched is not None
    assert len(first.fetched.saved) == 2  # p1 and p2; the syndicated copy is the same text
    reasons = dict(first.fetched.problems)
    assert reasons[f"{site.url}/missing.html"] == "HTTP 404"
    assert reasons[f"{site.url}/bad.xml"].startswith("malformed feed")
    assert reasons[f"{site.url}/nothing.xml"] == "HTTP 404"
    assert first.ingested.added == 2
    saved = {p.read_text(encoding="utf-8").split("---")[1] for p in first.fetched.saved}
    assert any("title: Gdansk to open deep-sea terminal" in s and "outlet: Harbour Times" in s
               and "published: '2025-03-05'" in s and f"url: {site.url}/p1.html" in s for s in saved)  # fmt: skip

    result = brief.ask("When will the Gdansk container terminal open?")
    cited = result.passages[result.answer.citation - 1]  # type: ignore[union-attr]
    assert (cited.outlet, cited.published, cited.url) == ("Harbour Times", "2025-03-05", f"{site.url}/p1.html")
    assert "Subscribe" not in cited.text and "Sport" not in cited.text

    second = Updater(brief).update(fetch=True)
    assert second.fetched is not None and second.fetched.saved == []
    assert second.fetched.unchanged_feeds == 2  # 304 Not Modified for RSS and Atom
    assert second.ingested.added == 0 and second.ingested.articles_total == 2
    feed_requests = [h for path, h in site.requests if path == "/rss.xml"]
    assert feed_requests[0]["User-Agent"] == USER_AGENT
    assert "If-None-Match" in feed_requests[1]


def test_fetch_survives_an_unreachable_feed(tmp_path: Path) -> None:
    policy = FetchPolicy(allow_hosts=frozenset({"127.0.0.1:9"}))
    report = fetch_feeds(["http://127.0.0.1:9/feed.xml"], tmp_path / "articles", tmp_path / "state.json", policy)
    assert report.saved == [] and report.problems[0][1].startswith("unreachable")
