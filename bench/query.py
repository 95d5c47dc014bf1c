"""Ask latency and retrieval quality on SQuAD dev: p50/p95, hit@1/hit@5 per retrieval mode.

python bench/query.py [--questions 1000] [--index DIR]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import machine, percentile, require_squad, squad_paragraphs, squad_questions, write_corpus

from retrieval import Brief, Mode, Options, Settings
from retrieval.embeddings import Embedder
from retrieval.ingest import ingest


def record_of(path: str) -> int:
    return int(path.rsplit("#", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=1000, help="questions sampled (seed 13)")
    parser.add_argument("--index", type=Path, help="reuse or keep the index here")
    args = parser.parse_args()
    require_squad()
    paragraphs = squad_paragraphs()
    pid_record = {p["pid"]: i + 1 for i, p in enumerate(paragraphs)}
    questions = squad_questions()
    random.Random(13).shuffle(questions)
    questions = questions[: args.questions]
    settings = Settings.from_env(env={}, dotenv_path=None).with_(show_progress=False)
    embedder = Embedder(settings.embed_model)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index or Path(tmp) / "index"
        settings = settings.with_(index_dir=index_dir)
        corpus = write_corpus(paragraphs, (args.index.parent if args.index else Path(tmp)) / "squad-articles")
        t = time.perf_counter()
        report = ingest([corpus], settings, embedder=embedder)
        build_s = time.perf_counter() - t
        brief = Brief(settings, embedder)
        brief.ask("warm up")
        print(f"# bench/query.py — {machine()}")
        print(
            f"corpus: {report.articles_total} SQuAD dev paragraphs -> {report.passages_total} passages "
            f"(ingest {build_s:.0f} s); {len(questions)} questions"
        )
        print(f"{'mode':8} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'p50 ms':>7} {'p95 ms':>7} {'answered':>8}")
        for mode in (Mode.KEYWORD, Mode.DENSE, Mode.HYBRID):
            ranks: list[int | None] = []
            latency: list[float] = []
            answered = 0
            for q in questions:
                t = time.perf_counter()
                result = brief.ask(q["question"], k=5, options=Options(mode=mode))
                latency.append((time.perf_counter() - t) * 1000)
                answered += result.answer is not None
                gold = pid_record[q["gold_pid"]]
                found = [c.n for c in result.passages if record_of(c.path) == gold]
                ranks.append(found[0] if found else None)
            n = len(ranks)
            hit1 = sum(r == 1 for r in ranks) / n
            hit5 = sum(r is not None for r in ranks) / n
            mrr = sum(1 / r for r in ranks if r) / n
            print(
                f"{mode.value:8} {hit1:6.3f} {hit5:6.3f} {mrr:6.3f} {percentile(latency, 50):7.1f} "
                f"{percentile(latency, 95):7.1f} {answered / n:8.1%}"
            )
        print(
            "latency: one full ask() (embed question, search, pick answer sentence), model loaded; target p50 <= 50 ms"
        )


if __name__ == "__main__":
    main()
