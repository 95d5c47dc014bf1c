"""Ingest throughput: `brief ingest` passages/s against `model.encode` alone on the same passages.

python bench/ingest.py [--paragraphs 600]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine, require_squad, setup, squad_paragraphs, write_corpus

from retrieval.index import IndexReader
from retrieval.ingest import ingest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paragraphs", type=int, default=600)
    parser.add_argument("--runs", type=int, default=2, help="interleaved runs of each; the best is reported")
    args = parser.parse_args()
    require_squad()
    t = time.perf_counter()
    settings, embedder = setup()
    load_s = time.perf_counter() - t
    embedder.encode_queries(["warm up the model"] * 32)
    model = embedder._model  # the raw sentence-transformers model, for the baseline
    pipeline_runs: list[float] = []
    raw_runs: list[float] = []
    # Interleaved runs, best of each: this 2-core machine's speed drifts by several percent.
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            corpus = write_corpus(squad_paragraphs(args.paragraphs), Path(tmp) / "articles")
            run_settings = settings.with_(index_dir=Path(tmp) / "index")
            t = time.perf_counter()
            report = ingest([corpus], run_settings, embedder=embedder)
            pipeline_runs.append(time.perf_counter() - t)
            if run == 0:
                reader = IndexReader(run_settings.index_dir)
                texts = [r[0] for r in reader.store.conn.execute("SELECT text FROM passages ORDER BY vid")]
                reader.close()
        t = time.perf_counter()
        model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, show_progress_bar=False)
        raw_runs.append(time.perf_counter() - t)
    pipeline_s, raw_s = min(pipeline_runs), min(raw_runs)
    pipeline_rate, raw_rate = report.passages_total / pipeline_s, len(texts) / raw_s
    print(f"# bench/ingest.py — {machine()}")
    print(f"model load: {load_s:.1f} s (once per process; not in either rate); best of {args.runs} interleaved runs")
    print(f"articles: {report.articles_total}, passages: {report.passages_total}")
    print(
        f"brief ingest (read, clean, split, embed, store, publish): {pipeline_s:.1f} s = {pipeline_rate:.1f} passages/s"
    )
    print(f"model.encode alone on the same passages:                  {raw_s:.1f} s = {raw_rate:.1f} passages/s")
    print(f"ratio: {pipeline_rate / raw_rate:.1%} of the raw encode rate (target >= 90%)")


if __name__ == "__main__":
    main()
