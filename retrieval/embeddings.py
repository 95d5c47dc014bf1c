"""Embeddings: passage, sentence and query vectors.

torch, sentence-transformers, onnxruntime and openvino live here only. The backends compute the same
model: "torch" (sentence-transformers), "onnx" (onnxruntime over an export of the same weights, made
once into a cache folder), fp32 or dynamically quantised to int8 ("onnx-int8"), and "openvino-bf16"
(OpenVINO over the same export, in bfloat16 on CPUs that compute it natively; the default on
those). All tokenise with the model's own tokenizer and mean-pool in numpy, so the pooling is one
piece of code.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ConfigError, IndexMismatchError
from retrieval.settings import BACKENDS, Settings, native_bf16

log = logging.getLogger(__name__)
# Passages below which openvino-bf16 runs an ingest on onnxruntime: compiling OpenVINO (0.4-0.6 s)
# costs what bfloat16 saves on about 260 passages (290 against 186 passages/s, 2026-12-07).
OPENVINO_MIN_PASSAGES = 256


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


def precision(backend: str) -> str:
    """The numbers a backend computes in: "fp32" (torch and onnx agree to a cosine of 0.999), "bf16" or "int8"."""
    return "int8" if backend.endswith("int8") else "bf16" if backend.endswith("bf16") else "fp32"


def check_backend(where: str, built: str, configured: str | None, fix: str) -> None:
    """IndexMismatchError when vectors built on backend `built` cannot be searched with `configured`.

    torch, onnx and openvino-bf16 compute the same vectors (to a cosine of 0.999) and mix freely;
    int8 vectors are another kind (they depend on the batch a passage was in)."""
    if configured and (precision(built) == "int8") != (precision(configured) == "int8"):
        raise IndexMismatchError(
            f"{where} holds {precision(built)} vectors (built with BRIEF_EMBED_BACKEND={built}) but "
            f"BRIEF_EMBED_BACKEND is {configured}; set it back to {built}, or {fix}"
        )


def ingest_threads(threads: int = 0) -> int:
    """Compute threads for an ingest: `threads` (BRIEF_THREADS), or every core when 0."""
    return threads if threads > 0 else os.cpu_count() or 1


class Embedder:
    """A loaded embedding model (sentence-transformers on torch, or onnxruntime).

    Threads are set per call: one for questions (a short text gains nothing from more, and on a
    shared machine extra threads only fight over the cores), `threads` (0 = every core) for an ingest.
    """

    def __init__(
        self,
        model: str,
        offline: bool = True,
        batch_size: int = 4,
        threads: int = 0,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"BRIEF_EMBED_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if offline:
            # Must be set before sentence_transformers/huggingface_hub are imported.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.model_id = model_id(model)
        self.backend = backend
        self.batch_size = batch_size
        self.threads = ingest_threads(threads)
        if backend == "torch":
            self._runner: _Runner = _TorchRunner(model, offline)
        elif backend == "openvino-bf16":
            self._runner = _OpenVinoRunner(model, cache_dir or default_cache(), self.threads)
        else:
            self._runner = _OnnxRunner(model, backend == "onnx-int8", cache_dir or default_cache(), self.threads)
        self.dim = self._runner.dim
        self.max_seq_length = self._runner.max_seq_length

    @property
    def max_tokens(self) -> int:
        """Tokens a passage may have: the model window less the [CLS] and [SEP] tokens."""
        return self.max_seq_length - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens in each text (without special tokens, without truncation)."""
        if not texts:
            return []
        return self._runner.count_tokens(list(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors for short texts (questions, sentences), on one thread."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for lo in range(0, len(order), self.batch_size):
            chunk = order[lo : lo + self.batch_size]
            ids, mask, _ = self._runner.tokenize([texts[i] for i in chunk], offsets=False)
            tokens = self._runner.token_embeddings(ids, mask, threads=1)
            vectors[chunk] = _mean_pool(tokens, mask)
        return vectors

    def encode_passages(
        self, texts: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], progress: Any = None
    ) -> EncodedPassages:
        """Passage vectors plus contextual sentence vectors pooled from the same forward pass.

        Each sentence vector is the mean of the passage's token embeddings inside the sentence
        ("late chunking"): the sentence read in its paragraph's context, at no extra model cost.
        """
        # Longest first, so each batch pads little; one tokenizer call gives ids and offsets.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        batches = [order[lo : lo + self.batch_size] for lo in range(0, len(order), self.batch_size)]

        def encode(chunk: list[int]) -> list[int]:
            ids, mask, offsets = self._runner.tokenize([texts[i] for i in chunk], offsets=True)
            tokens = self._runner.token_embeddings(ids, mask, threads=1, bulk=True)
            pooled = _mean_pool(tokens, mask)
            for j, i in enumerate(chunk):
                vectors[i] = pooled[j]
                sentence_vectors[i] = _pool_sentences(tokens[j], offsets[j], sentence_spans[i], pooled[j])
            return chunk

        # Whole batches in parallel, each on one compute thread: threads splitting every matrix
        # product wait for each other at each of the model's hundreds of operations, which on a
        # shared machine (a thread descheduled) costs more than it brings. The model code releases
        # the GIL, so Python threads are enough.
        workers = min(self.threads, len(batches))
        with (
            self._runner.passages(len(texts)),
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="brief-embed") as pool,
        ):
            for chunk in pool.map(encode, batches) if workers > 1 else map(encode, batches):
                if progress is not None:
                    progress.update(len(chunk))
        return EncodedPassages(vectors, sentence_vectors)


