"""Fit the answer model: P(sentence holds the answer) and the no-answer threshold, from public dev sets.

    python bench/train_answer.py [--squad 1500] [--precision 0.9]

Data (read from ../shared/eval, never committed): RealTime QA (real news, question date as as-of),
SQuAD dev and TimeQA, each also as a "drop-gold" variant (the question's gold articles hidden, so
near-topic distractors stay and the answer is gone). A candidate sentence is positive when it
contains a gold answer string. Questions are split by article (SQuAD title, TimeQA page) and by
week (RealTime QA) with a fixed hash: the model and threshold are fitted on the train half only and
every figure printed (and stored in the JSON's `info`) comes from the held-out half.

The model is gradient-boosted trees (sklearn, exported as plain node arrays) over
`retrieval.answer.pick.FEATURES`, each dev set weighted equally; the threshold is the lowest probability at which the answers given on the train half
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
    SQUAD,
    DevQuestion,
    available,
    build,
    load_embedder,
    rtqa_questions,
    squad_questions,
    timeqa_questions,
)

from retrieval.answer.pick import FEATURES, POOL_DEPTH, QUESTION_FEATURES, AnswerPick, question_features
from retrieval.embeddings import precision
from retrieval.fitted import AnswerModel, Tree, path_for, precision_suffix
from retrieval.search.hybrid import Options, Scope
from retrieval.search.question import read_question

QUOTES = "\"'“”‘’«»"
TREES, LEAVES = 150, 8  # small enough to ship as JSON, enough to beat a linear model by ~5 points
OPERATING_POINTS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
MIN_POOL_QUESTIONS = 20  # a dev set with fewer time-range questions is too small to weigh equally
SMALL_NEAREST = 10  # passages per question whose articles join a RealTime QA week's small corpus
MORE_IS_BETTER = {f: 1 for f in ("best", "top5_sum", "max_cosine", "max_passage_cosine", "max_coverage",
                                  "max_passage_coverage", "best_cosine", "best_coverage", "best_passage_coverage",
                                  "best_bm25", "best_rarest", "best_type_found", "max_bm25")} | {"unknown_words": -1}
Q_TREES, Q_LEAVES = 100, 6  # the answerable model: one row per question, so fewer and smaller trees


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


def collect_small(name: str, brief: object, keys: dict[str, set[str]], questions: list[DevQuestion], embedder: object,
                  rows: Rows) -> None:  # fmt: skip
    """The same questions on small corpora: per group (week or page), its gold records and, for
    RealTime QA, the articles the full index finds nearest to the week's questions."""
    from devsets import rtqa_articles, squad_articles, timeqa_articles

    records = {"rtqa": rtqa_articles, "squad": squad_articles, "timeqa": timeqa_articles}[name]()
    by_key = {r["doc_key"]: r for r in records}
    groups: dict[str, list[DevQuestion]] = {}
    for dq in questions:
        groups.setdefault(dq.group, []).append(dq)
    if name == "squad":
        titles = {json.loads(line)["pid"]: json.loads(line)["title"] for line in (SQUAD / "paragraphs.jsonl").open()}
        members = {g: {k for k, t in titles.items() if t == g} for g in groups}
    elif name == "timeqa":
        members = {g: {r["doc_key"] for r in records if str(r["doc_key"]).startswith(g + "#")} for g in groups}
        for g, qs in groups.items():
            members[g] |= {k for dq in qs for k in dq.gold}
    else:
        reader = brief.reader()  # type: ignore[attr-defined]
        members = {}
        for g, qs in groups.items():
            near: set[str] = set()
            for dq in qs:
                q = read_question(reader, dq.question, date.fromisoformat(dq.as_of) if dq.as_of else None)
                hits, _, _ = brief.find(reader, q, SMALL_NEAREST, Options(coverage=False), Scope(None))  # type: ignore[attr-defined]
                near |= {k for h in hits for k in keys.get(h.passage.doc_id, ())} | set(dq.gold)
            members[g] = near
    for n, (g, qs) in enumerate(sorted(groups.items())):
        chosen = [by_key[k] for k in sorted(members[g]) if k in by_key]
        if len(chosen) < 2:
            continue
        tag = "-small-" + hashlib.sha256(g.encode()).hexdigest()[:10]
        small, small_keys = build(name, embedder, chosen, tag=tag)
        print(f"{name} small {n + 1}/{len(groups)}: {len(chosen)} records, {len(qs)} questions", file=sys.stderr)
        collect(f"{name}-small", small, small_keys, qs, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=int, default=1500, help="SQuAD questions sampled (seed 13)")
    parser.add_argument("--precision", type=float, default=0.5,
                        help="precision of the answers given on the train half (out of fold), normal and drop-gold questions together")
    parser.add_argument("--threshold-sets", default="rtqa,squad,rtqa-small,squad-small",
                        help="dev sets whose questions set the no-answer threshold (TimeQA's constrained questions are "
                             "reported, not used: no news question reads like them)")
    parser.add_argument("--sets", default="rtqa,squad,timeqa", help="dev sets to fit on (comma-separated)")
    parser.add_argument("--small", action=argparse.BooleanOptionalAction, default=True,
                        help="also collect on small topical corpora (a RealTime QA week's nearest articles, one SQuAD "
                             "or TimeQA page): a newsroom folder scores differently from a big archive")
    parser.add_argument("--reuse", action="store_true", help="refit on the candidates collected by the last run")
    parser.add_argument("--objective", choices=("pointwise", "lambdarank"), default="pointwise",
                        help="sentence model: sklearn trees classifying each sentence (shipped), or LightGBM LambdaRank "
                             "trees ranking each question's candidates, Platt-scaled (the `bench` extra; see README)")
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if available(s)]
    if not sets:
        print("skipped: no dev sets in ../shared/eval")
        return
    embedder = load_embedder()
    cached = CACHE / f"answer-rows{precision_suffix(precision(embedder.backend))}.npz"
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
            if args.small:
                collect_small(name, brief, keys, questions, embedder, rows)
        x, y, qn, meta = np.asarray(rows.x), np.asarray(rows.y), np.asarray(rows.q), rows.meta
        np.savez_compressed(cached, x=x, y=y, q=qn, meta=np.asarray(meta, dtype=object))
    model, report = fit(x, y, qn, meta, args.precision, embedder.model_id, args.threshold_sets.split(","), args.objective)
    blend_cases: list = []
    for name in [s for s in sets if s in ("rtqa", "squad")]:
        brief, keys = build(name, embedder)
        questions = {"rtqa": rtqa_questions, "squad": squad_questions}[name]()
        random.Random(7).shuffle(questions)
        blend_cases += [(name, *case) for case in blend_data(brief, keys, questions[:400], model)]
    model, blend_report = fit_blend(model, blend_cases)
    report += "\n" + blend_report
    pool_cases: list = []
    for name in [s for s in sets if s in ("rtqa", "squad", "timeqa")]:
        brief, _ = build(name, embedder)
        questions = {"rtqa": rtqa_questions, "squad": squad_questions, "timeqa": timeqa_questions}[name]()
        pool_cases += pool_data(name, brief, questions, model)
    model, pool_report = fit_pool(model, pool_cases)
    report += "\n" + pool_report
    path = path_for("answer", embedder.model_id, precision(embedder.backend))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(report)
    print(f"wrote {path}")


