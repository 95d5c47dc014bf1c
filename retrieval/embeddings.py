"""Embeddings: passage, sentence and query vectors (sentence-transformers lives here only)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedPassages:
    """Normalised passage vectors and, per passage, one normalised vector per sentence."""

    vectors: np.ndarray
    sentence_vectors: list[np.ndarray]


def model_id(model: str) -> str:
    """A stable name for a model: the hub id, or the folder's model name for a local path."""
    path = Path(model).expanduser()
    if not path.exists():
        return model
    for candidate in (path, *path.parents):
        if candidate.name not in {"model", "models", "snapshots", ""} and not candidate.name.startswith("."):
            return candidate.name
    return path.name


class Embedder:
    """A loaded sentence-transformers model."""

    def __init__(self, model: str, offline: bool = True, batch_size: int = 32) -> None:
        if offline:
            # Must be set before sentence_transformers/huggingface_hub are imported.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        for noisy in ("sentence_transformers", "transformers", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        local = Path(model).expanduser().exists()
        self.model_id = model_id(model)
        self._model: Any = SentenceTransformer(
            str(Path(model).expanduser()) if local else model, device="cpu", local_files_only=offline or local
        )
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.max_seq_length = int(self._model.max_seq_length)
        self.batch_size = batch_size
        self._tokenizer = self._model.tokenizer

    @property
    def max_tokens(self) -> int:
        """Tokens a passage may have: the model window less the [CLS] and [SEP] tokens."""
        return self.max_seq_length - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens in each text (without special tokens, without truncation)."""
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors for short texts (questions, sentences)."""
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_passages(
        self, texts: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], progress: Any = None
    ) -> EncodedPassages:
        """Passage vectors plus contextual sentence vectors pooled from the same forward pass.

        Each sentence vector is the mean of the passage's token embeddings inside the sentence
        ("late chunking"): the sentence read in its paragraph's context, at no extra model cost.
        """
        import torch

        # Longest first, so each batch pads little; one tokenizer call gives ids and offsets.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        for lo in range(0, len(order), self.batch_size):
            chunk = order[lo : lo + self.batch_size]
            features = self._tokenizer(
                [texts[i] for i in chunk],
                return_offsets_mapping=True,
                truncation=True,
                max_length=self.max_seq_length,
                padding=True,
                return_tensors="pt",
            )
            offsets = features.pop("offset_mapping").numpy()
            with torch.inference_mode():
                out = self._model.forward(dict(features))
            tokens = out["token_embeddings"].float().cpu().numpy()
            pooled = _normalize(out["sentence_embedding"].float().cpu().numpy())
            for j, i in enumerate(chunk):
                vectors[i] = pooled[j]
                sentence_vectors[i] = _pool_sentences(tokens[j], offsets[j], sentence_spans[i], pooled[j])
            if progress is not None:
                progress.update(len(chunk))
        return EncodedPassages(vectors, sentence_vectors)


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def _pool_sentences(
    tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts  # special tokens have empty offsets
    n = min(len(tokens), len(offsets))
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for j, (a, b) in enumerate(spans):
        mask = real[:n] & (starts[:n] >= a) & (ends[:n] <= b)
        # A sentence past the model window (truncated) falls back to the passage vector.
        out[j] = tokens[:n][mask].mean(axis=0) if mask.any() else fallback
    return _normalize(out)
