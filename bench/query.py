"""Ask latency on the RealTime QA index, idle and with a second process keeping one core busy.

python bench/query.py [--questions 200] [--busy] [--index bench/results/rtqa-index] [--untuned] [--backend onnx]
                      [--vectors default|exact] [--stages]

The questions are RealTime QA's (asked on their own dates) topped up with SQuAD dev questions
(seed 13), all asked of the RealTime QA index: latency is what is measured here, quality is
bench/quality.py's. `--busy` adds a run while `python -c "while True: pass"` holds one core.
`--untuned` first repeats each run with torch's and FAISS's default threads (every core), the
behaviour before BRIEF_THREADS, for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from common import machine, percentile
from devsets import available, index_dir, rtqa_questions, squad_questions

from retrieval import Brief, Settings
from retrieval.index.folder import DATABASE
from retrieval.index.ingest import ingest
from retrieval.index.vectors import EXACT_LIMIT, SegmentedVectors
from retrieval.read.cleaning import residue_score
from retrieval.read.terms import stem
from retrieval.settings import BACKENDS, default_backend


@contextmanager
def busy_core() -> Iterator[None]:
    """A second process spinning on one core for as long as the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it get scheduled
        yield
    finally:
        spinner.kill()
        spinner.wait()


@contextmanager
def default_threads(on: bool) -> Iterator[None]:
    """With `on`, torch and FAISS use their default thread counts (every core), as before BRIEF_THREADS."""
    if not on:
        yield
        return
    import faiss
    import torch

    from retrieval import embeddings
    from retrieval.index import vectors

    saved_set, saved_omp = embeddings._set_threads, vectors.faiss.omp_set_num_threads
    embeddings._set_threads = lambda _n: None  # type: ignore[assignment]
    vectors.faiss.omp_set_num_threads = lambda _n: None  # type: ignore[assignment]
    torch.set_num_threads(os.cpu_count() or 1)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        embeddings._set_threads = saved_set  # type: ignore[assignment]
        vectors.faiss.omp_set_num_threads = saved_omp


def questions(n: int) -> list[tuple[str, date | None]]:
    """RealTime QA questions with their dates, then SQuAD dev questions, `n` in all."""
    asked = [(q.question, date.fromisoformat(q.as_of) if q.as_of else None) for q in rtqa_questions()][:n]
    if len(asked) < n and available("squad"):
        extra = squad_questions()
        random.Random(13).shuffle(extra)
        asked += [(q.question, None) for q in extra[: n - len(asked)]]
    return asked


