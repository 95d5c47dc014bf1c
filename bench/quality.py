"""Quality on unseen data: RealTime QA (real news), SQuAD and TimeQA dev, and the seeds QA, per ablation.

    python bench/quality.py [--squad 1000] [--sets rtqa,squad,timeqa,seeds] [--quick]

Read from ../shared/eval (never committed); sets that are absent are skipped. SQuAD and TimeQA
figures come from the held-out half of the answer model's split (articles it was not fitted on);
RealTime QA is reported on all 103 questions and on its held-out weeks. Every figure is printed
again with the questions in lower case.

- gold@k: a gold article (RealTime QA), the gold paragraph (SQuAD, TimeQA) among the first k cited passages
- art@5: a gold article among the first 5 distinct articles cited
- ans@5: a gold answer string in one of the first 5 cited passages, whatever article it comes from
  (news repeats itself: another outlet's report of the same event answers as well as the gold one)
- line: the answer line contains a gold answer (quotes and a leading "the" stripped; no answer = wrong)
- ms/q: wall time of one whole ask() (the model loaded, one thread)
- no-floor line: the same with the no-answer threshold off
- drop: on the drop-gold variant (gold articles hidden), the share left unanswered, and the precision of what is answered
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, replace
from datetime import date

from devsets import (
    ROOT,
    DevQuestion,
    available,
    build,
    index_dir,
    load_embedder,
    rtqa_questions,
    squad_questions,
    timeqa_articles,
    timeqa_questions,
)
from train_answer import held_out, holds

from retrieval import Brief, Mode, Options, Settings
from retrieval.evaluation import evaluate, load_qa
from retrieval.index.ingest import ingest

ABLATIONS = {
    "hybrid": Options(),
    "keyword": Options(mode=Mode.KEYWORD),
    "dense": Options(mode=Mode.DENSE),
    "no model": Options(coverage=False),
    "no dates": Options(dates=False),
}


@dataclass
class Asked:
    """How one question (and its drop-gold variant) fared."""

    held_out: bool
    gold_rank: int | None  # first cited passage from a gold article (1-based), or None
    art5: bool
    ans5: bool
    line: bool
    line_no_floor: bool
    dropped: bool  # the drop-gold variant was asked (the question has a gold article)
    drop_unanswered: bool
    drop_right: bool
    seconds: float


HEADER = (f"{'':24} {'n':>4} {'gold@1':>6} {'gold@5':>6} {'gold@10':>7} {'art@5':>6} {'ans@5':>6} {'line':>6} {'no-floor':>8} "
          f"{'drop':>6} {'prec':>6} {'ms/q':>6}")  # fmt: skip


def row(name: str, asked: list[Asked]) -> str:
    """One table row over some questions."""
    n = max(1, len(asked))
    rank = [a.gold_rank for a in asked]
    drops = [a for a in asked if a.dropped]
    answered = [a for a in drops if not a.drop_unanswered]
    prec = f"{sum(a.drop_right for a in answered) / len(answered):6.3f}" if answered else "     -"
    return (
        f"{name:24} {len(asked):>4} {sum(r == 1 for r in rank) / n:6.3f} "
        f"{sum(r is not None and r <= 5 for r in rank) / n:6.3f} {sum(r is not None for r in rank) / n:7.3f} "
        f"{sum(a.art5 for a in asked) / n:6.3f} {sum(a.ans5 for a in asked) / n:6.3f} {sum(a.line for a in asked) / n:6.3f} "
        f"{sum(a.line_no_floor for a in asked) / n:8.3f} {sum(a.drop_unanswered for a in drops) / max(1, len(drops)):6.3f} "
        f"{prec} {1000 * sum(a.seconds for a in asked) / n:6.1f}"
    )


def run(brief: Brief, keys: dict[str, set[str]], questions: list[DevQuestion], options: Options,
        lower: bool) -> list[Asked]:  # fmt: skip
    """Ask every question, with the floor and without, and its drop-gold variant."""
    by_key = {k: doc for doc, ks in keys.items() for k in ks}
    no_floor = replace(options, floor=False)
    out = []
    for dq in questions:
        text = dq.question.lower() if lower else dq.question
        as_of = date.fromisoformat(dq.as_of) if dq.as_of else None
        gold = frozenset(by_key[g] for g in dq.gold if g in by_key)
        started = time.perf_counter()
        result = brief.ask(text, 10, options, as_of)
        seconds = time.perf_counter() - started
        docs = [c.doc_id for c in result.passages]
        rank = next((i + 1 for i, d in enumerate(docs) if d in gold), None)
        line = result.answer is not None and holds(result.answer.text, dq.answers)
        free = brief.ask(text, 10, no_floor, as_of) if options.floor and result.answer is None else result
        hidden = brief.ask(text, 10, options, as_of, hidden=gold) if gold else None
        out.append(Asked(
            held_out(dq.group), rank, bool(gold & set(list(dict.fromkeys(docs))[:5])),
            any(holds(c.text, dq.answers) for c in result.passages[:5]), line,
            free.answer is not None and holds(free.answer.text, dq.answers), hidden is not None,
            hidden is not None and hidden.answer is None,
            hidden is not None and hidden.answer is not None and holds(hidden.answer.text, dq.answers), seconds,
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=int, default=500, help="held-out SQuAD questions sampled (seed 13)")
    parser.add_argument("--sets", default="rtqa,squad,timeqa,seeds")
    parser.add_argument("--quick", action="store_true", help="hybrid only, no ablations")
    args = parser.parse_args()
    sets = args.sets.split(",")
    embedder = load_embedder()
    ablations = {"hybrid": ABLATIONS["hybrid"]} if args.quick else ABLATIONS
    print(f"# bench/quality.py — {date.today()}")
    for name in ("rtqa", "squad", "timeqa"):
        if name not in sets:
            continue
        if not available(name):
            print(f"\n{name}: skipped (not in ../shared/eval)")
            continue
        brief, keys = build(name, embedder)
        questions = {"rtqa": rtqa_questions, "squad": squad_questions, "timeqa": timeqa_questions}[name]()
        if name == "squad":
            questions = [q for q in questions if held_out(q.group)]
            random.Random(13).shuffle(questions)
            questions = questions[: args.squad]
        long_gold = None
        if name == "timeqa":
            texts = {r["doc_key"]: r["text"] for r in timeqa_articles()}
            long_gold = {q.qid for q in questions if any(len(texts.get(g, "")) >= 60 for g in q.gold)}
        if name != "rtqa":
            questions = [q for q in questions if held_out(q.group)]
        print(f"\n{name} ({len(questions)} questions{', all weeks' if name == 'rtqa' else ', held-out half'}):")
        print(HEADER)
        for ab, options in ablations.items():
            for lower in (False, True) if ab == "hybrid" else (False,):
                asked = run(brief, keys, questions, options, lower)
                label = ab + (", lower case" if lower else "")
                print(row(label, asked), flush=True)
                if name == "rtqa":
                    print(row(label + " (held-out wk)", [a for a in asked if a.held_out]), flush=True)
                if long_gold is not None:
                    kept = [a for a, q in zip(asked, questions, strict=True) if q.qid in long_gold]
                    print(row(label + " (gold ≥ 60 ch)", kept), flush=True)
    if "seeds" in sets:
        settings = Settings.from_env(env={}, dotenv_path=None).with_(
            index_dir=index_dir("seeds", embedder.backend), show_progress=False
        )
        ingest([ROOT / "seeds"], settings, embedder=embedder)
        seeds = Brief(settings, embedder)
        items = load_qa(ROOT / "tests" / "data" / "seeds_qa.jsonl")
        print("\nseeds QA (evidence sentence in the top k):")
        for ab, options in {**ablations, "no floor": Options(floor=False)}.items():
            o = evaluate(seeds, items, options, progress=False).overall
            print(f"{ab:24} hit@1 {o.hit1:.3f} hit@3 {o.hit3:.3f} MRR {o.mrr:.3f} abstain {o.unanswered_correct:.2f} "
                  f"date {o.date_correct:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