def fit(
    x: np.ndarray, y: np.ndarray, qn: np.ndarray, meta: list[tuple[str, str, bool, bool]], precision: float,
    model_id: str, threshold_sets: list[str], objective: str = "pointwise",
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

    def sentence_model(rows: np.ndarray) -> tuple[tuple[Tree, ...], float, np.ndarray]:
        """(trees, baseline, split gain per feature) fitted on `rows`."""
        if objective == "lambdarank":
            return _ranker(x, y, qn, weight, np.flatnonzero(rows))
        gb = boosted().fit(x[rows], y[rows], sample_weight=weight[rows])
        trees = tuple(_tree(p[0]) for p in gb._predictors)
        fitted = AnswerModel(FEATURES, trees, float(np.ravel(gb._baseline_prediction)[0]), 0.5, model_id)
        assert np.allclose(fitted.probabilities(x[:2000]), gb.predict_proba(x[:2000])[:, 1], atol=1e-4)
        gains = np.zeros(len(FEATURES))
        for p in gb._predictors:
            nodes = p[0].nodes
            np.add.at(gains, nodes["feature_idx"][nodes["is_leaf"] == 0], nodes["gain"][nodes["is_leaf"] == 0])
        return trees, fitted.baseline, gains

    trees, baseline, gains = sentence_model(train)
    model = AnswerModel(FEATURES, trees, baseline, 0.5, model_id)
    prob = model.probabilities(x)
    # The threshold is chosen on out-of-fold probabilities of the train half (3 folds by article or
    # week): probabilities of questions a model was fitted on are overconfident.
    groups = np.asarray([int(hashlib.sha256(_group(m[1]).encode()).hexdigest(), 16) % 3 for m in meta])[qn]
    for fold in range(3):
        fit_rows, out_rows = train & (groups != fold), train & (groups == fold)
        f_trees, f_baseline, _ = sentence_model(fit_rows)
        prob[out_rows] = AnswerModel(FEATURES, f_trees, f_baseline, 0.5, model_id).probabilities(x[out_rows])
    # The answerable model: P(the best sentence holds the answer) from the whole candidate list,
    # fitted on the train half's out-of-fold sentence probabilities (what it sees at run time).
    qx, qy = _question_rows(x, prob, y, qn, len(meta))
    qtrain = ~test_q
    qweight = np.ones(len(qy))
    for name in set(dataset):
        mask = qtrain & (dataset == name)
        qweight[mask] = qtrain.sum() / max(1, mask.sum()) / len(set(dataset))

    # More of the question found, closer, never makes an answer less likely: monotonic constraints keep
    # the trees sane on corpora unlike the dev sets (an off-topic question on a five-article folder).
    monotonic = [MORE_IS_BETTER.get(f, 0) for f in QUESTION_FEATURES]

    def answerable() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(max_iter=Q_TREES, learning_rate=0.05, max_leaf_nodes=Q_LEAVES, random_state=0,
                                              monotonic_cst=monotonic)  # fmt: skip

    qgb = answerable().fit(qx[qtrain], qy[qtrain], sample_weight=qweight[qtrain])
    qprob = qgb.predict_proba(qx)[:, 1]
    qgroups = np.asarray([int(hashlib.sha256(_group(m[1]).encode()).hexdigest(), 16) % 3 for m in meta])
    for fold in range(3):
        fit_rows, out_rows = qtrain & (qgroups != fold), qtrain & (qgroups == fold)
        qprob[out_rows] = answerable().fit(qx[fit_rows], qy[fit_rows], sample_weight=qweight[fit_rows]).predict_proba(
            qx[out_rows])[:, 1]  # fmt: skip
    q_trees = tuple(_tree(p[0]) for p in qgb._predictors)
    q_baseline = float(np.ravel(qgb._baseline_prediction)[0])
    tops = [(float(a), bool(b)) for a, b in zip(qprob, qy, strict=True)]
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
        "operating_points": {},
        "held_out": _figures(tops, meta, threshold, held=True),
        "train": _figures(tops, meta, threshold, held=False),
    }
    model = AnswerModel(FEATURES, trees, baseline, threshold, model_id, info, 0.0, QUESTION_FEATURES, q_trees, q_baseline)
    check = model.answerable(list(qx[0]))
    assert abs(check - qgb.predict_proba(qx[:1])[0, 1]) < 1e-4, check
    lines = [f"threshold {threshold:.3f} (precision ≥ {precision} on the train half)", "split gain share per feature:"]
    lines += [f"  {f:18} {g / gains.sum():.3f}" for f, g in sorted(zip(FEATURES, gains, strict=True), key=lambda t: -t[1])]
    lines.append("trade-off (threshold for a precision target on the train half, out of fold -> held-out figures):")
    for target in OPERATING_POINTS:
        t = _threshold(tops, [m for m, c in zip(meta, chosen, strict=True) if c],
                       dataset[np.asarray(chosen)], target, [i for i, c in enumerate(chosen) if c])  # fmt: skip
        fig = _figures(tops, meta, t, held=True)
        info["operating_points"][f"{target:.2f}"] = t
        info.setdefault("operating_points_held_out", {})[f"{target:.2f}"] = fig
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
        """Gold passage in the top 5, the mean over dev sets (each set counts equally)."""
        per_set: dict[str, list[bool]] = {}
        for name, h, ps in cases:
            if h == held:
                per_set.setdefault(name, []).append(any(g for _, _, g in sorted(ps, key=lambda t: -(t[0] + blend * t[1]))[:5]))
        return sum(sum(v) / len(v) for v in per_set.values()) / max(1, len(per_set))

    grid = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 100.0]
    best = max(grid, key=lambda b: (round(gold5(b, False), 3), -b))
    figures = {"blend": best, "train_gold_at_5": round(gold5(best, False), 3), "held_out_gold_at_5": round(gold5(best, True), 3),
               "held_out_gold_at_5_fused_only": round(gold5(100.0, True), 3)}  # fmt: skip
    return replace(model, passage_blend=best, info={**model.info, "passage_blend": figures}), f"blend: {figures}"