def load_embedder(settings: Settings) -> Embedder:
    """The embedding model the settings name, on the configured backend and threads."""
    s = settings
    backend = s.embed_backend
    if backend in ("onnx", "openvino-bf16") and not (Path(s.embed_model).expanduser() / "tokenizer.json").is_file():
        # The default backends export from a local folder; a hub id (or a folder without a fast
        # tokenizer) runs on torch, with the same vectors. onnx-int8 asked for explicitly still refuses.
        log.info("BRIEF_EMBED_BACKEND=%s needs a local model folder with tokenizer.json; running %s on torch",
                 backend, s.embed_model)  # fmt: skip
        backend = "torch"
    return Embedder(s.embed_model, s.hf_offline, s.embed_batch_size, s.threads, backend, s.model_cache)


class _Runner:
    """A tokenizer and a forward pass giving token embeddings, as numpy arrays."""

    dim: int
    max_seq_length: int

    def count_tokens(self, texts: list[str]) -> list[int]:
        raise NotImplementedError

    def tokenize(self, texts: list[str], offsets: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, threads: int, bulk: bool = False) -> np.ndarray:
        """Token embeddings of a padded batch on `threads` compute threads; `bulk` for an ingest's passages."""
        raise NotImplementedError

    def passages(self, count: int) -> contextlib.AbstractContextManager[None]:
        """Around the encoding of `count` passages (an ingest's): what only passages use is held for that time."""
        return contextlib.nullcontext()


class _TorchRunner(_Runner):
    """sentence-transformers' Transformer module on torch."""

    def __init__(self, model: str, offline: bool) -> None:
        for noisy in ("sentence_transformers", "transformers", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # No inter-op parallelism in a BERT forward pass; once set (or used) in a process it stays.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        local = Path(model).expanduser().exists()
        self._torch = torch
        self._model: Any = SentenceTransformer(
            str(Path(model).expanduser()) if local else model, device="cpu", local_files_only=offline or local
        )
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.max_seq_length = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer
        self._transformer = self._model[0]
        # transformers re-sets the Rust tokenizer's truncation and padding whenever a call asks for
        # others, and a change while another thread encodes fails ("Already borrowed"). So counting
        # uses its own copy, and the one setting every encoding call asks for is made here, once.
        from tokenizers import Tokenizer

        self._counter = Tokenizer.from_str(self._tokenizer.backend_tokenizer.to_str())
        self._counter.no_padding()
        self._counter.no_truncation()
        self.tokenize(["warm up"], offsets=False)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=False)]

    def tokenize(self, texts: list[str], offsets: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        features = self._tokenizer(
            texts, return_offsets_mapping=offsets, truncation=True, max_length=self.max_seq_length,
            padding=True, return_tensors="np",
        )  # fmt: skip
        spans = features["offset_mapping"] if offsets else np.zeros((0,))
        return features["input_ids"], features["attention_mask"], spans

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, threads: int, bulk: bool = False) -> np.ndarray:
        torch = self._torch
        _set_threads(threads)
        features = {
            "input_ids": torch.from_numpy(ids.astype(np.int64)),
            "attention_mask": torch.from_numpy(mask.astype(np.int64)),
            "token_type_ids": torch.zeros(ids.shape, dtype=torch.int64),
        }
        with torch.inference_mode():
            out = self._transformer(features)
        return out["token_embeddings"].float().numpy()


