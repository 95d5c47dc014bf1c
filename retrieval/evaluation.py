"""Evaluation: hit@k of the evidence sentence, MRR, abstention and dates, overall and per kind."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tqdm import tqdm

from retrieval.brief import Brief, Result
from retrieval.errors import UsageError
from retrieval.read.dates import MONTHS, find_date
from retrieval.search.hybrid import Options

QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})
MONTH_YEAR = re.compile(r"\b(" + "|".join(m for m in MONTHS if len(m) > 3) + r")\s+((?:19|20)\d\d)\b", re.I)
YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
FAILURES_SHOWN = 50  # failed questions printed after the table; --json lists all
CITED = 3  # citations shown with a failed question
CITED_CHARS = 150


@dataclass(frozen=True)
class QAItem:
    """One question of a QA file (the format of ../shared/eval/seeds_qa.jsonl)."""

    id: str
    question: str
    answer: str | None
    doc: str | None
    evidence: str
    kind: str
    as_of: date | None = None  # the day the question was asked (`question_date`)


@dataclass(frozen=True)
class ItemResult:
    """How one question fared."""

    id: str
    kind: str
    rank: int | None  # 1-based rank of the first passage holding the evidence
    answered: bool
    expected_date: str | None
    answer_date: str | None
    date_correct: bool | None


@dataclass(frozen=True)
class Failure:
    """A question answered wrongly: what was expected, what was given, and the top citations."""

    id: str
    kind: str
    question: str
    reasons: list[str]  # "evidence not in the top k", "answered an unanswerable question", "wrong date"
    expected_answer: str | None
    expected_evidence: str | None
    expected_date: str | None
    answer: str | None
    answer_date: str | None
    citations: list[dict[str, str | None]]  # the top 3: outlet, title, published, text (first 150 characters)

    def lines(self) -> list[str]:
        """The failure as a few indented lines of text."""
        out = [f"{self.id} [{self.kind}] {self.question}", f"  why: {'; '.join(self.reasons)}"]
        if self.expected_evidence:
            out.append(f"  expected evidence: {self.expected_evidence}")
        expected = self.expected_answer or "no answer"
        out.append(f"  expected answer: {expected}" + (f" ({self.expected_date})" if self.expected_date else ""))
        given = self.answer or "no answer"
        out.append(f"  answer given: {given}" + (f" ({self.answer_date})" if self.answer_date else ""))
        for n, c in enumerate(self.citations, start=1):
            out.append(f"  [{n}] {c['outlet'] or '-'} | {c['title'] or '(untitled)'} | {c['published'] or '-'}: {c['text']}")
        return out


@dataclass
class Metrics:
    """Aggregates over a set of questions."""

    questions: int = 0
    answerable: int = 0
    hit1: float = 0.0
    hit3: float = 0.0
    hit5: float = 0.0
    mrr: float = 0.0
    unanswerable: int = 0
    unanswered_correct: float | None = None
    dated: int = 0
    date_correct: float | None = None


@dataclass
class EvalReport:
    """Overall and per-kind metrics, and each question's result."""

    options: str
    overall: Metrics
    by_kind: dict[str, Metrics]
    items: list[ItemResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "options": self.options,
            "overall": asdict(self.overall),
            "by_kind": {k: asdict(v) for k, v in self.by_kind.items()},
            "items": [asdict(i) for i in self.items],
            "failures": [asdict(f) for f in self.failures],
        }

    def failed_text(self, cap: int = FAILURES_SHOWN) -> str:
        """The "Failed questions:" section printed after the table (the first `cap`, and a count of the rest)."""
        if not self.failures:
            return "Failed questions: none"
        rows = [f"Failed questions: {len(self.failures)}"]
        for f in self.failures[:cap]:
            rows += f.lines()
        if len(self.failures) > cap:
            rows.append(f"... and {len(self.failures) - cap} more (all of them: --json, key \"failures\")")
        return "\n".join(rows)

    def table(self) -> str:
        """A plain-text table, one row per kind and one overall."""
        head = f"{'kind':16} {'n':>3} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR':>6} {'abstain':>8} {'date':>6}"
        rows = [f"options: {self.options}", head]
        for name, m in [*sorted(self.by_kind.items()), ("ALL", self.overall)]:
            rows.append(
                f"{name:16} {m.questions:>3} {_f(m.hit1, m.answerable)} {_f(m.hit3, m.answerable)} "
                f"{_f(m.hit5, m.answerable)} {_f(m.mrr, m.answerable)} {_f(m.unanswered_correct, m.unanswerable, 8)} "
                f"{_f(m.date_correct, m.dated)}"
            )
        return "\n".join(rows)


def _f(value: float | None, n: int, width: int = 6) -> str:
    return f"{value:>{width}.3f}" if n and value is not None else f"{'-':>{width}}"


