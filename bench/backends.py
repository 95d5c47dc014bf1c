"""Embedding backends side by side: texts/s for passages (ingest threads) and questions (one thread),
and how close each backend's vectors are to torch's.

python bench/backends.py [--passages 512] [--questions 200] [--runs 2]

Passages are RealTime QA passages as Brief cuts them (read from a built index, bench/results/rtqa-index);
questions are RealTime QA's. Runs are interleaved across backends and the best is reported.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
from common import machine
from devsets import CACHE, rtqa_questions

from retrieval import Settings
from retrieval.embeddings import BACKENDS, load_embedder
from retrieval.index.folder import DATABASE, live_version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--index", type=Path, default=CACHE / "rtqa-index")
    args = parser.parse_args()
    db = sqlite3.connect(f"file:{live_version(args.index) / DATABASE}?mode=ro", uri=True)
    rows = db.execute("SELECT text FROM passages ORDER BY vid LIMIT ?", (args.passages,)).fetchall()
    passages = [r[0] for r in rows]
    spans = [[(0, len(t))] for t in passages]
    questions = [q.question for q in rtqa_questions()][: args.questions]
    settings = Settings.from_env(dotenv_path=None)
    embedders = {b: load_embedder(settings.with_(embed_backend=b)) for b in BACKENDS}
    print(f"# bench/backends.py — {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"{len(passages)} RealTime QA passages ({sum(map(len, passages)):,} chars), {len(questions)} questions; "
          f"ingest threads {embedders['torch'].threads}")  # fmt: skip
    speed: dict[str, tuple[float, float]] = {}
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for _ in range(args.runs):
        for name, embedder in embedders.items():
            t = time.perf_counter()
            encoded = embedder.encode_passages(passages, spans)
            p = len(passages) / (time.perf_counter() - t)
            t = time.perf_counter()
            asked = np.vstack([embedder.encode_queries([q]) for q in questions])
            q = len(questions) / (time.perf_counter() - t)
            best = speed.get(name, (0.0, 0.0))
            speed[name] = (max(best[0], p), max(best[1], q))
            vectors[name] = (encoded.vectors, asked)
    print(f"{'backend':10} {'passages/s':>11} {'questions/s':>12} {'ms/question':>12} {'cos to torch (min / mean)':>27}")
    for name, (p, q) in speed.items():
        cos = np.concatenate([(vectors[name][i] * vectors["torch"][i]).sum(axis=1) for i in (0, 1)])
        print(f"{name:10} {p:11.1f} {q:12.1f} {1000 / q:12.1f} {cos.min():13.4f} / {cos.mean():.4f}")


if __name__ == "__main__":
    main()
