"""Retrieval and answer quality: SQuAD dev for each ablation, and the seeds QA per kind.

python bench/quality.py [--questions 2000]
"""

from __future__ import annotations

import argparse

from common import ROOT, hit_rates, machine, require_squad, sample_questions, setup, squad_brief, squad_ranks

from retrieval import Brief, Mode, Options
from retrieval.evaluation import evaluate, load_qa
from retrieval.ingest import ingest

ABLATIONS = [
    Options(mode=Mode.KEYWORD),
    Options(mode=Mode.DENSE),
    Options(),
    Options(dedupe=False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=2000, help="SQuAD questions sampled (seed 13)")
    args = parser.parse_args()
    require_squad()
    settings, embedder = setup()
    brief, report, _ = squad_brief(settings, embedder)
    questions = sample_questions(args.questions)
    print(f"# bench/quality.py — {machine()}")
    print(f"SQuAD dev: {report.passages_total} passages, {len(questions)} questions (gold paragraph in the top 5)")
    print(f"{'options':24} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'answered':>8}")
    for options in ABLATIONS:
        ranks, _, answered = squad_ranks(brief, questions, options)
        hit1, hit5, mrr = hit_rates(ranks)
        print(f"{options.describe():24} {hit1:6.3f} {hit5:6.3f} {mrr:6.3f} {answered / len(ranks):8.1%}")
    seeds_settings = settings.with_(index_dir=ROOT / "bench" / "results" / "seeds-index")
    ingest([ROOT / "seeds"], seeds_settings, embedder=embedder)
    seeds = Brief(seeds_settings, embedder)
    items = load_qa(ROOT / "tests" / "data" / "seeds_qa.jsonl")
    print("\nseeds QA (evidence sentence in the top k):")
    for options in [Options(mode=Mode.KEYWORD), Options(mode=Mode.DENSE), Options(), Options(sentences=False),
                    Options(coverage=False), Options(dates=False), Options(floor=False)]:  # fmt: skip
        o = evaluate(seeds, items, options, progress=False).overall
        print(
            f"{options.describe():24} hit@1 {o.hit1:.3f} hit@3 {o.hit3:.3f} hit@5 {o.hit5:.3f} MRR {o.mrr:.3f} "
            f"abstain {o.unanswered_correct:.2f} date {o.date_correct:.2f}"
        )


if __name__ == "__main__":
    main()
