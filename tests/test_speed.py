"""Issue 13: threads set on purpose, the ONNX backend computing the same vectors, the backend recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval import Brief, IndexMismatchError, Settings, embeddings
from retrieval.embeddings import Embedder
from retrieval.errors import ConfigError
from retrieval.index.backend import open_corpus
from retrieval.index.ingest import ingest
from retrieval.settings import default_backend, native_bf16

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
TEXTS = [
    "When did Biden first strike Syria?",
    "The Pentagon said the strikes hit facilities used by Iran-backed militias. Officials called them proportionate.",
    "x",
    "Prices rose 3.4% in May, the statistics office said on Friday. " * 30,  # past the model window
]


def spans(text: str) -> list[tuple[int, int]]:
    """Sentence-like spans: the text cut at each '. '."""
    out, start = [], 0
    while (end := text.find(". ", start)) != -1:
        out.append((start, end + 1))
        start = end + 2
    return [*out, (start, len(text))] if start < len(text) else out


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache folder of the session's own: the export is made from the bundled model, once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def onnx_embedder(settings_base: Settings, onnx_cache: Path) -> Embedder:
    """The bundled model on onnxruntime, exported into the session's cache."""
    return Embedder(settings_base.embed_model, backend="onnx", cache_dir=onnx_cache)


def test_threads_and_backend_are_settings_with_clear_errors() -> None:
    s = Settings.from_env(env={"BRIEF_THREADS": "3", "BRIEF_EMBED_BACKEND": "ONNX-int8"}, dotenv_path=None)
    assert (s.threads, s.embed_backend) == (3, "onnx-int8")
    assert Settings.from_env(env={}, dotenv_path=None).embed_backend == default_backend() == Settings().embed_backend
    with pytest.raises(ConfigError, match=r"BRIEF_THREADS must be a whole number, got \"two\""):
        Settings.from_env(env={"BRIEF_THREADS": "two"}, dotenv_path=None)
    with pytest.raises(ConfigError, match="BRIEF_EMBED_BACKEND must be one of torch, onnx, onnx-int8, openvino-bf16"):
        Settings.from_env(env={"BRIEF_EMBED_BACKEND": "tensorrt"}, dotenv_path=None)


def test_a_question_runs_on_one_thread_and_an_ingest_on_the_configured_ones(settings_base: Settings) -> None:
    import torch  # only to read the thread count each forward pass ran with

    embedder = Embedder(settings_base.embed_model, threads=2, batch_size=1)
    runner = embedder._runner
    forward = runner.token_embeddings
    calls: list[tuple[str, int]] = []

    def spy(ids: np.ndarray, mask: np.ndarray, threads: int, bulk: bool = False) -> np.ndarray:
        """The real forward pass, noting the Python thread and torch's compute threads it ran on."""
        out = forward(ids, mask, threads, bulk)
        calls.append((threading.current_thread().name, torch.get_num_threads()))
        return out

    runner.token_embeddings = spy  # type: ignore[method-assign]
    encoded = embedder.encode_passages(TEXTS, [spans(t) for t in TEXTS])
    # An ingest: one batch per worker thread (BRIEF_THREADS=2), each batch on one compute thread.
    assert len(calls) == len(TEXTS) and {n for _, n in calls} == {1}
    names = {name for name, _ in calls}
    assert 1 <= len(names) <= 2 and all(name.startswith("brief-embed") for name in names)
    serial = Embedder(settings_base.embed_model, threads=1, batch_size=1).encode_passages(TEXTS, [spans(t) for t in TEXTS])
    assert np.allclose(encoded.vectors, serial.vectors, atol=1e-6)
    calls.clear()
    embedder.encode_queries(["when did it happen?"])
    assert calls == [(threading.current_thread().name, 1)]  # a question: the caller's thread, one compute thread


def test_onnx_embedder_computes_the_torch_vectors(embedder: Embedder, onnx_embedder: Embedder) -> None:
    assert onnx_embedder.dim == embedder.dim and onnx_embedder.max_tokens == embedder.max_tokens
    assert onnx_embedder.count_tokens(TEXTS) == embedder.count_tokens(TEXTS)
    queries = (embedder.encode_queries(TEXTS) * onnx_embedder.encode_queries(TEXTS)).sum(axis=1)
    assert queries.min() >= 0.999, queries
    a = embedder.encode_passages(TEXTS, [spans(t) for t in TEXTS])
    b = onnx_embedder.encode_passages(TEXTS, [spans(t) for t in TEXTS])
    assert (a.vectors * b.vectors).sum(axis=1).min() >= 0.999
    for x, y in zip(a.sentence_vectors, b.sentence_vectors, strict=True):
        assert x.shape == y.shape and (x * y).sum(axis=1).min() >= 0.999


