"""Fit the answer model: P(sentence holds the answer) and the no-answer threshold, from public dev sets.

    python bench/train_answer.py [--squad 1500] [--precision 0.9]

Data (read from ../shared/eval, never committed): RealTime QA (real news, question date as as-of),
SQuAD dev and TimeQA, each also as a "drop-gold" variant (the question's gold articles hidden, so
near-topic distractors stay and the answer is gone). A candidate sentence is positive when it
contains a gold answer string. Questions are split by article (SQuAD title, TimeQA page) and by
week (RealTime QA) with a fixed hash: the model and threshold are fitted on the train half only and
every figure printed (and stored in the JSON's `info`) comes from the held-out half.

The model is gradient-boosted trees (sklearn, exported as plain node arrays) over
`retrieval.answer.FEATURES`, each dev set weighted equally; the threshold is the lowest probability at which the answers given on the train half
(normal and drop-gold questions together) are right at least `--precision` of the time. Set
BRIEF_EMBED_MODEL to refit for another embedding model: the file is named after it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import date

import numpy as np
from devsets import (
    CACHE,
    DevQuestion,
    available,
    build,
    load_embedder,
    rtqa_questions,
    squad_questions,
    timeqa_questions,
)

from retrieval.answer import FEATURES, POOL_DEPTH
from retrieval.fitted import AnswerModel, Tree, path_for
from retrieval.question import read_question
from retrieval.search import Options, Scope

QUOTES = "\"'“”‘’«»"
TREES, LEAVES = 150, 8  # small enough to ship as JSON, enough to beat a linear model by ~5 points


def normalize_answer(text: str) -> str:
    """Lower case, quotes and a leading "the" stripped, white space folded: how answer lines are matched."""
    text = " ".join(text.lower().translate(str.maketrans(dict.fromkeys(QUOTES, " "))).split())
    return re.sub(r"^the\s+", "", text)


def holds(sentence: str, answers: tuple[str, ...]) -> bool:
    """True if the sentence contains one of the answer strings."""
    s = normalize_answer(sentence)
    return any(a and a in s for a in (normalize_answer(x) for x in answers))


def held_out(group: str) -> bool:
    """The fixed split: half of the articles (or weeks) are never used for fitting."""
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % 2 == 1


@dataclass
class Rows:
    """Feature rows of one set of questions, with labels and the question each row belongs to."""

    x: list[list[float]]
    y: list[int]
    q: list[int]  # question number
    meta: list[tuple[str, str, bool, bool]]  # per question: dataset, qid, drop-gold, held out


def collect(name: str, brief: object, keys: dict[str, set[str]], questions: list[DevQuestion], rows: Rows) -> None:
    """Candidates of every question (and of its drop-gold variant) with their features and labels."""
    by_key: dict[str, str] = {k: doc for doc, ks in keys.items() for k in ks}
    reader = brief.reader()  # type: ignore[attr-defined]
    topics = [read_question(reader, dq.question, date.fromisoformat(dq.as_of) if dq.as_of else None).topic
              for dq in questions]  # fmt: skip
    brief.embedder.encode_queries(topics)  # type: ignore[attr-defined]  # one batch, cached
    for dq in questions:
        as_of = date.fromisoformat(dq.as_of) if dq.as_of else None
        gold_docs = frozenset(by_key[g] for g in dq.gold if g in by_key)
        for drop in (False, True):
            q = read_question(reader, dq.question, as_of)
            scope = Scope(as_of, gold_docs if drop else frozenset())
            _, picks, _ = brief.find(reader, q, POOL_DEPTH, Options(coverage=False), scope)  # type: ignore[attr-defined]
            n = len(rows.meta)
            rows.meta.append((name, dq.qid, drop, held_out(dq.group)))
            for p in picks:
                rows.x.append(list(p.features))
                rows.y.append(int(holds(p.text, dq.answers)))
                rows.q.append(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=int, default=1500, help="SQuAD questions sampled (seed 13)")
    parser.add_argument("--precision", type=float, default=0.5,
                        help="precision of the answers given on the train half (out of fold), normal and drop-gold questions together")
    parser.add_argument("--threshold-sets", default="rtqa,squad",
                        help="dev sets whose questions set the no-answer threshold (TimeQA's constrained questions are "
                             "reported, not used: no news question reads like them)")
    parser.add_argument("--sets", default="rtqa,squad,timeqa", help="dev sets to fit on (comma-separated)")
    parser.add_argument("--reuse", action="store_true", help="refit on the candidates collected by the last run")
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if available(s)]
    if not sets:
        print("skipped: no dev sets in ../shared/eval")
        return
    embedder = load_embedder()
    cached = CACHE / "answer-rows.npz"
    if args.reuse and cached.is_file():
        data = np.load(cached, allow_pickle=True)  # our own file, written below
        x, y, qn = data["x"], data["y"], data["q"]
        meta = [(str(a), str(b), bool(c), bool(d)) for a, b, c, d in data["meta"]]
    else:
        rows = Rows([], [], [], [])
        for name in sets:
            brief, keys = build(name, embedder)
            questions = {"rtqa": rtqa_questions, "squad": squad_questions, "timeqa": timeqa_questions}[name]()
            if name == "squad":
                random.Random(13).shuffle(questions)
                questions = questions[: args.squad]
            print(f"{name}: {len(questions)} questions", file=sys.stderr)
            collect(name, brief, keys, questions, rows)
        x, y, qn, meta = np.asarray(rows.x), np.asarray(rows.y), np.asarray(rows.q), rows.meta
        np.savez_compressed(cached, x=x, y=y, q=qn, meta=np.asarray(meta, dtype=object))
    model, report = fit(x, y, qn, meta, args.precision, embedder.model_id, args.threshold_sets.split(","))
    blend_cases: list = []
    for name in [s for s in sets if s in ("rtqa", "squad")]:
        brief, keys = build(name, embedder)
        questions = {"rtqa": rtqa_questions, "squad": squad_questions}[name]()
        random.Random(7).shuffle(questions)
        blend_cases += blend_data(brief, keys, questions[:400], model)
    model, blend_report = fit_blend(model, blend_cases)
    report += "\n" + blend_report
    path = path_for("answer", embedder.model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(report)
    print(f"wrote {path}")


def fit(
    x: np.ndarray, y: np.ndarray, qn: np.ndarray, meta: list[tuple[str, str, bool, bool]], precision: float,
    model_id: str, threshold_sets: list[str],
) -> tuple[AnswerModel, str]:  # fmt: skip
    """Fit on the train half, choose the threshold there, measure on the held-out half."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    test_q = np.asarray([m[3] for m in meta])
    dataset = np.asarray([m[0] for m in meta])
    train = ~test_q[qn]
    # Each dev set counts equally, whatever its number of candidate sentences.
    weight = np.ones(len(y))
    for name in set(dataset):
        mask = train & (dataset[qn] == name)
        weight[mask] = len(y[train]) / max(1, mask.sum()) / len(set(dataset))
    def boosted() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(max_iter=TREES, learning_rate=0.08, max_leaf_nodes=LEAVES, random_state=0)

    gb = boosted().fit(x[train], y[train], sample_weight=weight[train])
    trees = tuple(_tree(p[0]) for p in gb._predictors)
    baseline = float(np.ravel(gb._baseline_prediction)[0])
    model = AnswerModel(FEATURES, trees, baseline, 0.5, model_id)
    assert np.allclose(model.probabilities(x[:2000]), gb.predict_proba(x[:2000])[:, 1], atol=1e-4)
    prob = model.probabilities(x)
    # The threshold is chosen on out-of-fold probabilities of the train half (3 folds by article or
    # week): probabilities of questions a model was fitted on are overconfident.
    groups = np.asarray([int(hashlib.sha256(_group(m[1]).encode()).hexdigest(), 16) % 3 for m in meta])[qn]
    for fold in range(3):
        fit_rows, out_rows = train & (groups != fold), train & (groups == fold)
        prob[out_rows] = boosted().fit(x[fit_rows], y[fit_rows], sample_weight=weight[fit_rows]).predict_proba(
            x[out_rows])[:, 1]  # fmt: skip
    tops = _tops(prob, y, qn, len(meta))
    chosen = [m[0] in threshold_sets or not set(threshold_sets) & set(dataset) for m in meta]
    threshold = _threshold(tops, [m for m, c in zip(meta, chosen, strict=True) if c],
                           dataset[np.asarray(chosen)], precision, [i for i, c in enumerate(chosen) if c])
    info = {
        "trained": date.today().isoformat(),
        "data": "../shared/eval: realtimeqa_dev, squad_dev, timeqa_dev (+ drop-gold variants)",
        "split": "sha256(group) odd = held out; group = RealTime QA week, SQuAD title, TimeQA page",
        "train_questions": int((~test_q).sum()),
        "held_out_questions": int(test_q.sum()),
        "target_precision": precision,
        "threshold_sets": threshold_sets,
        "held_out": _figures(tops, meta, threshold, held=True),
        "train": _figures(tops, meta, threshold, held=False),
    }
    model = AnswerModel(FEATURES, trees, baseline, threshold, model_id, info)
    gains = np.zeros(len(FEATURES))
    for p in gb._predictors:
        nodes = p[0].nodes
        np.add.at(gains, nodes["feature_idx"][nodes["is_leaf"] == 0], nodes["gain"][nodes["is_leaf"] == 0])
    lines = [f"threshold {threshold:.3f} (precision ≥ {precision} on the train half)", "split gain share per feature:"]
    lines += [f"  {f:18} {g / gains.sum():.3f}" for f, g in sorted(zip(FEATURES, gains, strict=True), key=lambda t: -t[1])]
    lines.append("trade-off (threshold for a precision target on the train half, out of fold -> held-out figures):")
    for target in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9):
        t = _threshold(tops, [m for m, c in zip(meta, chosen, strict=True) if c],
                       dataset[np.asarray(chosen)], target, [i for i, c in enumerate(chosen) if c])  # fmt: skip
        fig = _figures(tops, meta, t, held=True)
        lines.append(f"  precision {target:.2f}: threshold {t:.3f} " + "; ".join(
            f"{k} line {v['answer_line_holds_answer']:.3f} drop-unanswered {v['drop_gold_unanswered']:.3f} "
            f"precision {v['precision_of_answers_given']:.3f}" for k, v in fig.items()))  # fmt: skip
    lines.append("held out:")
    lines += [f"  {k}: {v}" for k, v in info["held_out"].items()]
    return model, "\n".join(lines)


