"""Timelines: dated events about a topic, oldest first, with citations."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from retrieval import Brief
from retrieval.slack import blocks as kit
from retrieval.timeline import build_timeline, render_timeline
from tests.test_temporal import docks  # noqa: F401  (fixture)


def test_seed_timeline_of_us_strikes_in_syria(seed_brief: Brief) -> None:
    timeline = build_timeline(seed_brief, "US strikes in Syria")
    months = [e.first.strftime("%b %Y") for e in timeline.events]
    assert months == ["Feb 2021", "Jun 2021", "Mar 2023", "Oct 2023", "Feb 2024"]
    outlets = [e.citation.outlet for e in timeline.events]
    assert outlets[0].startswith("BBC News") and outlets[-1] == "Middle East Eye"
    for event in timeline.events:
        assert event.text in event.citation.text  # each line quotes its citation
    text = render_timeline(timeline)
    assert text.splitlines()[1].strip().startswith("26 Feb 2021")


def test_timeline_on_other_text(docks: Brief) -> None:  # noqa: F811
    timeline = build_timeline(docks, "Rotterdam dock strikes")
    assert [e.first.isoformat() for e in timeline.events] == ["2022-03-07", "2022-08-30", "2023-01-09"]
    assert all("Antwerp's port reported" not in e.text for e in timeline.events)


def test_timeline_blocks_and_cli(seed_brief: Brief) -> None:
    payload = kit.timeline(build_timeline(seed_brief, "US strikes in Syria"))
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert sections[0] == "*Timeline:* US strikes in Syria"
    assert sections[1].startswith("*26 Feb 2021* — The US military has carried out")
    env = {**os.environ, "BRIEF_INDEX_DIR": str(seed_brief.settings.index_dir), "BRIEF_PROGRESS": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "retrieval.cli", "timeline", "US strikes in Syria", "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    ).stdout  # fmt: skip
    data = json.loads(out)
    assert data["events"][0]["label"] == "26 Feb 2021" and len(data["events"]) == 5