def pool_data(name: str, brief: object, questions: list[DevQuestion], model: AnswerModel) -> list:
    """(set, held out, question, candidates, answers) of every time-range question."""
    brief.answer_model = model  # type: ignore[attr-defined]
    reader = brief.reader()  # type: ignore[attr-defined]
    out = []
    for dq in questions:
        as_of = date.fromisoformat(dq.as_of) if dq.as_of else None
        q = read_question(reader, dq.question, as_of)
        if q.time.order or not (q.time.after or q.time.before):
            continue
        _, picks, _ = brief.find(reader, q, POOL_DEPTH, Options(), Scope(as_of))  # type: ignore[attr-defined]
        if picks:
            out.append((name, held_out(dq.group), q, picks, dq.answers))
    print(f"{name}: {len(out)} time-range questions", file=sys.stderr)
    return out


def fit_pool(model: AnswerModel, cases: list) -> tuple[AnswerModel, str]:
    """The share of the best probability within which time-range questions look for a sentence dated
    in the range: the one whose answer line holds the answer most often on the train half, sets
    weighted equally. First/last questions are reported, not fitted (see answer.about)."""
    from dataclasses import replace

    from retrieval.answer.pick import choose

    def right(share: float | None, held: bool) -> dict[str, float]:
        by_set: dict[str, list[bool]] = {}
        for name, h, q, picks, answers in cases:
            if h == held and not q.time.order:
                pick = choose(picks, q, share=share)
                by_set.setdefault(name, []).append(pick is not None and holds(pick.text, answers))
        return {k: round(sum(v) / len(v), 3) for k, v in sorted(by_set.items()) if len(v) >= MIN_POOL_QUESTIONS}

    def mean(d: dict[str, float]) -> float:
        return sum(d.values()) / max(1, len(d))

    grid = [round(0.05 * i, 2) for i in range(21)]
    best = max(grid, key=lambda s: (mean(right(s, False)), s))
    figures = {"share": best, "train": right(best, False), "held_out": right(best, True),
               "held_out_best_sentence_only": right(1.0, True), "held_out_first_release_rule": right(None, True),
               "questions": len(cases)}  # fmt: skip
    return replace(model, range_share=best, info={**model.info, "range_share": figures}), f"pool: {figures}"


