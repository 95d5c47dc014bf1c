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


def setup() -> tuple[object, object]:
    """Settings free of the developer's .env (progress bars off) and the loaded model."""
    from retrieval import Settings
    from retrieval.embeddings import Embedder

    settings = Settings.from_env(env={}, dotenv_path=None).with_(show_progress=False)
    return settings, Embedder(settings.embed_model)


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


CACHE = ROOT / "bench" / "results"  # ignored by git


def squad_brief(settings: object, embedder: object) -> tuple[object, object, float]:
    """A Brief over the whole SQuAD dev corpus, ingested once into bench/results/ and reused."""
    import time

    from retrieval import Brief, IndexMismatchError
    from retrieval.index.ingest import ingest

    corpus = write_corpus(squad_paragraphs(), CACHE / "squad-articles")
    settings = settings.with_(index_dir=CACHE / "squad-index")  # type: ignore[attr-defined]
    started = time.perf_counter()
    try:
        report = ingest([corpus], settings, embedder=embedder)
    except IndexMismatchError:  # a cache from an older format or model
        report = ingest([corpus], settings, embedder=embedder, rebuild=True)
    return Brief(settings, embedder), report, time.perf_counter() - started


def squad_ranks(brief: object, questions: list[dict], options: object) -> tuple[list[int | None], list[float], int]:
    """Rank of the gold paragraph (None if not in the top 5), latency in ms, and answers given."""
    import time

    pid_record = {p["pid"]: i + 1 for i, p in enumerate(squad_paragraphs())}
    ranks: list[int | None] = []
    latency: list[float] = []
    answered = 0
    for q in questions:
        t = time.perf_counter()
        result = brief.ask(q["question"], k=5, options=options)  # type: ignore[attr-defined]
        latency.append((time.perf_counter() - t) * 1000)
        answered += result.answer is not None
        gold = pid_record[q["gold_pid"]]
        found = [c.n for c in result.passages if int(c.path.rsplit("#", 1)[1]) == gold]
        ranks.append(found[0] if found else None)
    return ranks, latency, answered


def hit_rates(ranks: list[int | None]) -> tuple[float, float, float]:
    """hit@1, hit@5 and MRR@5."""
    n = len(ranks) or 1
    return (
        sum(r == 1 for r in ranks) / n,
        sum(r is not None for r in ranks) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def sample_questions(n: int, seed: int = 13) -> list[dict]:
    """A fixed random sample of SQuAD dev questions."""
    import random

    questions = squad_questions()
    random.Random(seed).shuffle(questions)
    return questions[:n]
