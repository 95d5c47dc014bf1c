"""Feedback: 👍/👎 votes on replies, kept in SQLite next to the index."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from retrieval.store import now_iso

FEEDBACK_DB = "feedback.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback(
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, vote INTEGER NOT NULL,
    question TEXT NOT NULL, passages TEXT NOT NULL, channel TEXT);
"""


class FeedbackStore:
    """Appends votes; safe to share between the bot's threads."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / FEEDBACK_DB
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        self._conn.executescript(SCHEMA)

    def record(self, user: str, vote: int, question: str, passages: list[str], channel: str | None) -> None:
        """Store one vote (+1 or -1) with the question and the cited passages."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO feedback(at, user, vote, question, passages, channel) VALUES (?, ?, ?, ?, ?, ?)",
                (now_iso(), user, vote, question, json.dumps(passages), channel),
            )

    def all(self) -> list[dict[str, object]]:
        """Every vote, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT at, user, vote, question, passages, channel FROM feedback ORDER BY id")
            return [
                {"at": a, "user": u, "vote": v, "question": q, "passages": json.loads(p), "channel": c}
                for a, u, v, q, p, c in rows.fetchall()
            ]
