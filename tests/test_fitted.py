"""Fitted parameters: the answer model (shipped for the bundled embedding model, self-describing, refused when
stale) and the probe queries that tune Postgres's HNSW search."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from retrieval.answer.pick import FEATURES
from retrieval.embeddings import Embedder
from retrieval.fitted import AnswerModel, answer_model, path_for


def test_the_bundled_model_has_a_fitted_answer_model(embedder: Embedder) -> None:
    model = answer_model(embedder.model_id)
    assert model is not None and model.features == FEATURES
    assert 0.0 < model.threshold < 1.0
    # The file says what it was fitted on, how it was split, and what it scored on held-out data.
    assert {"data", "split", "held_out", "target_precision"} <= set(model.info)
    assert model.info["held_out"], "held-out figures are recorded"


def test_probabilities_follow_the_trees_and_round_trip(embedder: Embedder) -> None:
    model = answer_model(embedder.model_id)
    assert model is not None
    rows = np.random.default_rng(0).normal(size=(50, len(FEATURES)))
    p = model.probabilities(rows)
    assert p.shape == (50,) and np.all((p > 0) & (p < 1))
    again = AnswerModel.from_dict(model.to_dict())
    assert np.allclose(again.probabilities(rows), p)


def test_all_trees_at_once_give_the_tree_by_tree_probabilities(embedder: Embedder) -> None:
    model = answer_model(embedder.model_id)
    assert model is not None
    rng = np.random.default_rng(1)
    for n in (1, 9, 400):  # one sentence, a few, a deep pool; some features missing (NaN) or extreme
        rows = rng.normal(size=(n, len(FEATURES))) * rng.choice([0.01, 1.0, 100.0], size=len(FEATURES))
        rows[rng.random(rows.shape) < 0.05] = np.nan
        z = np.full(n, model.baseline)
        for tree in model.trees:  # the reference: each tree walked on its own, summed in order
            z += tree.predict(rows)
        assert np.array_equal(model.probabilities(rows), 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


def test_an_embedding_model_without_a_fit_is_named_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="retrieval.fitted"):
        assert answer_model("some-other-model") is None
    assert "bench/train_answer.py" in caplog.text


def test_int8_vectors_use_their_own_fit_or_else_the_fp32_one(embedder: Embedder) -> None:
    # No int8 fit ships (one fitted on int8 vectors scored lower on RealTime QA; README, Performance):
    # int8 vectors, whose cosines are within 0.02 of fp32 ones, are scored by the fp32 fit.
    assert path_for("answer", embedder.model_id, "int8").name == f"answer-{embedder.model_id}-int8.json"
    assert not path_for("answer", embedder.model_id, "int8").exists()
    int8, fp32 = answer_model(embedder.model_id, "int8"), answer_model(embedder.model_id)
    assert int8 is not None and fp32 is not None and int8.to_dict() == fp32.to_dict()


def test_postgres_tunes_on_probes_as_close_as_real_questions(embedder: Embedder) -> None:
    from retrieval.fitted import probe_cosine
    from retrieval.index.vectors import QUERY_COSINE, probe_queries

    # Fitted on the dev sets: the hardest tenth of real questions sit this close to their nearest
    # passage, far closer than the IVF tuning's probes, which would make HNSW search 2-3x wider.
    cosine = probe_cosine(embedder.model_id)
    assert cosine is not None and QUERY_COSINE < cosine < 0.7
    assert json.loads(path_for("search", embedder.model_id).read_text())["sets"]["squad"]["questions"] > 1000
    stored = embedder.encode_queries(["The strikes hit facilities used by Iran-backed militias.", "Prices rose in May."])
    moved = probe_queries(np.repeat(stored, 200, axis=0), np.random.default_rng(1), cosine)
    assert abs(float((moved * np.repeat(stored, 200, axis=0)).sum(axis=1).mean()) - cosine) < 0.03
    assert probe_cosine("a-model-nobody-fitted") is None  # tuned with the IVF probes then