def load_qa(path: Path) -> list[QAItem]:
    """Read a QA JSONL file; UsageError on a malformed line."""
    items: list[QAItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(
                QAItem(
                    str(row["id"]),
                    row["question"],
                    row.get("answer"),
                    row.get("doc"),
                    row.get("evidence") or "",
                    row.get("kind") or "other",
                    _as_of(row.get("question_date") or row.get("as_of")),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{n}: not a QA record ({exc})") from exc
    if not items:
        raise UsageError(f"{path} holds no questions")
    return items


def _as_of(value: object) -> date | None:
    """A QA item's question date ("2022/06/16" or "2022-06-16"), or None."""
    return date.fromisoformat(str(value).replace("/", "-")[:10]) if value else None


def normalize(text: str) -> str:
    """Lower case, plain quotes, single spaces: how evidence is matched against passages."""
    return " ".join(text.translate(QUOTES).split()).lower()


def expected_period(answer: str | None) -> tuple[date, str] | None:
    """The date a reference answer names: a full date, else a month, else a year."""
    if not answer:
        return None
    found = find_date(answer)
    if found:
        return found[0], "day"
    m = MONTH_YEAR.search(answer)
    if m:
        return date(int(m.group(2)), MONTHS[m.group(1).lower()], 1), "month"
    y = YEAR.search(answer)
    return (date(int(y.group(1)), 1, 1), "year") if y else None


def date_matches(expected: tuple[date, str], answer_date: str | None) -> bool:
    """True if the answer's date falls in the expected day, month or year."""
    if not answer_date:
        return False
    got = date.fromisoformat(answer_date)
    want, precision = expected
    if precision == "day":
        return got == want
    if precision == "month":
        return (got.year, got.month) == (want.year, want.month)
    return got.year == want.year


def score_item(item: QAItem, result: Result) -> ItemResult:
    """Where the evidence ranks in a result, and whether abstention and date are right."""
    rank = None
    if item.evidence:
        evidence = normalize(item.evidence)
        rank = next((p.n for p in result.passages if evidence in normalize(p.text)), None)
    expected = expected_period(item.answer) if item.kind.startswith("temporal") else None
    answer_date = result.answer.date if result.answer else None
    return ItemResult(
        item.id, item.kind, rank, result.answer is not None,
        expected[0].isoformat() if expected else None, answer_date,
        date_matches(expected, answer_date) if expected else None,
    )  # fmt: skip


def failure(item: QAItem, result: Result, scored: ItemResult) -> Failure | None:
    """Why a question failed (evidence not in the top k, an answer where none exists, a wrong date), or None."""
    reasons = []
    if item.answer is not None and item.evidence and scored.rank is None:
        reasons.append(f"evidence not in the top {len(result.passages)}")
    if item.answer is None and scored.answered:
        reasons.append("answered an unanswerable question")
    if scored.date_correct is False:
        reasons.append("wrong date" if scored.answer_date else "no date given")
    if not reasons:
        return None
    cited = [
        {"outlet": p.outlet, "title": p.title, "published": p.published, "text": " ".join(p.text.split())[:CITED_CHARS]}
        for p in result.passages[:CITED]
    ]
    return Failure(
        item.id, item.kind, item.question, reasons, item.answer, item.evidence or None, scored.expected_date,
        result.answer.text if result.answer else None, scored.answer_date, cited,
    )  # fmt: skip


def aggregate(results: list[ItemResult], items: list[QAItem]) -> Metrics:
    """Metrics over a group of questions."""
    m = Metrics(questions=len(results))
    answerable = [(r, i) for r, i in zip(results, items, strict=True) if i.answer is not None and i.evidence]
    unanswerable = [r for r, i in zip(results, items, strict=True) if i.answer is None]
    dated = [r for r in results if r.date_correct is not None]
    m.answerable, m.unanswerable, m.dated = len(answerable), len(unanswerable), len(dated)
    if answerable:
        ranks = [r.rank for r, _ in answerable]
        m.hit1 = sum(r is not None and r <= 1 for r in ranks) / len(ranks)
        m.hit3 = sum(r is not None and r <= 3 for r in ranks) / len(ranks)
        m.hit5 = sum(r is not None and r <= 5 for r in ranks) / len(ranks)
        m.mrr = sum(1 / r for r in ranks if r) / len(ranks)
    if unanswerable:
        m.unanswered_correct = sum(not r.answered for r in unanswerable) / len(unanswerable)
    if dated:
        m.date_correct = sum(bool(r.date_correct) for r in dated) / len(dated)
    return m


def evaluate(brief: Brief, items: list[QAItem], options: Options | None = None, k: int = 5,
             progress: bool = True) -> EvalReport:  # fmt: skip
    """Ask every question and score the answers."""
    options = options or Options()
    results: list[ItemResult] = []
    failures: list[Failure] = []
    for item in tqdm(items, desc="evaluating", unit="question", disable=not progress):
        result = brief.ask(item.question, k, options, item.as_of)
        results.append(score_item(item, result))
        if (failed := failure(item, result, results[-1])) is not None:
            failures.append(failed)
    kinds = sorted({i.kind for i in items})
    by_kind = {
        kind: aggregate([r for r in results if r.kind == kind], [i for i in items if i.kind == kind]) for kind in kinds
    }
    return EvalReport(options.describe(), aggregate(results, items), by_kind, results, failures)