def blend_data(brief: object, keys: dict[str, set[str]], questions: list[DevQuestion], model: AnswerModel) -> list:
    """(held out, [(best sentence probability, fused score share, is gold)] per passage) of each question."""
    by_key = {k: doc for doc, ks in keys.items() for k in ks}
    brief.answer_model = model  # type: ignore[attr-defined]
    reader = brief.reader()  # type: ignore[attr-defined]
    out = []
    for dq in questions:
        as_of = date.fromisoformat(dq.as_of) if dq.as_of else None
        gold = frozenset(by_key[g] for g in dq.gold if g in by_key)
        q = read_question(reader, dq.question, as_of)
        hits, picks, _ = brief.find(reader, q, POOL_DEPTH, Options(coverage=False), Scope(as_of))  # type: ignore[attr-defined]
        probs = model.probabilities(np.asarray([p.features for p in picks])) if picks else []
        best: dict[int, float] = {}
        for p, pr in zip(picks, probs, strict=True):
            best[p.hit] = max(best.get(p.hit, 0.0), float(pr))
        top = max((h.score for h in hits), default=1.0) or 1.0
        out.append((held_out(dq.group), [(best.get(i, 0.0), h.score / top, h.passage.doc_id in gold)
                                          for i, h in enumerate(hits)]))  # fmt: skip
    return out


