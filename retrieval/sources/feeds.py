"""Feeds: RSS/Atom entries fetched, their pages' main text saved as article files.

Each new entry's page is downloaded politely (a user agent, conditional requests on the feed)
and guardedly (`retrieval.sources.fetcher`: http(s) and public addresses only, bounded time and size; the
feed XML parsed with entity expansion off), its text and metadata extracted (the feed's title, link and date first, the page's
own metadata where the feed lacks it) and saved under `<articles>/feeds/<site>/` as Markdown
with front matter, so that a rebuild from the folder replays it. Entries are deduplicated by
URL and by content hash; one bad feed or page is reported and never stops the others.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import logging
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import yaml
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_xml

from retrieval.read.webpages import extract_page
from retrieval.sources.fetcher import Fetcher, FetchFailed, FetchPolicy

log = logging.getLogger(__name__)
USER_AGENT = "Brief/0.1 (news briefing bot; polite polling)"
STATE_FILE = "feeds-state.json"


@dataclass
class FetchReport:
    """What one round of feed polling did."""

    feeds: int = 0
    saved: list[Path] = field(default_factory=list)
    unchanged_feeds: int = 0
    known_entries: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)

    def summary(self) -> str:
        """A few human lines."""
        lines = [
            f"feeds polled: {self.feeds} ({self.unchanged_feeds} unchanged); new articles saved: {len(self.saved)}; "
            f"entries already known: {self.known_entries}; problems: {len(self.problems)}"
        ]
        lines += [f"  {url}: {reason}" for url, reason in self.problems]
        return "\n".join(lines)


class FeedState:
    """Per-feed validators (ETag, Last-Modified) and the URLs and texts already saved."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data: dict[str, Any] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("feed state %s unreadable; starting afresh", path)
        self.validators: dict[str, dict[str, str]] = data.get("validators", {})
        self.urls: set[str] = set(data.get("urls", []))
        self.hashes: set[str] = set(data.get("hashes", []))

    def save(self) -> None:
        """Write the state atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"validators": self.validators, "urls": sorted(self.urls), "hashes": sorted(self.hashes)}
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(self.path)


def fetch_feeds(
    feed_urls: list[str], articles_dir: Path, state_path: Path, policy: FetchPolicy | None = None
) -> FetchReport:
    """Poll every feed once and save the new entries' pages as article files."""
    state = FeedState(state_path)
    report = FetchReport()
    fetcher = Fetcher(policy or FetchPolicy())
    for feed_url in feed_urls:
        report.feeds += 1
        try:
            _poll(feed_url, fetcher, articles_dir, state, report)
        except Exception as exc:  # one bad feed never stops the others
            log.warning("feed %s failed: %s", feed_url, exc)
            report.problems.append((feed_url, f"failed: {exc}"))
    state.save()
    return report


def _poll(feed_url: str, fetcher: Fetcher, articles_dir: Path, state: FeedState, report: FetchReport) -> None:
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    }
    validators = state.validators.get(feed_url, {})
    if validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators.get("modified"):
        headers["If-Modified-Since"] = validators["modified"]
    try:
        feed = fetcher.get(feed_url, headers)
    except FetchFailed as exc:
        if exc.status == 304:
            report.unchanged_feeds += 1
        else:
            report.problems.append((feed_url, exc.reason))
        return
    refusal = _unsafe_xml(feed.body)
    if refusal:
        report.problems.append((feed_url, refusal))
        return
    # A file object, never bytes: feedparser opens bytes that name a local file and parses that file.
    parsed = feedparser.parse(io.BytesIO(feed.body))
    if not parsed.entries:
        reason = f"malformed feed ({parsed.get('bozo_exception')})" if parsed.bozo else "no entries"
        report.problems.append((feed_url, reason))
        return
    outlet = (parsed.feed.get("title") or "").strip() or None
    for entry in parsed.entries:
        try:
            _entry(entry, outlet, fetcher, articles_dir, state, report)
        except Exception as exc:  # one bad entry never stops the others
            log.warning("feed entry %s failed: %s", entry.get("link"), exc)
            report.problems.append((entry.get("link") or feed_url, f"failed: {exc}"))
    state.validators[feed_url] = {
        k: v for k, v in {"etag": feed.headers.get("ETag"), "modified": feed.headers.get("Last-Modified")}.items() if v
    }


def _unsafe_xml(body: bytes) -> str | None:
    """Why a feed's XML must not be parsed (it declares entities), or None."""
    try:
        safe_xml(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        return f"refused: the feed declares XML entities ({exc}); entity expansion is off, ask its publisher for plain RSS/Atom"
    except ParseError:
        if b"<!ENTITY" in body:  # not well-formed: feedparser's lenient parser must not see the entities either
            return (
                "refused: the feed declares XML entities and is not well-formed; ask its publisher for plain RSS/Atom"
            )
    return None


def _entry(
    entry: Any, outlet: str | None, fetcher: Fetcher, articles_dir: Path, state: FeedState, report: FetchReport
) -> None:
    url = (entry.get("link") or "").strip()
    if not url:
        report.problems.append((entry.get("id") or "(entry)", "entry has no link"))
        return
    if url in state.urls:
        report.known_entries += 1
        return
    try:
        fetched = fetcher.get(url, {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"})
    except FetchFailed as exc:
        report.problems.append((url, exc.reason))
        return
    page = extract_page(fetched.body.decode("utf-8", errors="replace"), url=url)
    text = page.text if page else _strip_tags(entry.get("summary") or "")
    if not text.strip():
        report.problems.append((url, "no article text on the page or in the feed"))
        return
    digest = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]
    state.urls.add(url)
    if digest in state.hashes:
        report.known_entries += 1  # the same text under another URL
        return
    meta = {
        "title": (entry.get("title") or "").strip() or (page.title if page else None),
        "outlet": outlet or (page.outlet if page else None),
        "published": _entry_date(entry) or (page.published if page else None),
        "url": url,
    }
    site = re.sub(r"[^a-z0-9.-]+", "-", urllib.parse.urlsplit(url).netloc.lower()) or "feed"
    path = articles_dir / "feeds" / site / f"{hashlib.sha1(url.encode()).hexdigest()[:16]}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    front = yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"---\n{front}---\n{text.strip()}\n", encoding="utf-8")
    tmp.replace(path)  # a watcher never sees half a file
    state.hashes.add(digest)
    report.saved.append(path)


def _entry_date(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC).date().isoformat()
    return None


def _strip_tags(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