def _set_threads(n: int) -> None:
    """Torch's compute threads for the calling thread (each thread keeps its own OpenMP setting)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class _OnnxRunner(_Runner):
    """onnxruntime over an ONNX export of the model, tokenised with the model's tokenizer.json."""

    def __init__(self, model: str, int8: bool, cache_dir: Path, threads: int) -> None:
        folder = Path(model).expanduser()
        if not (folder / "tokenizer.json").is_file():
            raise ConfigError(
                f"BRIEF_EMBED_BACKEND=onnx, onnx-int8 and openvino-bf16 need a local model folder with a tokenizer.json; "
                f"{model!r} is not one. "
                "Point BRIEF_EMBED_MODEL at one (empty = the bundled model) or set BRIEF_EMBED_BACKEND=torch"
            )
        import onnxruntime
        from tokenizers import Tokenizer

        self._ort = onnxruntime
        self.path = onnx_model(folder, cache_dir, int8)
        self.max_seq_length = int(_json(folder / "sentence_bert_config.json").get("max_seq_length", 256))
        self.dim = int(_json(folder / "config.json")["hidden_size"])
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_padding()
        self._counter.no_truncation()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_seq_length)
        self._sessions: dict[int, Any] = {}
        self._inputs: set[str] = set()
        self.session(1)  # load (and check) the model now: questions use one thread

    def session(self, threads: int) -> Any:
        """An inference session with `threads` intra-op threads (one per thread count, made on first use)."""
        if threads not in self._sessions:
            options = self._ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            if threads == 1:
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = self._ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in session.get_inputs()}
            self._sessions[threads] = session
        return self._sessions[threads]

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=False)]

    def tokenize(self, texts: list[str], offsets: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        encoded = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        spans = np.zeros((len(texts), width, 2), dtype=np.int64) if offsets else np.zeros((0,))
        for row, e in enumerate(encoded):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            if offsets:
                spans[row, :n] = e.offsets
        return ids, mask, spans

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, threads: int, bulk: bool = False) -> np.ndarray:
        session = self.session(threads)
        return session.run(None, self.feeds(ids, mask))[0]

    def feeds(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """The export's inputs for a batch (the token types only where the model takes them)."""
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return {k: v for k, v in feeds.items() if k in self._inputs}


class _OpenVinoRunner(_OnnxRunner):
    """Passages on OpenVINO over the fp32 ONNX export, asked to compute in bfloat16: on a CPU with
    AVX512-BF16 or AMX about twice onnxruntime's fp32 speed in an ingest, with vectors within a cosine
    of 0.9999 of fp32 (measured 2026-12-07; where the CPU has no bfloat16, OpenVINO computes in fp32).
    Questions stay on onnxruntime: one short text is not faster on OpenVINO (ask p50 24 ms against 21)."""

    def __init__(self, model: str, cache_dir: Path, threads: int) -> None:
        if importlib.util.find_spec("openvino") is None:
            raise ConfigError(
                "BRIEF_EMBED_BACKEND=openvino-bf16 needs OpenVINO: pip install openvino, "
                "or set BRIEF_EMBED_BACKEND=onnx"
            )
        self._streams = threads
        self._bulk: Any = None
        self._users = 0  # encodings under way that hold the compiled model
        self._lock = threading.Lock()
        self._requests = threading.local()  # an infer request serves one thread at a time
        super().__init__(model, False, cache_dir, threads)

    @contextlib.contextmanager
    def passages(self, count: int) -> Iterator[None]:
        """OpenVINO for `count` passages when there are enough to pay for compiling it, released after.

        Compiling takes 0.4-0.6 s and holding the compiled model about 190 MB (measured 2026-12-07);
        below OPENVINO_MIN_PASSAGES onnxruntime (loaded for questions anyway) is as fast all told, so
        a bot adding a few articles at a time never loads OpenVINO, and one that re-indexed an archive
        gives the memory back."""
        if count < OPENVINO_MIN_PASSAGES:
            yield
            return
        with self._lock:
            self._users += 1
        try:
            self.compiled()
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._bulk, self._requests = None, threading.local()

    def compiled(self) -> Any:
        """The model compiled for passages: one stream of one thread per ingest thread, so that an
        ingest's parallel batches each run on a thread of their own (requests on one stream wait
        for each other). OpenVINO is imported here, at the first large ingest: a bot that only
        answers questions starts without it (0.3-0.5 s)."""
        with self._lock:
            if self._bulk is None:
                import openvino

                # bfloat16 only where the CPU computes it: OpenVINO would also emulate it on any
                # AVX-512 CPU, at a cost. Elsewhere f32 (measured here: onnxruntime's speed).
                config = {"INFERENCE_NUM_THREADS": self._streams, "NUM_STREAMS": self._streams,
                          "INFERENCE_PRECISION_HINT": "bf16" if native_bf16() else "f32"}  # fmt: skip
                compiled = openvino.Core().compile_model(str(self.path), "CPU", config)
                # One inference here, on one thread, before any other thread may run one: OpenVINO's
                # Python binding sets up its numpy bridge on first use, and two threads doing that at
                # once deadlock (seen in a fresh clone's `brief ingest`: one holds the GIL and waits
                # for the set-up, which waits for the GIL). The other threads wait on the lock.
                ids = np.array([[101, 102]], dtype=np.int64)
                self._run(compiled.create_infer_request(), ids, np.ones_like(ids))
                self._bulk = compiled
        return self._bulk

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, threads: int, bulk: bool = False) -> np.ndarray:
        compiled = self._bulk
        if not bulk or compiled is None:  # a question, or a small ingest: onnxruntime
            return super().token_embeddings(ids, mask, threads)
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = compiled.create_infer_request()
        return self._run(request, ids, mask)

    def _run(self, request: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        request.infer(self.feeds(ids, mask))  # the same export as onnxruntime's session: the same inputs
        return np.array(request.get_output_tensor(0).data, dtype=np.float32)  # a copy: the request reuses its buffer


def default_cache() -> Path:
    """Where ONNX exports are kept when BRIEF_MODEL_CACHE is not set."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "brief"


def onnx_model(folder: Path, cache_dir: Path, int8: bool) -> Path:
    """The ONNX file for a local model folder, exported (and quantised) into `cache_dir` on first use.

    The cache key is the model's name and its weights' size and date, so replaced weights export again.
    """
    weights = [p for p in sorted(folder.glob("*")) if p.suffix in {".safetensors", ".bin"}]
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in weights)
    target = cache_dir / "onnx" / f"{model_id(str(folder))}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    fp32, q8 = target / "model.onnx", target / "model-int8.onnx"
    try:
        if not fp32.is_file():
            target.mkdir(parents=True, exist_ok=True)
            export_onnx(folder, fp32)
        if int8 and not q8.is_file():
            quantize_int8(fp32, q8)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the ONNX export of the embedding model to {target} ({exc.strerror or exc}); "
            "set BRIEF_MODEL_CACHE to a writable folder"
        ) from exc
    return q8 if int8 else fp32


def export_onnx(folder: Path, target: Path) -> None:
    """Export the model's transformer (token embeddings out) to ONNX; needs torch, once per model."""
    log.warning("exporting the embedding model to ONNX (once): %s", target)
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ConfigError(
            f"the ONNX export {target} is missing and torch is not installed to make it; where torch is installed, "
            "run `python -c 'from retrieval import Settings; from retrieval.embeddings import load_embedder; "
            "load_embedder(Settings.from_env())'` with the same BRIEF_EMBED_BACKEND and copy its BRIEF_MODEL_CACHE "
            "folder here, or set BRIEF_EMBED_BACKEND=torch"
        ) from exc

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state  # fmt: skip

    # Eager attention traces into plain ONNX ops; the fused kernels would bake shapes in.
    bert = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    example = torch.ones((2, 8), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
    partial = target.with_suffix(".partial")
    # The tracer warns about shape checks it freezes; they compare lengths that are always equal here
    # (tests/test_speed.py checks the export against torch on texts of many lengths, padded).
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(bert), (example, example, torch.zeros_like(example)), str(partial),
            input_names=names, output_names=["token_embeddings"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip
    os.replace(partial, target)


def quantize_int8(fp32: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the exported model's weights (activations stay float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_suffix(".partial.onnx")
    # Per-channel weights of the MatMuls only: per-tensor scales (or quantised embeddings and
    # Gathers) drop the cosine to the fp32 vectors to 0.89-0.97; this keeps it at about 0.99.
    quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     per_channel=True)  # fmt: skip
    os.replace(partial, target)


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _mean_pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised mean of each text's token embeddings over its real (unpadded) tokens."""
    weights = mask[..., None].astype(np.float32)
    summed = (tokens * weights).sum(axis=1)
    return _normalize(summed / np.maximum(weights.sum(axis=1), 1e-9))


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def _pool_sentences(
    tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts  # special tokens (and padding) have empty offsets
    n = min(len(tokens), len(offsets))
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for j, (a, b) in enumerate(spans):
        mask = real[:n] & (starts[:n] >= a) & (ends[:n] <= b)
        # A sentence past the model window (truncated) falls back to the passage vector.
        out[j] = tokens[:n][mask].mean(axis=0) if mask.any() else fallback
    return _normalize(out)