def fit_blend(model: AnswerModel, cases: list) -> tuple[AnswerModel, str]:
    """The share of the fused retrieval score added to a passage's best sentence when citing: most gold in the top 5."""
    from dataclasses import replace

    def gold5(blend: float, held: bool) -> float:
        hit = [any(g for _, _, g in sorted(ps, key=lambda t: -(t[0] + blend * t[1]))[:5]) for h, ps in cases if h == held]
        return sum(hit) / max(1, len(hit))

    grid = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 100.0]
    best = max(grid, key=lambda b: (gold5(b, False), -b))
    figures = {"blend": best, "train_gold_at_5": round(gold5(best, False), 3), "held_out_gold_at_5": round(gold5(best, True), 3),
               "held_out_gold_at_5_fused_only": round(gold5(100.0, True), 3)}  # fmt: skip
    return replace(model, passage_blend=best, info={**model.info, "passage_blend": figures}), f"blend: {figures}"


def _group(qid: str) -> str:
    """The article or week a question id belongs to, where the id says (TimeQA page, RealTime QA week)."""
    return qid.split("#")[0] if qid.startswith("/wiki/") else qid.split("_")[0]


def _tree(predictor: object) -> Tree:
    """A fitted sklearn tree as plain node arrays."""
    nodes = predictor.nodes  # type: ignore[attr-defined]
    leaf = nodes["is_leaf"].astype(bool)
    return Tree(np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64), nodes["num_threshold"].astype(np.float64),
                nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), nodes["value"].astype(np.float64))  # fmt: skip


