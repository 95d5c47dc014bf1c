"""Helpers shared by the benchmarks: the SQuAD dev corpus from ../shared, written as JSONL."""

from __future__ import annotations

import json
import platform
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SQUAD = ROOT.parent / "shared" / "eval" / "squad_dev"


def squad_available() -> bool:
    """True when ../shared/eval/squad_dev is present."""
    return (SQUAD / "paragraphs.jsonl").is_file() and (SQUAD / "questions.jsonl").is_file()


def require_squad() -> None:
    """Exit cleanly (status 0) when the SQuAD data is absent."""
    if not squad_available():
        print(f"skipped: {SQUAD} not found (SQuAD dev is read from ../shared, never committed)")
        sys.exit(0)


def squad_paragraphs(limit: int | None = None) -> list[dict]:
    """SQuAD dev paragraphs: pid, title, text."""
    rows = [json.loads(line) for line in (SQUAD / "paragraphs.jsonl").open(encoding="utf-8")]
    return rows[:limit] if limit else rows


def squad_questions() -> list[dict]:
    """SQuAD dev questions: qid, question, answers, gold_pid."""
    return [json.loads(line) for line in (SQUAD / "questions.jsonl").open(encoding="utf-8")]


def write_corpus(paragraphs: list[dict], folder: Path) -> Path:
    """The paragraphs as one JSONL file of articles (record n = paragraph n)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "squad.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for p in paragraphs:
            f.write(json.dumps({"text": p["text"], "title": p["title"]}) + "\n")
    return path


def machine() -> str:
    """One line describing where the figures were measured."""
    import os

    return f"{date.today()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
