"""Ask latency and retrieval quality on SQuAD dev: p50/p95, hit@1/hit@5 per retrieval mode.

python bench/query.py [--questions 1000]
"""

from __future__ import annotations

import argparse

from common import hit_rates, machine, percentile, require_squad, sample_questions, setup, squad_brief, squad_ranks

from retrieval import Mode, Options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=1000, help="questions sampled (seed 13)")
    args = parser.parse_args()
    require_squad()
    settings, embedder = setup()
    brief, report, build_s = squad_brief(settings, embedder)
    questions = sample_questions(args.questions)
    brief.ask("warm up")
    print(f"# bench/query.py — {machine()}")
    print(
        f"corpus: {report.articles_total} SQuAD dev paragraphs -> {report.passages_total} passages "
        f"(ingest {build_s:.0f} s, cached after the first run); {len(questions)} questions"
    )
    print(f"{'mode':8} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'p50 ms':>7} {'p95 ms':>7} {'answered':>8}")
    for mode in (Mode.KEYWORD, Mode.DENSE, Mode.HYBRID):
        ranks, latency, answered = squad_ranks(brief, questions, Options(mode=mode))
        hit1, hit5, mrr = hit_rates(ranks)
        print(
            f"{mode.value:8} {hit1:6.3f} {hit5:6.3f} {mrr:6.3f} {percentile(latency, 50):7.1f} "
            f"{percentile(latency, 95):7.1f} {answered / len(ranks):8.1%}"
        )
    print("latency: one full ask() (embed question, search, pick answer sentence), model loaded; target p50 <= 50 ms")


if __name__ == "__main__":
    main()