def test_int8_embedder_stays_close_and_is_exported_once(
    settings_base: Settings, embedder: Embedder, onnx_cache: Path
) -> None:
    int8 = Embedder(settings_base.embed_model, backend="onnx-int8", cache_dir=onnx_cache)
    close = (embedder.encode_queries(TEXTS) * int8.encode_queries(TEXTS)).sum(axis=1)
    assert close.min() >= 0.97, close
    exports = sorted(p.name for p in onnx_cache.rglob("*.onnx"))
    assert exports == ["model-int8.onnx", "model.onnx"]
    assert np.isclose(np.linalg.norm(int8.encode_queries(["norm"])[0]), 1.0, atol=1e-5)


def test_the_default_backend_is_openvino_bf16_only_where_the_cpu_computes_bfloat16() -> None:
    avx512 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
    assert not native_bf16(avx512)  # OpenVINO would emulate bfloat16 there: the default stays onnx
    assert native_bf16(avx512.replace("avx512_vnni", "avx512_vnni avx512_bf16"))
    assert native_bf16("flags\t\t: avx2 amx_tile amx_bf16 amx_int8\n")
    assert not native_bf16("")
    expected = "openvino-bf16" if native_bf16() else "onnx"  # openvino is a dependency: installed
    assert default_backend() == expected


def test_a_hub_id_runs_on_torch_when_the_default_backend_needs_a_local_folder(caplog: pytest.LogCaptureFixture) -> None:
    from retrieval.embeddings import load_embedder

    # A hub id cannot be exported: the default backends say so and take torch (offline here: no hub).
    hub = Settings(embed_model="sentence-transformers/all-MiniLM-L6-v2", embed_backend="openvino-bf16")
    with caplog.at_level("INFO", logger="retrieval.embeddings"), pytest.raises(OSError, match=r"huggingface\.co"):
        load_embedder(hub)
    assert "BRIEF_EMBED_BACKEND=openvino-bf16 needs a local model folder with tokenizer.json" in caplog.text


def test_openvino_bf16_computes_the_fp32_vectors_and_answers_from_an_onnx_corpus(
    settings: Settings, onnx_embedder: Embedder, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings, "OPENVINO_MIN_PASSAGES", 0)  # OpenVINO for every ingest, however small
    bf16 = Embedder(settings.embed_model, backend="openvino-bf16", cache_dir=onnx_cache, threads=2)
    assert {p.name for p in onnx_cache.rglob("*.*") if p.is_file()} <= {"model.onnx", "model-int8.onnx"}  # onnx's export
    queries = (onnx_embedder.encode_queries(TEXTS) * bf16.encode_queries(TEXTS)).sum(axis=1)
    assert queries.min() >= 0.999, queries
    a = onnx_embedder.encode_passages(TEXTS, [spans(t) for t in TEXTS])
    b = bf16.encode_passages(TEXTS, [spans(t) for t in TEXTS])  # batches on two threads at once
    assert (a.vectors * b.vectors).sum(axis=1).min() >= 0.999
    for x, y in zip(a.sentence_vectors, b.sentence_vectors, strict=True):
        assert x.shape == y.shape and (x * y).sum(axis=1).min() >= 0.999
    # Vectors of the same kind mix: a corpus built on onnx answers (and takes updates) on openvino-bf16.
    ingest([SEEDS], settings, embedder=onnx_embedder)
    result = Brief(settings.with_(embed_backend="openvino-bf16"), bf16).ask("When did Biden first strike Syria?")
    assert result.answer is not None and result.answer.date_label == "Friday 26 February 2021"
    ingest([SEEDS], settings.with_(embed_backend="openvino-bf16"), embedder=bf16)