def timed(brief: Brief, asked: list[tuple[str, date | None]]) -> tuple[list[float], float]:
    """Wall ms of each ask(), and CPU seconds of this process per question."""
    latency = []
    cpu = time.process_time()
    for text, as_of in asked:
        t = time.perf_counter()
        brief.ask(text, as_of=as_of)
        latency.append((time.perf_counter() - t) * 1000)
    return latency, (time.process_time() - cpu) / len(asked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--busy", action="store_true", help="also measure with one core kept busy")
    parser.add_argument("--untuned", action="store_true", help="also measure with default (all-core) threads")
    parser.add_argument("--index", type=Path, help="a built RealTime QA index (default: the backend's dev index)")
    parser.add_argument("--backend", choices=BACKENDS, default=default_backend(), help="BRIEF_EMBED_BACKEND")
    parser.add_argument("--stages", action="store_true", help="also print where an idle question's time goes")
    parser.add_argument(
        "--after-ingest", action="store_true",
        help="embed 400 of the index's passages first, as a bot does at start (openvino-bf16 then loads OpenVINO)",
    )  # fmt: skip
    parser.add_argument(
        "--vectors", choices=("default", "exact"), default="default",
        help="default: the vector index `brief ingest` makes at this size (IVF past BRIEF_EXACT_LIMIT); "
        "exact: the flat index the quality benchmarks build",
    )  # fmt: skip
    args = parser.parse_args()
    args.index = args.index or index_dir("rtqa", args.backend)
    if not available("rtqa") or not any((args.index / name).is_file() for name in (DATABASE, "CURRENT")):
        print(f"skipped: no RealTime QA index at {args.index} (build it: python bench/devsets.py rtqa)")
        return
    settings = Settings.from_env(env={}, dotenv_path=None).with_(
        index_dir=args.index, show_progress=False, embed_backend=args.backend
    )
    ingest([], settings)  # an index from an older Brief is converted (nothing is embedded)
    brief = Brief(settings)
    reader = brief.reader()
    if args.vectors == "default":
        # The dev-set index is built exact for the quality figures; a user's index of this size is
        # restructured the way IndexWriter writes a segment (the same call), here in memory only.
        v = reader.vectors
        reader.vectors = SegmentedVectors([(s, i.restructured(EXACT_LIMIT)) for s, i in v.parts], v.gone, v.dim)
    asked = questions(args.questions)
    if args.after_ingest:
        texts = [p.text for p in reader.passages(range(400)).values()]
        brief.embedder.encode_passages(texts, [[(0, len(t))] for t in texts])
    for text, as_of in asked[:5]:
        brief.ask(text, as_of=as_of)  # warm up: model, index, SQLite pages
    print(f"# bench/query.py — {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"index: {args.index} ({reader.passage_count()} passages, vectors {reader.vectors.structure}); "
          f"{len(asked)} questions; backend {args.backend}{', after an ingest' if args.after_ingest else ''}")  # fmt: skip
    print(f"{'condition':34} {'p50 ms':>7} {'p95 ms':>7} {'mean ms':>8} {'CPU ms/q':>9}")
    runs = [("idle", False)] + ([("one core busy", True)] if args.busy else [])
    for label, busy in runs:
        for untuned in (True, False) if args.untuned else (False,):
            clear_caches()  # each run starts cold: the busy run must not reuse what the idle run computed
            with default_threads(untuned), busy_core() if busy else _nothing():
                latency, cpu = timed(brief, asked)
            name = f"{label}, {'all-core threads' if untuned else 'one compute thread'}"
            print(
                f"{name:34} {percentile(latency, 50):7.1f} {percentile(latency, 95):7.1f} "
                f"{sum(latency) / len(latency):8.1f} {cpu * 1000:9.1f}"
            )
    if args.stages:
        clear_caches()
        for name, times in stage_times(brief, asked).items():
            print(f"  stage {name:22} p50 {percentile(times, 50):6.2f} ms  mean {sum(times) / len(times):6.2f} ms")
        print("  (keyword search runs on its own thread while the question is encoded; search includes waiting for it)")
    print("one full ask() each (embed the question, search, pick the answer sentence), model loaded;")
    print("targets: p50 <= 20 ms idle; p50 <= 40 ms and p95 <= 150 ms with one core busy")


def stage_times(brief: Brief, asked: list[tuple[str, date | None]]) -> dict[str, list[float]]:
    """Wall ms of each stage of every ask(), by wrapping the stages' functions for this run only."""
    from retrieval import brief as pipeline

    times: dict[str, list[float]] = {}

    def timed_call(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                times.setdefault(name, []).append((time.perf_counter() - t) * 1000)

        return run

    reader, embedder = brief.reader(), brief.embedder
    saved = {n: getattr(pipeline, n) for n in ("read_question", "search", "candidates")}
    patched = [(pipeline, n, timed_call(n, f)) for n, f in saved.items()]
    patched.append((embedder, "encode_queries", timed_call("encode question", embedder.encode_queries)))
    for n in ("keyword_search", "dense_search", "passages", "sentences"):
        patched.append((reader, n, timed_call(f"  {n}", getattr(reader, n))))
    for owner, n, fn in patched:
        setattr(owner, n, fn)
    try:
        for text, as_of in asked:
            brief.ask(text, as_of=as_of)
    finally:
        for n, f in saved.items():
            setattr(pipeline, n, f)
        for owner, n, _ in patched[len(saved):]:
            delattr(owner, n)  # back to the class's method
    return times


def clear_caches() -> None:
    """Empty the in-process caches of sentence-level work (word stems, residue scores)."""
    residue_score.cache_clear()
    stem.cache_clear()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    main()
