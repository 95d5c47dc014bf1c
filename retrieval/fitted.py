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


def path_for(name: str, model_id: str) -> Path:
    """Where the fitted parameters `name` for an embedding model live."""
    return FOLDER / f"{name}-{model_id}.json"


@dataclass(frozen=True)
class AnswerModel:
    """Logistic model of P(sentence holds the answer) over `answer.FEATURES`, and the no-answer threshold."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float  # below this probability Brief says it has no answer
    pool_threshold: float  # sentences this likely are "about the question" when ordering by date or keeping to a range
    model_id: str
    info: dict[str, Any] = field(default_factory=dict)  # training data, split and held-out figures

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        """P(holds the answer) for each row of a feature matrix."""
        z = ((matrix - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {
            "features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "weights": self.weights.tolist(), "bias": self.bias, "threshold": self.threshold,
            "pool_threshold": self.pool_threshold, "model_id": self.model_id, "info": self.info,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnswerModel:
        """Inverse of to_dict."""
        return cls(
            tuple(d["features"]), np.asarray(d["mean"]), np.asarray(d["scale"]), np.asarray(d["weights"]),
            float(d["bias"]), float(d["threshold"]), float(d.get("pool_threshold", d["threshold"])), str(d["model_id"]),
            dict(d.get("info") or {}),
        )  # fmt: skip


@cache
def answer_model(model_id: str) -> AnswerModel | None:
    """The answer model fitted for this embedding model, or None (with a warning) if there is none."""
    from retrieval.answer import FEATURES

    path = path_for("answer", model_id)
    if not path.is_file():
        log.warning("no answer model fitted for %s (%s): answers are ranked by cosine and never withheld; "
                    "fit one with `python bench/train_answer.py`", model_id, path)  # fmt: skip
        return None
    model = AnswerModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    if model.features != FEATURES:
        log.warning("%s was fitted on other features; refit it with `python bench/train_answer.py`", path)
        return None
    return model
