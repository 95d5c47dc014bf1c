"""Feedback: the replies Brief posted and the 👍/👎 votes on them, kept in SQLite next to the index.

A reply's buttons carry only a short id; the reply itself (question, rendered answer and
citations, the passages it quotes) is stored here under that id, so "Share" re-posts exactly
what the user saw and a vote names exactly what it was about.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from retrieval.index.store import now_iso

FEEDBACK_DB = "feedback.sqlite"
VERDICTS = ("useful", "wrong", "outdated")  # what a source can be marked
KEEP_ANSWERS_DAYS = 90  # buttons on older replies say the answer is gone and to ask again
ANSWER_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback(
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, vote INTEGER NOT NULL,
    question TEXT NOT NULL, passages TEXT NOT NULL, channel TEXT);
CREATE TABLE IF NOT EXISTS answers(
    id TEXT PRIMARY KEY, at TEXT NOT NULL, question TEXT NOT NULL, passages TEXT NOT NULL,
    reply TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS answers_at ON answers(at);
CREATE TABLE IF NOT EXISTS source_votes(
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, answer_id TEXT NOT NULL, source INTEGER NOT NULL,
    verdict TEXT NOT NULL, question TEXT NOT NULL, passages TEXT NOT NULL, channel TEXT);
CREATE TABLE IF NOT EXISTS threads(
    channel TEXT NOT NULL, thread_ts TEXT NOT NULL, at TEXT NOT NULL, question TEXT NOT NULL,
    PRIMARY KEY (channel, thread_ts));
"""


@dataclass(frozen=True)
class StoredAnswer:
    """A reply as it was shown: its id, question, quoted passages and Block Kit payload."""

    id: str
    question: str
    passages: list[str]
    reply: dict[str, Any]  # every cited source; `shown` of them are shown at first (0: all)
    shown: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)  # numbered as shown: title, outlet, passages …
    at: str | None = None

    @property
    def text(self) -> str:
        """The answer as its notification text shows it ("Answer: … [1]", or the no-answer line)."""
        return str(self.reply.get("text") or "")


def new_answer_id() -> str:
    """A short random id for a reply (12 URL-safe characters), small enough for any button."""
    return secrets.token_urlsafe(9)


class FeedbackStore:
    """Stores replies and appends votes; safe to share between the bot's threads."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / FEEDBACK_DB
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        with self._conn:
            self._conn.executescript(SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(feedback)")}
            if "answer_id" not in columns:  # a feedback.sqlite from before replies were stored
                self._conn.execute("ALTER TABLE feedback ADD COLUMN answer_id TEXT")
            stored = {row[1] for row in self._conn.execute("PRAGMA table_info(answers)")}
            for column, kind in (("user", "TEXT"), ("channel", "TEXT"), ("shown", "INTEGER DEFAULT 0"),
                                 ("sources", "TEXT")):  # fmt: skip
                if column not in stored:  # a feedback.sqlite from before these were kept
                    self._conn.execute(f"ALTER TABLE answers ADD COLUMN {column} {kind}")
            cutoff = (datetime.now(UTC) - timedelta(days=KEEP_ANSWERS_DAYS)).replace(microsecond=0).isoformat()
            self._conn.execute("DELETE FROM answers WHERE at < ?", (cutoff,))
            self._conn.execute("DELETE FROM threads WHERE at < ?", (cutoff,))

    def save_answer(
        self, answer_id: str, question: str, passages: list[str], reply: dict[str, Any],
        user: str | None = None, channel: str | None = None, shown: int = 0,
        sources: list[dict[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        """Keep a reply as it is about to be shown, under `answer_id` (see new_answer_id)."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers(id, at, question, passages, reply, user, channel, shown, sources)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, now_iso(), question, json.dumps(passages), json.dumps(reply, ensure_ascii=False), user,
                 channel, shown, json.dumps(sources or [], ensure_ascii=False)),
            )  # fmt: skip

    def recent_questions(self, user: str, limit: int = 5) -> list[str]:
        """The questions `user` asked most recently, newest first, each once."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT question, MAX(at) AS last FROM answers WHERE user = ? GROUP BY question"
                " ORDER BY last DESC, MAX(rowid) DESC LIMIT ?",
                (user, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def remember_thread(self, channel: str, thread_ts: str, question: str) -> None:
        """Note that Brief answered `question` in this thread: its replies are follow-ups of it."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO threads(channel, thread_ts, at, question) VALUES (?, ?, ?, ?)",
                (channel, thread_ts, now_iso(), question),
            )

    def thread_question(self, channel: str, thread_ts: str | None) -> str | None:
        """The last question Brief answered in this thread, or None for a thread it did not answer in."""
        if not thread_ts:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT question FROM threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
            ).fetchone()
        return row[0] if row else None

    def answer(self, answer_id: str | None) -> StoredAnswer | None:
        """The reply stored under `answer_id`, or None when the id is unknown, expired or malformed."""
        if not answer_id or not ANSWER_ID.match(answer_id):
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT question, passages, reply, shown, sources, at FROM answers WHERE id = ?", (answer_id,)
            ).fetchone()
        if row is None:
            return None
        return StoredAnswer(
            answer_id, row[0], json.loads(row[1]), json.loads(row[2]), row[3] or 0, json.loads(row[4] or "[]"), row[5]
        )

    def record_source(
        self, user: str, answer: StoredAnswer, source: int, verdict: str, channel: str | None
    ) -> None:  # fmt: skip
        """Store one mark on source number `source` of a stored reply: useful, wrong or outdated."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
        cited = next((s for s in answer.sources if s.get("n") == source), {})
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO source_votes(at, user, answer_id, source, verdict, question, passages, channel)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), user, answer.id, source, verdict, answer.question, json.dumps(cited.get("passages", [])),
                 channel),
            )  # fmt: skip

    def source_votes(self) -> list[dict[str, object]]:
        """Every mark on a source, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT at, user, answer_id, source, verdict, question, passages, channel FROM source_votes ORDER BY id"
            ).fetchall()
        return [
            {"at": a, "user": u, "answer_id": i, "source": n, "verdict": v, "question": q, "passages": json.loads(p),
             "channel": c}
            for a, u, i, n, v, q, p, c in rows
        ]  # fmt: skip

    def answer_count(self) -> int:
        """How many replies are stored (the last KEEP_ANSWERS_DAYS days)."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM answers").fetchone()[0])

    def record(
        self, user: str, vote: int, question: str, passages: list[str], channel: str | None,
        answer_id: str | None = None,
    ) -> None:  # fmt: skip
        """Store one vote (+1 or -1) with the question, the cited passages and the reply's id."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO feedback(at, user, vote, question, passages, channel, answer_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), user, vote, question, json.dumps(passages), channel, answer_id),
            )

    def all(self) -> list[dict[str, object]]:
        """Every vote, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT at, user, vote, question, passages, channel, answer_id FROM feedback ORDER BY id"
            )
            return [
                {"at": a, "user": u, "vote": v, "question": q, "passages": json.loads(p), "channel": c,
                 "answer_id": i}
                for a, u, v, q, p, c, i in rows.fetchall()
            ]  # fmt: skip
