"""Web pages: main text and metadata of an HTML article (trafilatura and htmldate live here)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from html.parser import HTMLParser

logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)


@dataclass(frozen=True)
class PageText:
    """The readable text of a page (paragraphs one per line) and its declared metadata."""

    text: str
    title: str | None = None
    published: str | None = None
    url: str | None = None
    outlet: str | None = None
    author: str | None = None


def extract_page(html: str, url: str | None = None) -> PageText | None:
    """Main text and metadata of an HTML page; None when no article text is found."""
    import trafilatura
    from htmldate import find_date

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        as_dict=True,
    )
    if not doc or not (doc.get("text") or "").strip():
        return None
    tags = head_meta(html)
    # The page's own declarations first (article:published_time, og:title, canonical, og:site_name);
    # htmldate without extensive search only trusts markup and URL patterns: no guessing.
    published = (
        tags.get("article:published_time")
        or tags.get("datepublished")
        or doc.get("date")
        or find_date(html, extensive_search=False, original_date=True, url=url)
    )
    return PageText(
        text=doc["text"],
        title=tags.get("og:title") or doc.get("title") or None,
        published=published or None,
        # trafilatura drops a URL's query string; the canonical link is kept as the page declares it.
        url=tags.get("canonical") or tags.get("og:url") or doc.get("url") or url,
        outlet=tags.get("og:site_name") or doc.get("sitename") or None,
        author=doc.get("author") or None,
    )


class _HeadMeta(HTMLParser):
    """Collects <meta property|name|itemprop=... content=...> and <link rel=canonical> of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key and a.get("content"):
                self.found.setdefault(key, a["content"])
        elif tag == "link" and "canonical" in a.get("rel", "").lower().split() and a.get("href", "").startswith("http"):
            self.found.setdefault("canonical", a["href"])


def head_meta(html: str) -> dict[str, str]:
    """Declared metadata of a page: meta tags by property/name (lower-cased) and the canonical URL."""
    parser = _HeadMeta()
    end = html.lower().find("</head>")
    with contextlib.suppress(AssertionError, ValueError):  # a malformed head: keep what was read
        parser.feed(html[: end if end > 0 else 200_000])
    return parser.found
