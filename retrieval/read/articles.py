"""Articles: a raw document cleaned, with metadata settled and a content-hash id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath

from retrieval.read.cleaning import clean_text, normalize_line
from retrieval.read.dates import parse_date
from retrieval.read.documents import Document, SkipFile
from retrieval.read.webpages import extract_page

PARAGRAPH_SEPARATOR = "\n\n"
# A date in a file name: 2021-02-26-slug.txt, 01_2021-02-26_slug.txt, 20210226-slug.md.
FILE_NAME_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)([-_.]?)([01]\d)\2([0-3]\d)(?!\d)")


@dataclass(frozen=True)
class Article:
    """A clean article: paragraphs joined by blank lines, metadata null where unknown."""

    doc_id: str
    path: str
    record: int | None
    text: str
    title: str | None
    outlet: str | None
    published: date | None
    url: str | None
    author: str | None

    @property
    def paragraphs(self) -> list[str]:
        """The article's paragraphs in order."""
        return self.text.split(PARAGRAPH_SEPARATOR)


def content_id(text: str) -> str:
    """A stable id for a text: the same text gets the same id wherever it comes from."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_article(doc: Document) -> Article:
    """Clean a document into an article; declared metadata wins over what the text suggests."""
    meta = dict(doc.meta)
    text = doc.text
    kind = doc.kind
    if kind == "html":
        page = extract_page(text, url=meta.get("url"))
        if page is None:
            raise SkipFile("no article text found in the HTML")
        for key in ("title", "published", "url", "outlet", "author"):
            if meta.get(key) in (None, "") and getattr(page, key):
                meta[key] = getattr(page, key)
        text, kind = page.text, "text"
    cleaned = clean_text(text, kind)
    paragraphs = cleaned.paragraphs
    title = _str(meta.get("title")) or cleaned.title
    if title and len(paragraphs) > 1 and normalize_line(paragraphs[0]).lower() == normalize_line(title).lower():
        paragraphs = paragraphs[1:]
    if not paragraphs:
        raise SkipFile(_nothing_left(text))
    body = PARAGRAPH_SEPARATOR.join(paragraphs)
    # Declared metadata first, then the text's dateline, then a date in the file name; never today.
    published = parse_date(meta.get("published")) if meta.get("published") else None
    published = published or cleaned.published or date_from_file_name(doc.path)
    return Article(
        doc_id=content_id(body),
        path=doc.path,
        record=doc.record,
        text=body,
        title=title,
        outlet=_str(meta.get("outlet")) or cleaned.outlet,
        published=published,
        url=_str(meta.get("url")) or cleaned.url,
        author=_str(meta.get("author")) or cleaned.author,
    )


def _nothing_left(text: str) -> str:
    """Why a document has no article text: the reason names what the text held."""
    if not any(ch.isalpha() for ch in text):
        return "no words in the text (only numbers or punctuation)"
    snippet = normalize_line(text)[:60]
    return (
        f'no article text left after removing page furniture (the text was only "{snippet}")'
        if len(normalize_line(text)) <= 60
        else "no article text left after removing page furniture"
    )


def date_from_file_name(path: str) -> date | None:
    """The date a file name carries ("2021-02-26-slug.txt", "20210226-slug.md"), or None."""
    for m in FILE_NAME_DATE.finditer(PurePath(path).name):
        try:
            return date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        except ValueError:
            continue
    return None


def _str(value: object) -> str | None:
    if value is None:
        return None
    text = normalize_line(str(value))
    return text or None
