"""Quality on unseen data: RealTime QA (real news), SQuAD and TimeQA dev, and the seeds QA, per ablation.

    python bench/quality.py [--squad 1000] [--sets rtqa,squad,timeqa,seeds] [--quick]

Read from ../shared/eval (never committed); sets that are absent are skipped. SQuAD and TimeQA
figures come from the held-out half of the answer model's split (articles it was not fitted on);
RealTime QA is reported on all 103 questions and on its held-out weeks. Every figure is printed
again with the questions in lower case.

- gold@k: a gold article (RealTime QA), the gold paragraph (SQuAD, TimeQA) among the first k cited passages
- art@5: a gold article among the first 5 distinct articles cited
- line: the answer line contains a gold answer (quotes and a leading "the" stripped; no answer = wrong)
- no-floor line: the same with the no-answer threshold off
- drop: on the drop-gold variant (gold articles hidden), the share left unanswered, and the precision of what is answered
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from datetime import date

from devsets import (
    ROOT,
    DevQuestion,
    available,
    build,
    load_embedder,
    rtqa_questions,
    squad_questions,
    timeqa_articles,
    timeqa_questions,
)
from train_answer import held_out, holds

from retrieval import Brief, Mode, Options, Settings
from retrieval.evaluation import evaluate, load_qa
from retrieval.ingest import ingest

ABLATIONS = {
    "hybrid": Options(),
    "keyword": Options(mode=Mode.KEYWORD),
    "dense": Options(mode=Mode.DENSE),
    "no model": Options(coverage=False),
    "no dates": Options(dates=False),
}


@dataclass
class Tally:
    """Counts for one dev set and one ablation."""

    n: int = 0
    gold: dict[int, int] = field(default_factory=lambda: {1: 0, 5: 0, 10: 0})
    art5: int = 0
    line: int = 0
    line_no_floor: int = 0
    drop: int = 0
    drop_unanswered: int = 0
    drop_answered_right: int = 0
    seconds: float = 0.0

    def row(self, name: str) -> str:
        n = max(1, self.n)
        drop_answered = self.drop - self.drop_unanswered
        prec = f"{self.drop_answered_right / drop_answered:6.3f}" if drop_answered else "     -"
        return (
            f"{name:24} {self.n:>4} {self.gold[1] / n:6.3f} {self.gold[5] / n:6.3f} {self.gold[10] / n:6.3f} "
            f"{self.art5 / n:6.3f} {self.line / n:6.3f} {self.line_no_floor / n:8.3f} "
            f"{self.drop_unanswered / max(1, self.drop):6.3f} {prec} {1000 * self.seconds / max(1, self.n + self.drop):7.1f}"
        )


HEADER = f"{'':24} {'n':>4} {'gold@1':>6} {'gold@5':>6} {'gold@10':>6} {'art@5':>6} {'line':>6} {'no-floor':>8} {'drop':>6} {'prec':>6} {'ms/q':>7}"


def run(brief: Brief, keys: dict[str, set[str]], questions: list[DevQuestion], options: Options, lower: bool,
        drop: bool) -> Tally:  # fmt: skip
    """Ask every question (and its drop-gold variant) and count."""
    t = Tally()
    by_key = {k: doc for doc, ks in keys.items() for k in ks}
    no_floor = Options(options.mode, options.dedupe, options.sentences, options.coverage, options.dates, False)
    for dq in questions:
        text = dq.question.lower() if lower else dq.question
        as_of = date.fromisoformat(dq.as_of) if dq.as_of else None
        gold = frozenset(by_key[g] for g in dq.gold if g in by_key)
        started = time.perf_counter()
        result = brief.ask(text, 10, options, as_of)
        t.seconds += time.perf_counter() - started
        t.n += 1
        docs = [c.doc_id for c in result.passages]
        for k in t.gold:
            t.gold[k] += bool(gold & set(docs[:k]))
        t.art5 += bool(gold & set(list(dict.fromkeys(docs))[:5]))
        t.line += result.answer is not None and holds(result.answer.text, dq.answers)
        if options.floor:
            free = brief.ask(text, 10, no_floor, as_of)
            t.line_no_floor += free.answer is not None and holds(free.answer.text, dq.answers)
        if drop and gold:
            started = time.perf_counter()
            hidden = brief.ask(text, 10, options, as_of, hidden=gold)
            t.seconds += time.perf_counter() - started
            t.drop += 1
            t.drop_unanswered += hidden.answer is None
            t.drop_answered_right += hidden.answer is not None and holds(hidden.answer.text, dq.answers)
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=int, default=1000, help="held-out SQuAD questions sampled (seed 13)")
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
        groups = {"all": questions}
        if name == "rtqa":
            groups["held-out weeks"] = [q for q in questions if held_out(q.group)]
        else:
            groups = {"held out": [q for q in questions if held_out(q.group)]}
        if name == "timeqa":
            texts = {r["doc_key"]: r["text"] for r in timeqa_articles()}
            groups["held out, gold ≥ 60 chars"] = [
                q for q in groups["held out"] if any(len(texts.get(g, "")) >= 60 for g in q.gold)
            ]
        for label, qs in groups.items():
            print(f"\n{name} ({label}):\n{HEADER}")
            for ab, options in ablations.items():
                print(run(brief, keys, qs, options, False, True).row(ab), flush=True)
                if ab == "hybrid":
                    print(run(brief, keys, qs, options, True, True).row("hybrid, lower case"), flush=True)
    if "seeds" in sets:
        settings = Settings.from_env(env={}, dotenv_path=None).with_(
            index_dir=ROOT / "bench" / "results" / "seeds-index", show_progress=False
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