def _ranker(x: np.ndarray, y: np.ndarray, qn: np.ndarray, weight: np.ndarray,
            rows: np.ndarray) -> tuple[tuple[Tree, ...], float, np.ndarray]:  # fmt: skip
    """LambdaRank trees over `rows` (ranking each question's candidates), their scores mapped to
    P(holds the answer) by a Platt fit: (trees with the slope folded into their leaves, intercept, split gains)."""
    import lightgbm
    from sklearn.linear_model import LogisticRegression

    rows = rows[np.argsort(qn[rows], kind="stable")]
    sizes = np.unique(qn[rows], return_counts=True)[1]
    ranker = lightgbm.LGBMRanker(
        n_estimators=TREES, learning_rate=0.08, num_leaves=LEAVES, min_child_samples=50, lambdarank_truncation_level=10,
        deterministic=True, force_row_wise=True, random_state=0, verbose=-1,
    )  # fmt: skip
    ranker.fit(x[rows], y[rows], group=sizes, sample_weight=weight[rows])
    score = ranker.predict(x[rows])
    platt = LogisticRegression(C=1e6).fit(score[:, None], y[rows], sample_weight=weight[rows])
    slope, intercept = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    trees = tuple(_lgb_tree(t["tree_structure"], slope) for t in ranker.booster_.dump_model()["tree_info"])
    check = AnswerModel(FEATURES, trees, intercept, 0.5, "").probabilities(x[rows[:2000]])
    assert np.allclose(check, platt.predict_proba(score[:2000, None])[:, 1], atol=1e-4)
    return trees, intercept, ranker.booster_.feature_importance("gain")


