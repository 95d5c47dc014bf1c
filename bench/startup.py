"""Start-up: seconds from process start to the first answer, and for the commands that need no model.

python bench/startup.py [--index bench/results/rtqa-index] [--runs 3] [--backends torch,onnx,onnx-int8,openvino-bf16]

Each figure is a fresh Python process, timed from its spawn to its exit (best of --runs):
- ready: create the Brief, load the model and the index, answer one question (what a bot does
  before its first reply), with the time spent in each step printed by the child;
- `brief stats`, `brief list --limit 20`, and `brief ask` with no index (the error), which must
  answer from the manifest and SQLite without importing torch or onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine
from devsets import CACHE

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from retrieval import Brief, Settings
from retrieval.brief import warm_up
t1 = time.perf_counter()
brief = Brief(Settings.from_env(dotenv_path=None))
steps = warm_up(brief)
t2 = time.perf_counter()
brief.ask("when did the strike happen?")
t3 = time.perf_counter()
heavy = [m for m in ("torch", "onnxruntime") if m in sys.modules]
print(json.dumps({"import": t1 - t0, **steps, "first ask": t3 - t2, "heavy": heavy}))
"""


def spawn(argv: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    """Wall seconds of one fresh process, and what it printed (stdout, stderr)."""
    t = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    seconds = time.perf_counter() - t
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv} failed: {done.stderr[-2000:]}")
    return seconds, done.stdout, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=CACHE / "rtqa-index")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8,openvino-bf16")
    args = parser.parse_args()
    if not any((args.index / name).is_file() for name in ("brief.sqlite", "CURRENT")):
        print(f"skipped: no index at {args.index} (build one: python bench/devsets.py rtqa)")
        return
    from retrieval import Settings
    from retrieval.index.ingest import ingest

    ingest([], Settings.from_env(env={}, dotenv_path=None).with_(index_dir=args.index, show_progress=False))  # converts an older index
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BRIEF_INDEX_DIR": str(args.index), "BRIEF_PROGRESS": "0",
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    print(f"# bench/startup.py — {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"index: {args.index}; best of {args.runs} fresh processes each")
    cli = [sys.executable, "-m", "retrieval.cli"]
    with tempfile.TemporaryDirectory() as empty:
        commands = {
            "brief stats": [*cli, "stats"],
            "brief list --limit 20": [*cli, "list", "--limit", "20"],
            "brief ask (no index: error)": [*cli, "ask", "anything?", "--index", str(Path(empty) / "none")],
        }
        for name, argv in commands.items():
            best = min(spawn(argv, env)[0] for _ in range(args.runs))
            print(f"{name:34} {best:6.2f} s")
    for backend in args.backends.split(","):
        runs = []
        for _ in range(args.runs):
            seconds, out, err = spawn([sys.executable, "-c", CHILD], {**env, "BRIEF_EMBED_BACKEND": backend})
            if not out.strip():  # e.g. an int8 backend on an fp32 index: refused, with the reason
                print(f"{'ready, ' + backend:34} not measured: {err.strip().splitlines()[-1][-200:]}")
                break
            runs.append((seconds, json.loads(out.strip().splitlines()[-1])))
        if not runs:
            continue
        seconds, steps = min(runs, key=lambda r: r[0])
        parts = ", ".join(f"{k} {v:.2f}" for k, v in steps.items() if k != "heavy")
        print(f"{'ready, ' + backend:34} {seconds:6.2f} s  ({parts}; loaded: {', '.join(steps['heavy'])})")
    print("ready = process start to the first answer printed, index on disk and ONNX export cached; target <= 3 s")


if __name__ == "__main__":
    main()
