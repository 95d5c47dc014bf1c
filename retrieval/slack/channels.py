"""Per-channel settings, kept in SQLite next to the index: on/off, visible or private answers,
which sources or folders the channel searches, and how many sources a reply shows."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from retrieval.errors import UsageError
from retrieval.index.store import StoredArticle, now_iso
from retrieval.settings import Settings

CHANNELS_DB = "channels.sqlite"
MAX_SHOWN = 10
SCHEMA = """
CREATE TABLE IF NOT EXISTS channels(
    channel TEXT PRIMARY KEY, at TEXT NOT NULL, by TEXT NOT NULL, settings TEXT NOT NULL);
"""
CONFIG_HELP = (
    "`/brief config` shows this channel's settings; change them with\n"
    "• `/brief config on` / `off`: answer in this channel or not\n"
    "• `/brief config answers visible` / `private`: @mentions answered in the thread, or only to the asker\n"
    "• `/brief config search all` / `search Outlet, folder/`: the outlets or article folders searched here\n"
    "• `/brief config shown N`: sources shown before *More sources* (1-10; 0 = all)\n"
    "• `/brief config reset`: back to the defaults"
)


@dataclass(frozen=True)
class ChannelSettings:
    """How Brief behaves in one channel."""

    enabled: bool = True
    private: bool = False
    search: tuple[str, ...] = ()  # outlets or article folders; empty: the whole corpus
    shown: int = 0  # sources shown before "More sources"; 0: all cited

    def describe(self) -> str:
        """One line per setting, for `/brief config`."""
        where = ", ".join(self.search) if self.search else "the whole corpus"
        return (
            f"answers: {'on' if self.enabled else 'off'}; "
            f"{'privately (only the asker sees them)' if self.private else 'visibly in the thread'}\n"
            f"searches: {where}\nsources shown: {self.shown or 'all cited'}"
        )

    def keeps(self, article: StoredArticle) -> bool:
        """Whether the channel searches `article`: its outlet or one of its folders is listed."""
        if not self.search:
            return True
        path = "/" + article.path.replace("\\", "/").strip("/") + "/"
        outlet = (article.outlet or "").casefold()
        return any(s.casefold() == outlet or f"/{s.strip('/')}/" in path for s in self.search)


def defaults(settings: Settings) -> ChannelSettings:
    """A channel's settings until an admin changes them, from the environment."""
    return ChannelSettings(private=settings.answer_privately, shown=settings.sources_shown)


def parse_change(current: ChannelSettings, base: ChannelSettings, words: str) -> ChannelSettings:
    """The settings after `/brief config <words>`; UsageError (with the fix) for anything else."""
    head, _, rest = words.strip().partition(" ")
    head, rest = head.lower(), rest.strip()
    if head in ("on", "off") and not rest:
        return replace(current, enabled=head == "on")
    if head == "reset" and not rest:
        return base
    if head == "answers" and rest.lower() in ("visible", "private"):
        return replace(current, private=rest.lower() == "private")
    if head == "search" and rest:
        if rest.lower() == "all":
            return replace(current, search=())
        parts = tuple(dict.fromkeys(p.strip() for p in rest.split(",") if p.strip()))
        if len(parts) > 20 or any(len(p) > 200 for p in parts):
            raise UsageError("list at most 20 outlets or folders of up to 200 characters each")
        return replace(current, search=parts)
    if head == "shown" and rest.isdigit() and int(rest) <= MAX_SHOWN:
        return replace(current, shown=int(rest))
    raise UsageError(f"I can't read `config {words.strip()[:100]}`.\n{CONFIG_HELP}")


class ChannelStore:
    """Per-channel settings in BRIEF_INDEX_DIR/channels.sqlite; safe to share between threads."""

    def __init__(self, index_dir: Path, base: ChannelSettings) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.base = base
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(index_dir / CHANNELS_DB, timeout=10, check_same_thread=False)
        with self._conn:
            self._conn.executescript(SCHEMA)

    def get(self, channel: str | None) -> ChannelSettings:
        """The channel's settings (the defaults for a channel never configured, or a DM)."""
        if not channel:
            return self.base
        with self._lock:
            row = self._conn.execute("SELECT settings FROM channels WHERE channel = ?", (channel,)).fetchone()
        if row is None:
            return self.base
        data = json.loads(row[0])
        return ChannelSettings(
            bool(data.get("enabled", True)), bool(data.get("private", False)), tuple(data.get("search") or ()),
            int(data.get("shown", 0)),
        )  # fmt: skip

    def set(self, channel: str, value: ChannelSettings, by: str) -> None:
        """Keep `value` as the channel's settings, noting who changed them."""
        data = {"enabled": value.enabled, "private": value.private, "search": list(value.search), "shown": value.shown}
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO channels(channel, at, by, settings) VALUES (?, ?, ?, ?)",
                (channel, now_iso(), by, json.dumps(data)),
            )
