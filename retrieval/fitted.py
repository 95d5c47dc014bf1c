"""Fitted parameters: the one home of every weight and threshold that decides answers.

Each model is a JSON file in `retrieval/fitted/`, written by a training script in `bench/` from
the public dev sets, named after the embedding model it was fitted for (its cosines depend on it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = Path(__file__).resolve().parent / "fitted"
log = logging.getLogger(__name__)


def precision_suffix(precision: str) -> str:
    """How files kept per precision of the vectors are told apart: "" for fp32, "-int8" for int8."""
    return "" if precision == "fp32" else f"-{precision}"


def path_for(name: str, model_id: str, precision: str = "fp32") -> Path:
    """Where the fitted parameters `name` for an embedding model (and its vectors' precision) live."""
    return FOLDER / f"{name}-{model_id}{precision_suffix(precision)}.json"


@dataclass(frozen=True)
class Tree:
    """One regression tree: node arrays; a node with feature -1 is a leaf holding `value`."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """The leaf value each row ends in (a row goes left when its feature is <= the threshold)."""
        node = np.zeros(len(matrix), dtype=np.int64)
        rows = np.arange(len(matrix))
        for _ in range(len(self.feature)):
            feature = self.feature[node]
            inner = feature >= 0
            if not inner.any():
                break
            left = matrix[rows, np.maximum(feature, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(left, self.left[node], self.right[node]), node)
        return self.value[node]

    def to_dict(self) -> dict[str, list]:
        """JSON-ready node arrays."""
        return {"feature": self.feature.tolist(), "threshold": [round(float(t), 6) for t in self.threshold],
                "left": self.left.tolist(), "right": self.right.tolist(),
                "value": [round(float(v), 6) for v in self.value]}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> Tree:
        """Inverse of to_dict."""
        return cls(*(np.asarray(d[k], dtype=np.int64 if k in ("feature", "left", "right") else np.float64)
                     for k in ("feature", "threshold", "left", "right", "value")))  # fmt: skip


@dataclass(frozen=True)
class AnswerModel:
    """Gradient-boosted trees for P(sentence holds the answer) over `answer.FEATURES`, trees for
    P(the best sentence holds it) over `answer.QUESTION_FEATURES`, and the no-answer threshold."""

    features: tuple[str, ...]
    trees: tuple[Tree, ...]
    baseline: float  # log-odds before the first tree
    threshold: float  # below this P(answerable), Brief says it has no answer (chosen for a precision)
    model_id: str
    info: dict[str, Any] = field(default_factory=dict)  # training data, split and held-out figures
    passage_blend: float = 0.0  # passages are cited by best sentence + this share of the fused score
    question_features: tuple[str, ...] = ()
    answerable_trees: tuple[Tree, ...] = ()
    answerable_baseline: float = 0.0
    range_share: float | None = None  # time-range questions keep to sentences within this share of the best
    # Both tree lists stacked once, when the model is made (see Forest).
    _forest: Forest | None = field(init=False, repr=False, compare=False, default=None)
    _answerable_forest: Forest | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_forest", Forest.of(self.trees) if self.trees else None)
        object.__setattr__(self, "_answerable_forest", Forest.of(self.answerable_trees) if self.answerable_trees else None)

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        """P(holds the answer) for each row of a feature matrix."""
        return _sigmoid(self.baseline, self._forest, matrix)

    def threshold_for(self, precision: float) -> float:
        """The no-answer threshold fitted for a precision target: the stored operating point at or
        above it (the default threshold when none was stored, 0 for a target of 0)."""
        if precision <= 0:
            return 0.0
        points = sorted((float(p), float(t)) for p, t in (self.info.get("operating_points") or {}).items())
        for target, threshold in points:
            if target >= precision - 1e-9:
                return threshold
        return points[-1][1] if points else self.threshold

    def answerable(self, features: list[float]) -> float:
        """P(the best sentence holds the answer) from a candidate list's QUESTION_FEATURES."""
        if not self.answerable_trees:
            return features[0]
        return float(_sigmoid(self.answerable_baseline, self._answerable_forest, np.asarray([features]))[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {
            "features": list(self.features), "baseline": self.baseline, "threshold": self.threshold,
            "model_id": self.model_id, "passage_blend": self.passage_blend, "info": self.info,
            "trees": [t.to_dict() for t in self.trees], "question_features": list(self.question_features),
            "answerable_baseline": self.answerable_baseline,
            "answerable_trees": [t.to_dict() for t in self.answerable_trees], "range_share": self.range_share,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnswerModel:
        """Inverse of to_dict."""
        return cls(
            tuple(d["features"]), tuple(Tree.from_dict(t) for t in d["trees"]), float(d["baseline"]),
            float(d["threshold"]), str(d["model_id"]),
            dict(d.get("info") or {}), float(d.get("passage_blend", 0.0)),
            tuple(d.get("question_features", ())), tuple(Tree.from_dict(t) for t in d.get("answerable_trees", ())),
            float(d.get("answerable_baseline", 0.0)),
            None if d.get("range_share") is None else float(d["range_share"]),
        )  # fmt: skip


@cache
def background() -> tuple[int, dict[str, int]]:
    """General-prose word statistics (passages counted, passages using each word), from
    `bench/background.py`; (1, {}) when the file is missing."""
    path = FOLDER / "background.json"
    if not path.is_file():
        log.warning("no background word statistics (%s): fit them with `python bench/background.py`", path)
        return 1, {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return int(data["passages"]), {str(k): int(v) for k, v in data["df"].items()}


@cache
def probe_cosine(model_id: str) -> float | None:
    """How close to a stored vector the queries that tune Postgres's HNSW search sit (`bench/fit_search.py`:
    as close as the hardest tenth of real questions to their nearest passage), or None if not fitted."""
    path = path_for("search", model_id)
    if not path.is_file():
        return None
    return float(json.loads(path.read_text(encoding="utf-8"))["probe_cosine"])


@cache
def answer_model(model_id: str, precision: str = "fp32") -> AnswerModel | None:
    """The answer model fitted for this embedding model and precision, or None (with a warning) if there is none.

    int8 vectors' cosines differ from fp32 ones by up to 0.02, so each precision has its own fit;
    without one, the fp32 fit is used. Whether it was fitted on today's features is the answer
    stage's check (`retrieval.answer.pick.fitted_model`).
    """
    path = path_for("answer", model_id, precision)
    if not path.is_file():
        path = path_for("answer", model_id)
    if not path.is_file():
        log.warning("no answer model fitted for %s (%s): answers are ranked by cosine and never withheld; "
                    "fit one with `python bench/train_answer.py`", model_id, path)  # fmt: skip
        return None
    return AnswerModel.from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Forest:
    """Trees stacked into flat node arrays (tree t's node i at t * width + i), so that every row walks
    every tree at once: a few numpy steps per level instead of per level and tree (a question's
    few hundred sentences through 150 trees took ~20 ms the other way, ~4 ms so)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray  # flat index of the left child
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray  # flat index of each tree's root
    depth: int  # the deepest leaf's level: steps every row takes

    @classmethod
    def of(cls, trees: tuple[Tree, ...]) -> Forest:
        """The trees, stacked."""
        width = max(len(t.feature) for t in trees)
        roots = np.arange(len(trees), dtype=np.int64) * width
        feature = np.full(len(trees) * width, -1, dtype=np.int64)
        threshold, value = np.zeros(len(feature)), np.zeros(len(feature))
        left, right = np.zeros(len(feature), dtype=np.int64), np.zeros(len(feature), dtype=np.int64)
        depth = 0
        for tree, root in zip(trees, roots, strict=True):
            n = len(tree.feature)
            feature[root : root + n], threshold[root : root + n], value[root : root + n] = (
                tree.feature, tree.threshold, tree.value,
            )  # fmt: skip
            left[root : root + n], right[root : root + n] = tree.left + root, tree.right + root
            levels = {0: 0}
            for i in range(n):  # children come after their parent in these arrays
                if tree.feature[i] >= 0:
                    levels[int(tree.left[i])] = levels[int(tree.right[i])] = levels[i] + 1
            depth = max(depth, *levels.values())
        return cls(feature, threshold, left, right, value, roots, depth)

    def leaf_values(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, trees): the leaf value each row ends in, in each tree (as `Tree.predict`)."""
        node = np.broadcast_to(self.roots, (len(matrix), len(self.roots))).copy()
        cells = np.ascontiguousarray(matrix, dtype=np.float64).ravel()
        row_start = (np.arange(len(matrix), dtype=np.int64) * matrix.shape[1])[:, None]
        for _ in range(self.depth):
            feature = self.feature.take(node)
            left = cells.take(row_start + np.maximum(feature, 0)) <= self.threshold.take(node)
            node = np.where(feature >= 0, np.where(left, self.left.take(node), self.right.take(node)), node)
        return self.value.take(node)


def _sigmoid(baseline: float, forest: Forest | None, matrix: np.ndarray) -> np.ndarray:
    z = np.full(len(matrix), baseline)
    if forest is not None and len(matrix):
        for column in forest.leaf_values(matrix).T:  # added tree by tree, in order: the same sums as tree by tree
            z += column
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
