"""Feedback that is read: counts, the worst-rated questions with their answers and sources, flat
exports (CSV/JSON), and the questions people marked wrong as a QA file that `brief eval` reads."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.slack.feedback import FEEDBACK_DB, VERDICTS, FeedbackStore

WORST = 10  # questions listed by default
EXPORT_COLUMNS = ("at", "kind", "mark", "question", "answer_id", "source", "user", "channel", "passages")


@dataclass(frozen=True)
class RatedSource:
    """A source of a rated reply, with the marks it got."""

    n: int
    title: str | None
    outlet: str | None
    published: str | None
    url: str | None
    marks: dict[str, int]


@dataclass(frozen=True)
class RatedQuestion:
    """One reply's feedback: 👍/👎, marks on its sources, and a score (lower is worse)."""

    question: str
    answer: str | None  # None once the reply is no longer stored
    answer_id: str | None
    up: int
    down: int
    marks: dict[str, int]
    sources: list[RatedSource]
    last: str

    @property
    def score(self) -> int:
        """👍 and useful sources count up; 👎, wrong and outdated sources count down."""
        m = self.marks
        return self.up + m.get("useful", 0) - self.down - m.get("wrong", 0) - m.get("outdated", 0)

    @property
    def marked_wrong(self) -> bool:
        """More 👎 than 👍, or a source marked wrong."""
        return self.down > self.up or self.marks.get("wrong", 0) > 0


