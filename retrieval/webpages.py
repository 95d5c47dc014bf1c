"""Web pages: main text and metadata of an HTML article (trafilatura and htmldate live here)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    # htmldate without extensive search only trusts markup and URL patterns: no guessing.
    published = doc.get("date") or find_date(html, extensive_search=False, original_date=True, url=url)
    return PageText(
        text=doc["text"],
        title=doc.get("title") or None,
        published=published or None,
        url=doc.get("url") or url,
        outlet=doc.get("sitename") or None,
        author=doc.get("author") or None,
    )
