"""The `brief` command, run as a user runs it (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEEDS


def brief(*args: str, index: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRIEF_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1", "BRIEF_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "retrieval.cli", *args], input=stdin, capture_output=True, text=True, env=env,
        timeout=300, check=False,
    )  # fmt: skip


def test_cli_end_to_end(tmp_path: Path) -> None:
    index = tmp_path / "index"
    missing = brief("ask", "When did Biden first strike Syria?", index=index)
    assert missing.returncode == 1
    assert f"no index at {index}; build it with `brief ingest --index {index}`" in missing.stderr

    built = brief("ingest", str(SEEDS), index=index)
    assert built.returncode == 0, built.stderr
    assert "articles added: 5" in built.stdout and "skipped: 0" in built.stdout

    stats = brief("stats", index=index)
    assert "articles: 5" in stats.stdout and "(384 dims)" in stats.stdout and "last updated: 20" in stats.stdout

    questions = (
        "When did Biden first strike Syria?\n\nWhat aircraft carried out the October 2023 precision strikes in Syria?\n"
        + "y" * 2000
        + "\n"
    )
    batch = brief("ask", "--json", "-", "-k", "3", index=index, stdin=questions)
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["question"][:20] for line in lines] == ["When did Biden first", "What aircraft carrie", "y" * 20]
    assert lines[0]["answer"]["citation"] == 1 and len(lines[0]["passages"]) == 3
    aircraft = lines[1]["answer"]["text"]
    assert "limit is 1,000" in lines[2]["error"]
    assert batch.returncode == 2

    text = brief("ask", "When did Biden first strike Syria?", index=index)
    assert text.returncode == 0
    assert text.stdout.startswith("Answer: Friday 26 February 2021: The US military has carried out an air strike")
    assert "[1] BBC News" in text.stdout and "**The US military" in text.stdout

    empty = brief("ask", "  ", index=index)
    assert empty.returncode == 2 and "question is empty" in empty.stderr
    if "F-16" not in aircraft:  # checked last, so that everything above still runs
        pytest.xfail("issue 9 (open): the learned answer model quotes another sentence for the F-16 seed question")
