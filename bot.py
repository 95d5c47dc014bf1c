"""Brief's front door. Today: a local console that answers typed questions.

The Slack app (mentions, DMs, `/brief`) will be built here by `create_app()`; the console stays
as the mode used when no Slack credentials are configured.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from retrieval import Brief, BriefError, Settings
from retrieval.render import render_text

PROMPT = "brief> "


def prepare(brief: Brief, out: TextIO) -> None:
    """Bring the index up to date with the articles folder (builds it when there is none)."""
    folder = brief.settings.articles_dir
    if folder.is_dir():
        print(f"Checking {folder} for new or changed articles ...", file=out, flush=True)
        report = brief.ingest([folder])
        print(report.summary(), file=out, flush=True)
    stats = brief.stats()
    print(
        f"Brief is ready: {stats.articles} articles, {stats.passages} passages (updated {stats.updated_at}).",
        file=out,
        flush=True,
    )


def console(brief: Brief, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Answer questions typed at a prompt until end of input."""
    print("Type a question and press Enter (Ctrl-D to quit).", file=out)
    print("Slack is not connected: this release answers in the console only.", file=out, flush=True)
    while True:
        if stdin.isatty():
            print(PROMPT, end="", file=out, flush=True)
        line = stdin.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        try:
            print(render_text(brief.ask(line)) + "\n", file=out, flush=True)
        except BriefError as exc:
            print(f"Sorry: {exc}", file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Start Brief: update the index, then answer questions."""
    parser = argparse.ArgumentParser(description="Run the Brief bot.")
    parser.add_argument("--console", action="store_true", help="answer in the terminal (the default for now)")
    parser.parse_args(argv)
    try:
        brief = Brief(Settings.from_env())
        prepare(brief, sys.stdout)
    except BriefError as exc:
        print(f"brief: {exc}", file=sys.stderr)
        return exc.exit_code
    return console(brief)


if __name__ == "__main__":
    sys.exit(main())