def test_openvino_is_compiled_for_a_large_ingest_only_and_released_after_it(
    settings: Settings, onnx_embedder: Embedder, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bf16 = Embedder(settings.embed_model, backend="openvino-bf16", cache_dir=onnx_cache, threads=2)
    runner = bf16._runner  # what it holds is the point here: nothing outside shows it but memory
    compiled: list[bool] = []
    original = runner.compiled  # type: ignore[attr-defined]
    monkeypatch.setattr(runner, "compiled", lambda: compiled.append(True) or original())
    small = TEXTS[:2]  # a bot adding an article or two: onnxruntime, which is loaded for questions anyway
    a = bf16.encode_passages(small, [spans(t) for t in small])
    assert compiled == [] and runner._bulk is None  # type: ignore[attr-defined]
    assert np.allclose(a.vectors, onnx_embedder.encode_passages(small, [spans(t) for t in small]).vectors, atol=1e-6)
    monkeypatch.setattr(embeddings, "OPENVINO_MIN_PASSAGES", len(TEXTS))  # "large" here
    b = bf16.encode_passages(TEXTS, [spans(t) for t in TEXTS])
    assert compiled == [True] and runner._bulk is None  # type: ignore[attr-defined]  # given back after
    assert (b.vectors[:2] * a.vectors).sum(axis=1).min() >= 0.999


def recorded_backend(settings: Settings) -> str:
    """The embedding backend the corpus says built it (the manifest, or Postgres's brief_meta)."""
    corpus = open_corpus(settings)
    try:
        return corpus.build_info()[2]  # type: ignore[attr-defined]
    finally:
        corpus.close()


def test_the_corpus_records_the_backend_and_int8_needs_a_rebuild(
    backend_settings: Settings, onnx_embedder: Embedder, embedder: Embedder, onnx_cache: Path
) -> None:
    settings = backend_settings
    ingest([SEEDS], settings, embedder=onnx_embedder)
    assert recorded_backend(settings) == "onnx"
    # torch computes the same fp32 vectors: it answers from (and updates) a corpus ONNX built
    result = Brief(settings.with_(embed_backend="torch"), embedder).ask("when did Biden first strike Syria?")
    assert result.passages
    int8 = Embedder(settings.embed_model, backend="onnx-int8", cache_dir=onnx_cache)
    refused = "BRIEF_EMBED_BACKEND is onnx-int8; set it back to onnx, or rebuild"
    with pytest.raises(IndexMismatchError, match=refused):
        Brief(settings, int8).ask("when did Biden first strike Syria?")
    with pytest.raises(IndexMismatchError, match=refused):  # an update would mix kinds of vectors
        ingest([SEEDS], settings, embedder=int8)
    ingest([SEEDS], settings, embedder=int8, rebuild=True)
    assert recorded_backend(settings) == "onnx-int8"
    assert Brief(settings, int8).ask("when did Biden first strike Syria?").passages


def test_keyword_search_returns_at_most_k_matches(backend_settings: Settings, embedder: Embedder) -> None:
    ingest([SEEDS], backend_settings, embedder=embedder)
    corpus = open_corpus(backend_settings)
    try:
        words = ["syria", "strike", "the", "us", "militias"]
        many = corpus.keyword_search(words, 50)
        assert len(many) > 3  # the seeds have more matches than asked for below
        best = corpus.keyword_search(words, 3)
        assert [round(score, 9) for _, score in best] == [round(score, 9) for _, score in many[:3]]  # the 3 best
    finally:
        corpus.close()


def test_commands_without_the_model_import_neither_torch_nor_onnxruntime(seed_brief: Brief, tmp_path: Path) -> None:
    index = seed_brief.settings.index_dir
    probe = (
        "import contextlib, io, sys\nfrom retrieval.cli import main\ncodes = []\n"
        f"for argv in [['stats'], ['list'], ['show', 'x' * 6]]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"        codes.append(main([*argv, '--index', {str(index)!r}]))\n"
        f"codes.append(main(['ask', 'anything?', '--index', {str(tmp_path / 'none')!r}]))\n"
        "print('codes', codes)\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'tokenizers')\n"
        "print('heavy', sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "BRIEF_PROGRESS": "0", "BRIEF_EMBED_BACKEND": "onnx", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert "codes [0, 0, 1, 1]" in done.stdout, done.stdout + done.stderr
    assert "heavy []" in done.stdout
    assert "no index at" in done.stderr


def test_ingest_and_ask_run_without_torch_once_the_onnx_export_exists(
    onnx_embedder: Embedder, onnx_cache: Path, tmp_path: Path
) -> None:
    # The runtime Docker image uninstalls torch, transformers and sentence-transformers after the
    # export. No second environment is built here: a fresh interpreter refuses to import them,
    # which is what their absence does to an import.
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "2024-03-05-harbour.txt").write_text(
        "Harbour crane contract signed\n\nThe port of Aberdeen signed a contract for four electric cranes on "
        "Tuesday, the harbour board said. Delivery is due in 2026.\n",
        encoding="utf-8",
    )
    (articles / "2024-03-06-library.txt").write_text(
        "Library reopens\n\nThe city library reopened on Wednesday after a two-year renovation that cost "
        "12 million pounds, the council said.\n",
        encoding="utf-8",
    )
    probe = (
        "import sys\n"
        "class Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'transformers', 'sentence_transformers'}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Absent())\n"
        "from retrieval.cli import main\n"
        f"assert main(['ingest', {str(articles)!r}]) == 0\n"
        "assert main(['ask', 'how many cranes did the port of aberdeen order?']) == 0\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
        env={**os.environ, "BRIEF_PROGRESS": "0", "BRIEF_EMBED_BACKEND": "onnx", "PYTHONPATH": str(ROOT),
             "BRIEF_MODEL_CACHE": str(onnx_cache), "BRIEF_INDEX_DIR": str(tmp_path / "index")},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "four electric cranes" in done.stdout
    assert "Harbour crane contract signed" in done.stdout
