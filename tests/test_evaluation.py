"""`brief eval`: metrics on the seeds QA, per kind, with a quality floor for CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

from retrieval import Brief, Options
from retrieval.evaluation import date_matches, evaluate, expected_period, load_qa
from tests.conftest import DATA, SEEDS


def test_seeds_quality_floor(seed_brief: Brief) -> None:
    report = evaluate(seed_brief, load_qa(DATA / "seeds_qa.jsonl"), progress=False)
    o = report.overall
    # The floor CI holds: 7 of the 9 answerable seeds with their evidence in the top three, all in the
    # top ten (measured 2026-11-22 with the learned answer model; it was 9 of 9 with the hand-set
    # score it replaced, which did worse on every dev set; see the README's Known limits).
    assert o.hit3 >= 0.75 and o.hit5 >= 0.85
    assert o.unanswered_correct == 1.0 and o.date_correct == 1.0
    assert set(report.by_kind) >= {"temporal-first", "how-many", "unanswerable"}


def test_ablations_show_what_each_part_does(seed_brief: Brief) -> None:
    items = load_qa(DATA / "seeds_qa.jsonl")
    no_dates = evaluate(seed_brief, items, Options(dates=False), progress=False).overall
    no_floor = evaluate(seed_brief, items, Options(floor=False), progress=False).overall
    assert no_dates.date_correct == 0.0  # without date reasoning "when" gets no date
    assert no_floor.unanswered_correct == 0.0  # without the floor it answers the unanswerable


def test_reference_dates() -> None:
    assert expected_period("February 2021 (the strike on Friday 26 February 2021)") == (date(2021, 2, 26), "day")
    assert expected_period("In February 2021") == (date(2021, 2, 1), "month")
    assert date_matches((date(2021, 2, 1), "month"), "2021-02-26")
    assert not date_matches((date(2021, 2, 26), "day"), "2021-02-01")


def test_eval_cli_with_floors(seed_brief: Brief) -> None:
    env = {**os.environ, "BRIEF_PROGRESS": "0"}
    base = [sys.executable, "-m", "retrieval.cli", "eval", str(DATA / "seeds_qa.jsonl"),
            "--index", str(seed_brief.settings.index_dir), "--corpus", str(SEEDS)]  # fmt: skip
    ok = subprocess.run([*base, "--min-hit3", "0.75", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["overall"]["hit3"] >= 0.75 and report["options"] == "hybrid"
    bad = subprocess.run([*base, "--min-mrr", "1.01"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "below the floor: mrr" in bad.stderr
    assert "ALL" in bad.stdout and "hit@3" in bad.stdout