def _lgb_tree(root: dict, scale: float) -> Tree:
    """A LightGBM tree (its dumped structure) as plain node arrays, parents before children, leaf values times `scale`."""
    nodes: list[list[float]] = []  # [feature, threshold, left, right, value], a leaf's feature -1

    def add(node: dict) -> int:
        i = len(nodes)
        nodes.append([-1, 0.0, 0, 0, 0.0])
        if "leaf_value" in node:
            nodes[i][4] = float(node["leaf_value"]) * scale
            return i
        assert node["decision_type"] == "<=" and node["missing_type"] != "NaN", node
        nodes[i][:2] = [int(node["split_feature"]), float(node["threshold"])]
        nodes[i][2] = add(node["left_child"])
        nodes[i][3] = add(node["right_child"])
        return i

    add(root)
    columns = np.asarray(nodes, dtype=np.float64).T
    return Tree(*(c.astype(np.int64) for c in columns[:1]), columns[1], *(c.astype(np.int64) for c in columns[2:4]),
                columns[4])  # fmt: skip


def _group(qid: str) -> str:
    """The article or week a question id belongs to, where the id says (TimeQA page, RealTime QA week)."""
    return qid.split("#")[0] if qid.startswith("/wiki/") else qid.split("_")[0]


def _tree(predictor: object) -> Tree:
    """A fitted sklearn tree as plain node arrays."""
    nodes = predictor.nodes  # type: ignore[attr-defined]
    leaf = nodes["is_leaf"].astype(bool)
    return Tree(np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64), nodes["num_threshold"].astype(np.float64),
                nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), nodes["value"].astype(np.float64))  # fmt: skip


def _question_rows(x: np.ndarray, prob: np.ndarray, y: np.ndarray, qn: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per question: QUESTION_FEATURES of its candidates ranked by `prob`, and whether the best holds the answer."""
    by_question: dict[int, list[int]] = {}
    for i in np.argsort(-prob, kind="stable"):
        by_question.setdefault(int(qn[i]), []).append(int(i))
    rank = FEATURES.index("rank")
    qx = np.zeros((n, len(QUESTION_FEATURES)))
    qy = np.zeros(n, dtype=bool)
    for q, rows in by_question.items():
        # The passage a candidate came from is its rank (1 / (passage number + 1)).
        picks = [AnswerPick(int(np.rint(1 / x[i, rank])), 0, 0, "", float(prob[i]), float(x[i, 0]), features=tuple(x[i]))
                 for i in rows]  # fmt: skip
        qx[q] = question_features(picks)
        qy[q] = bool(y[rows[0]])
    return qx, qy


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
