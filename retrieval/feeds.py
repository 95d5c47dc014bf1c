"""Feeds: RSS/Atom entries fetched, their pages' main text saved as article files.

Each new entry's page is downloaded politely (a user agent, timeouts, conditional requests on
the feed), its text and metadata extracted (the feed's title, link and date first, the page's
own metadata where the feed lacks it) and saved under `<articles>/feeds/<site>/` as Markdown
with front matter, so that a rebuild from the folder replays it. Entries are deduplicated by
URL and by content hash; one bad feed or page is reported and never stops the others.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import yaml

from retrieval.webpages import extract_page

log = logging.getLogger(__name__)
USER_AGENT = "Brief/0.1 (news briefing bot; polite polling)"
TIMEOUT_S = 20
MAX_PAGE_BYTES = 5 * 1024 * 1024
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


def fetch_feeds(feed_urls: list[str], articles_dir: Path, state_path: Path) -> FetchReport:
    """Poll every feed once and save the new entries' pages as article files."""
    state = FeedState(state_path)
    report = FetchReport()
    for feed_url in feed_urls:
        report.feeds += 1
        try:
            _poll(feed_url, articles_dir, state, report)
        except Exception as exc:  # one bad feed never stops the others
            log.warning("feed %s failed: %s", feed_url, exc)
            report.problems.append((feed_url, f"failed: {exc}"))
    state.save()
    return report


def _poll(feed_url: str, articles_dir: Path, state: FeedState, report: FetchReport) -> None:
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
        body, response_headers = _get(feed_url, headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            report.unchanged_feeds += 1
            return
        report.problems.append((feed_url, f"HTTP {exc.code}"))
        return
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        report.problems.append((feed_url, f"unreachable ({getattr(exc, 'reason', exc)})"))
        return
    parsed = feedparser.parse(body)
    if not parsed.entries:
        reason = f"malformed feed ({parsed.get('bozo_exception')})" if parsed.bozo else "no entries"
        report.problems.append((feed_url, reason))
        return
    outlet = (parsed.feed.get("title") or "").strip() or None
    for entry in parsed.entries:
        _entry(entry, outlet, articles_dir, state, report)
    state.validators[feed_url] = {
        k: v
        for k, v in {"etag": response_headers.get("ETag"), "modified": response_headers.get("Last-Modified")}.items()
        if v
    }


def _entry(entry: Any, outlet: str | None, articles_dir: Path, state: FeedState, report: FetchReport) -> None:
    url = (entry.get("link") or "").strip()
    if not url:
        report.problems.append((entry.get("id") or "(entry)", "entry has no link"))
        return
    if url in state.urls:
        report.known_entries += 1
        return
    try:
        body, _ = _get(url, {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"})
    except urllib.error.HTTPError as exc:
        report.problems.append((url, f"HTTP {exc.code}"))
        return
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        report.problems.append((url, f"unreachable ({getattr(exc, 'reason', exc)})"))
        return
    page = extract_page(body.decode("utf-8", errors="replace"), url=url)
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
    site = re.sub(r"[^a-z0-9.-]+", "-", urllib.request.urlparse(url).netloc.lower()) or "feed"
    path = articles_dir / "feeds" / site / f"{hashlib.sha1(url.encode()).hexdigest()[:16]}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    front = yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"---\n{front}---\n{text.strip()}\n", encoding="utf-8")
    tmp.replace(path)  # a watcher never sees half a file
    state.hashes.add(digest)
    report.saved.append(path)


def _get(url: str, headers: dict[str, str]) -> tuple[bytes, Any]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return response.read(MAX_PAGE_BYTES), response.headers


def _entry_date(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC).date().isoformat()
    return None


def _strip_tags(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