@dataclass(frozen=True)
class FeedbackReport:
    """Everything `brief feedback` prints."""

    answers: int
    up: int
    down: int
    marks: dict[str, int]
    worst: list[RatedQuestion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The `brief feedback --json` object."""
        return {"answers": self.answers, "up": self.up, "down": self.down, "marks": self.marks,
                "worst": [{**asdict(q), "score": q.score} for q in self.worst]}  # fmt: skip

    def text(self) -> str:
        """Plain text: the counts, then each worst-rated question with its answer and sources."""
        marks = ", ".join(f"{v} {self.marks.get(v, 0)}" for v in VERDICTS)
        lines = [f"replies stored: {self.answers}; 👍 {self.up}, 👎 {self.down}; sources marked: {marks}"]
        if not self.worst:
            lines.append("no question is rated badly.")
        for q in self.worst:
            lines.append(f"\n[{q.score}] {q.question}  (👍 {q.up}, 👎 {q.down}; last {q.last})")
            lines.append(f"  answer: {q.answer if q.answer is not None else '(no longer stored)'}")
            for s in q.sources:
                marked = ", ".join(f"{v} {n}" for v, n in s.marks.items() if n)
                head = " · ".join(p for p in (s.outlet, s.title or "(untitled)", s.published or "undated") if p)
                lines.append(f"  [{s.n}] {head}{f'  ← {marked}' if marked else ''}")
        return "\n".join(lines)


def has_feedback(index_dir: Path) -> bool:
    """Whether the index folder holds a feedback database at all."""
    return (index_dir / FEEDBACK_DB).is_file()


def rated(store: FeedbackStore) -> list[RatedQuestion]:
    """Every reply that got feedback, with its votes and source marks."""
    groups: dict[str, dict[str, Any]] = {}

    def group(answer_id: str | None, question: str, at: str) -> dict[str, Any]:
        key = answer_id or f"q:{question}"
        g = groups.setdefault(key, {"id": answer_id, "question": question, "up": 0, "down": 0, "last": at,
                                    "marks": {}, "by_source": {}})  # fmt: skip
        g["last"] = max(g["last"], at)
        return g

    for vote in store.all():
        g = group(vote["answer_id"], str(vote["question"]), str(vote["at"]))  # type: ignore[arg-type]
        g["up" if int(vote["vote"]) > 0 else "down"] += 1  # type: ignore[call-overload]
    for mark in store.source_votes():
        g = group(str(mark["answer_id"]), str(mark["question"]), str(mark["at"]))
        verdict, n = str(mark["verdict"]), int(mark["source"])  # type: ignore[call-overload]
        g["marks"][verdict] = g["marks"].get(verdict, 0) + 1
        g["by_source"].setdefault(n, {}).setdefault(verdict, 0)
        g["by_source"][n][verdict] += 1
    out = []
    for g in groups.values():
        stored = store.answer(g["id"])
        sources = [
            RatedSource(s["n"], s.get("title"), s.get("outlet"), s.get("published"), s.get("url"),
                        g["by_source"].get(s["n"], {}))
            for s in (stored.sources if stored else [])
        ]  # fmt: skip
        out.append(RatedQuestion(g["question"], stored.text if stored else None, g["id"], g["up"], g["down"],
                                 g["marks"], sources, g["last"]))  # fmt: skip
    return out


def report(store: FeedbackStore, limit: int = WORST) -> FeedbackReport:
    """The counts and the `limit` worst-rated questions (score below zero), worst and latest first."""
    questions = rated(store)
    votes = store.all()
    marks = {v: 0 for v in VERDICTS}
    for mark in store.source_votes():
        marks[str(mark["verdict"])] += 1
    bad = sorted((q for q in questions if q.score < 0), key=lambda q: q.last, reverse=True)
    bad.sort(key=lambda q: q.score)
    return FeedbackReport(
        store.answer_count(), sum(int(v["vote"]) > 0 for v in votes), sum(int(v["vote"]) < 0 for v in votes),  # type: ignore[call-overload]
        marks, bad[:limit],
    )  # fmt: skip


def rows(store: FeedbackStore) -> list[dict[str, Any]]:
    """Every vote and source mark as one flat row (EXPORT_COLUMNS), oldest first."""
    out = [
        {"at": v["at"], "kind": "answer", "mark": "up" if int(v["vote"]) > 0 else "down", "question": v["question"],  # type: ignore[call-overload]
         "answer_id": v["answer_id"], "source": None, "user": v["user"], "channel": v["channel"],
         "passages": v["passages"]}
        for v in store.all()
    ]  # fmt: skip
    out += [
        {"at": m["at"], "kind": "source", "mark": m["verdict"], "question": m["question"], "answer_id": m["answer_id"],
         "source": m["source"], "user": m["user"], "channel": m["channel"], "passages": m["passages"]}
        for m in store.source_votes()
    ]  # fmt: skip
    return sorted(out, key=lambda r: str(r["at"]))


def to_csv(records: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header; passages joined by spaces."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({**r, "passages": " ".join(r["passages"] or [])})
    return buffer.getvalue()


def qa_rows(store: FeedbackStore) -> list[dict[str, Any]]:
    """The questions people marked wrong, once each, as QA records `brief eval` reads.

    Brief's answer was judged wrong, and the right one is not known: each starts as a question the
    corpus should not answer as it did (answer null), so `brief eval` lists it among its failures
    with the answer it gives now. Fill in `answer` and `evidence` to make it an answerable check.
    """
    out: dict[str, dict[str, Any]] = {}
    for q in sorted(rated(store), key=lambda q: q.last):
        if not q.marked_wrong:
            continue
        wrong = [f"[{s.n}] {s.title or s.outlet or '(untitled)'}" for s in q.sources if s.marks.get("wrong")]
        digest = hashlib.sha1(q.question.casefold().encode()).hexdigest()[:10]
        out[q.question.casefold()] = {
            "id": f"feedback-{digest}", "question": q.question, "answer": None, "doc": None, "evidence": "",
            "kind": "feedback", "given": q.answer, "votes": {"up": q.up, "down": q.down, **q.marks},
            "wrong_sources": wrong,
        }  # fmt: skip
    return list(out.values())


def write_qa(store: FeedbackStore, path: Path) -> int:
    """Write the questions marked wrong to `path` as QA JSONL; how many were written."""
    records = qa_rows(store)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return len(records)
