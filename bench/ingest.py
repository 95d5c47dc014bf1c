"""Ingest speed on real news: Brief against a plain LangChain build of the same articles, and where Brief's time goes.

python bench/ingest.py [--articles 150] [--runs 2] [--profile] [--no-langchain]

The corpus is the first --articles RealTime QA articles (../shared/eval/realtimeqa_dev). Brief runs
`ingest` into a fresh index (read, clean, split, embed passages and sentences, SQLite + FTS, dates,
vector index, publish); LangChain runs RecursiveCharacterTextSplitter(1000, 200) ->
HuggingFaceEmbeddings (the same bundled MiniLM, normalised) -> FAISS.from_documents on the same texts.
Runs are interleaved (Brief, LangChain, LangChain, Brief, ...) and the best of each is reported, as
characters of article text per wall second and per CPU second (all threads of this process).
Model loading is once per process and in neither rate. LangChain is in the `bench` extra.
`--profile` runs one Brief ingest under cProfile and prints the time per stage.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import machine
from devsets import available, rtqa_articles

from retrieval import Settings
from retrieval.embeddings import load_embedder
from retrieval.index.ingest import ingest

# Stage -> functions (file suffix, function name) whose cumulative time it is; "other" is the rest.
STAGES: dict[str, list[tuple[str, str]]] = {
    "read + clean (files, HTML/text, metadata)": [("documents.py", "read_file"), ("articles.py", "build_article")],
    "split into passages (sentences, token counts)": [("passages.py", "split_passages")],
    "tokenise for the model": [("embeddings.py", "tokenize")],
    "encode (model forward pass)": [("embeddings.py", "token_embeddings")],
    "pool passages and sentences": [("embeddings.py", "_mean_pool"), ("embeddings.py", "_pool_sentences")],
    "resolve dates in passages": [("dates.py", "resolve")],
    "SQLite + FTS writes (less dates), commit": [("store.py", "add_article"), ("store.py", "commit")],
    "vector index (add, tune, save)": [("vectors.py", "add"), ("vectors.py", "restructured"), ("vectors.py", "save")],
}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def brief_run(corpus: Path, settings: Settings, embedder: object, index: Path) -> Callable[[], object]:
    """One Brief ingest of the corpus into a fresh index folder."""
    return lambda: ingest([corpus], settings.with_(index_dir=index), embedder=embedder)  # type: ignore[arg-type]


def langchain_run(texts: list[str], embeddings: object) -> Callable[[], object]:
    """The plain LangChain build: split 1000/200, embed, FAISS.from_documents."""
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    def run() -> object:
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        docs = splitter.create_documents(texts, [{"article": i} for i in range(len(texts))])
        return FAISS.from_documents(docs, embeddings)  # type: ignore[arg-type]

    return run


def profile(corpus: Path, settings: Settings, embedder: object, index: Path) -> None:
    """One Brief ingest under cProfile: seconds per stage (cProfile itself slows Python-heavy stages)."""
    profiler = cProfile.Profile()
    # cProfile sees only its own thread: the batches are encoded here, one after another.
    threads, embedder.threads = embedder.threads, 1  # type: ignore[attr-defined]
    started = time.perf_counter()
    try:
        profiler.runcall(brief_run(corpus, settings, embedder, index))
    finally:
        embedder.threads = threads  # type: ignore[attr-defined]
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    seen: dict[tuple[str, str], float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for suffix, function in (f for fs in STAGES.values() for f in fs):
            if filename.endswith(suffix) and name == function:
                seen[(suffix, function)] = seen.get((suffix, function), 0.0) + cumulative
    print(f"\nwhere a Brief ingest's time goes (one run under cProfile, batches on one thread, {total:.1f} s in all):")
    accounted = 0.0
    for stage, functions in STAGES.items():
        seconds = sum(seen.get(f, 0.0) for f in functions)
        if stage.startswith("SQLite"):
            seconds -= seen.get(("dates.py", "resolve"), 0.0)  # resolve() runs inside the passage writes
        accounted += seconds
        print(f"  {stage:48} {seconds:7.2f} s {seconds / total:6.1%}")
    print(f"  {'other (discovery, fingerprints, publish, fsync)':48} {total - accounted:7.2f} s {(total - accounted) / total:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=150)
    parser.add_argument("--runs", type=int, default=2, help="interleaved runs of each; the best is reported")
    parser.add_argument("--profile", action="store_true", help="also print where Brief's time goes")
    parser.add_argument("--no-langchain", dest="langchain", action="store_false")
    args = parser.parse_args()
    if not available("rtqa"):
        print("skipped: ../shared/eval/realtimeqa_dev not found")
        return
    records = rtqa_articles()[: args.articles]
    texts = [r["text"] for r in records]
    chars = sum(len(t) for t in texts)
    settings = Settings.from_env(dotenv_path=None).with_(show_progress=False, max_file_mb=1000.0)
    t = time.perf_counter()
    embedder = load_embedder(settings)
    load_s = time.perf_counter() - t
    lc_embeddings = None
    if args.langchain:
        try:
            from langchain_huggingface import HuggingFaceEmbeddings
        except ImportError:
            print("LangChain is not installed: pip install -e '.[bench]' (running Brief alone)")
            args.langchain = False
        else:
            lc_embeddings = HuggingFaceEmbeddings(
                model_name=settings.embed_model, model_kwargs={"device": "cpu"},
                encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
            )  # fmt: skip
    print(f"# bench/ingest.py — {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"corpus: {len(texts)} RealTime QA articles, {chars:,} characters; embedding backend "
          f"{embedder.backend}, {embedder.threads} threads; model load {load_s:.1f} s (in neither rate)")  # fmt: skip
    results: dict[str, list[tuple[float, float]]] = {"brief": [], "langchain": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "articles" / "rtqa.jsonl"
        corpus.parent.mkdir()
        corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        for run in range(args.runs):
            order = ["brief", "langchain"] if run % 2 == 0 else ["langchain", "brief"]
            for name in order:
                if name == "brief":
                    results[name].append(measure(brief_run(corpus, settings, embedder, Path(tmp) / f"index{run}")))
                elif args.langchain:
                    results[name].append(measure(langchain_run(texts, lc_embeddings)))
        print(f"{'pipeline':10} {'wall s':>7} {'CPU s':>7} {'chars/s wall':>13} {'chars/s CPU':>12}")
        best = {}
        for name, runs in results.items():
            if not runs:
                continue
            wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
            best[name] = (chars / wall, chars / cpu)
            print(f"{name:10} {wall:7.1f} {cpu:7.1f} {chars / wall:13,.0f} {chars / cpu:12,.0f}")
        if "langchain" in best:
            wall_ratio = best["brief"][0] / best["langchain"][0]
            cpu_ratio = best["brief"][1] / best["langchain"][1]
            print(f"Brief / LangChain: {wall_ratio:.2f}x per wall second, {cpu_ratio:.2f}x per CPU second (target >= 2x)")
        if args.profile:
            profile(corpus, settings, embedder, Path(tmp) / "profiled")


if __name__ == "__main__":
    main()