def _tops(prob: np.ndarray, y: np.ndarray, qn: np.ndarray, n: int) -> list[tuple[float, bool]]:
    """Per question: the top candidate's probability and whether it holds the answer."""
    tops: list[tuple[float, bool] | None] = [None] * n
    for i in np.argsort(-prob, kind="stable"):
        q = int(qn[i])
        if tops[q] is None:
            tops[q] = (float(prob[i]), bool(y[i]))
    return [t or (0.0, False) for t in tops]


def _threshold(tops: list[tuple[float, bool]], meta: list, dataset: np.ndarray, precision: float,
               index: list[int]) -> float:  # fmt: skip
    """The lowest threshold whose train-half answers are right at least `precision` of the time, sets weighted equally."""
    tops = [tops[i] for i in index]
    train = [i for i, m in enumerate(meta) if not m[3]]
    sizes = {name: sum(dataset[i] == name for i in train) for name in set(dataset)}
    for t in sorted({round(tops[i][0], 3) for i in train}):
        given = [i for i in train if tops[i][0] >= t]
        if not given:
            break
        w = [1 / sizes[dataset[i]] for i in given]
        if sum(wi for wi, i in zip(w, given, strict=True) if tops[i][1]) / sum(w) >= precision:
            return t
    return 1.0


def _figures(tops: list[tuple[float, bool]], meta: list, threshold: float, held: bool) -> dict[str, dict[str, float]]:
    """Per dev set: answer line right (no floor / with floor), drop-gold unanswered and precision of answers given."""
    out: dict[str, dict[str, float]] = {}
    for name in sorted({m[0] for m in meta}):
        normal = [i for i, m in enumerate(meta) if m[0] == name and not m[2] and m[3] == held]
        drop = [i for i, m in enumerate(meta) if m[0] == name and m[2] and m[3] == held]
        if not normal:
            continue
        answered = [i for i in normal + drop if tops[i][0] >= threshold]
        out[name] = {
            "questions": len(normal),
            "answer_line_holds_answer_no_floor": round(sum(tops[i][1] for i in normal) / len(normal), 3),
            "answer_line_holds_answer": round(sum(tops[i][1] and tops[i][0] >= threshold for i in normal) / len(normal), 3),
            "drop_gold_unanswered": round(sum(tops[i][0] < threshold for i in drop) / max(1, len(drop)), 3),
            "precision_of_answers_given": round(sum(tops[i][1] for i in answered) / max(1, len(answered)), 3),
            "drop_gold_precision": round(
                sum(tops[i][1] for i in drop if tops[i][0] >= threshold)
                / max(1, sum(tops[i][0] >= threshold for i in drop)), 3),
        }
    return out


if __name__ == "__main__":
    main()
