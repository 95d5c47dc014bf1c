"""The `brief` command: ingest, ask, stats. A thin shell over the library."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from retrieval.brief import Brief
from retrieval.errors import BriefError, UsageError
from retrieval.evaluation import evaluate, load_qa
from retrieval.render import render_text
from retrieval.search import Mode, Options
from retrieval.settings import Settings
from retrieval.timeline import build_timeline, render_timeline, timeline_dict
from retrieval.updates import Updater


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `brief`."""
    parser = argparse.ArgumentParser(prog="brief", description="Answer briefing questions from news articles.")
    parser.add_argument("--index", type=Path, help="index folder (default: BRIEF_INDEX_DIR or index/)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add or update article files in the index")
    p.add_argument("paths", nargs="+", type=Path, help="article files or folders (searched recursively)")
    p.add_argument("--prune", action="store_true", help="drop indexed articles whose files are gone")
    p.add_argument("--rebuild", action="store_true", help="build a fresh index instead of updating")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question", help='the question, or "-" to read one question per line from stdin')
    p.add_argument("-k", type=int, default=None, help="number of passages to cite (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD",
                   help='the day the question is asked: "recently", "this week" are read against it (default today)')
    _ablation_flags(p)

    p = sub.add_parser("eval", help="measure answers against a QA file (hit@k, MRR, abstention, dates)")
    p.add_argument("qa", type=Path, help="QA JSONL: id, question, answer, doc, evidence, kind")
    p.add_argument("--corpus", type=Path, help="ingest this folder first")
    p.add_argument("--index", dest="eval_index", type=Path, help="index folder (default: BRIEF_INDEX_DIR)")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    for metric in ("hit1", "hit3", "hit5", "mrr", "abstain", "date"):
        p.add_argument(f"--min-{metric}", type=float, metavar="X", help=f"exit 1 if overall {metric} < X")
    _ablation_flags(p)

    p = sub.add_parser("watch", help="keep the index up to date with a folder (Ctrl-C to stop)")
    p.add_argument("folder", nargs="?", type=Path, help="default: BRIEF_ARTICLES_DIR")

    sub.add_parser("fetch", help="poll the feeds in BRIEF_FEEDS once, save new articles, update the index")

    p = sub.add_parser("timeline", help="dated events about a topic, oldest first")
    p.add_argument("topic", help='e.g. "US strikes in Syria"')
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="size, model and freshness of the index")
    p.add_argument("--json", action="store_true")
    return parser


def _ablation_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.HYBRID.value, help="retrieval mode")
    for name, what in [
        ("dedupe", "collapsing near-identical passages"),
        ("sentences", "sentence-level answers (answer with the top passage's first sentence)"),
        ("coverage", "the fitted answer model (score answer sentences on cosine alone)"),
        ("dates", "date reasoning (when / first / last / years)"),
        ("floor", 'the fitted no-answer threshold (always answer, never "no answer")'),
    ]:
        p.add_argument(f"--no-{name}", dest=name, action="store_false", help=f"turn off {what}")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _options(args: argparse.Namespace) -> Options:
    return Options(Mode(args.mode), args.dedupe, args.sentences, args.coverage, args.dates, args.floor)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 usage)."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.index:
            settings = settings.with_(index_dir=args.index)
        if args.command == "ingest":
            if args.quiet:
                settings = settings.with_(show_progress=False)
            return _ingest(settings, args)
        brief = Brief(settings)
        if args.command == "ask":
            return _ask(brief, args)
        if args.command in ("watch", "fetch"):
            return _watch_or_fetch(settings, args)
        if args.command == "eval":
            return _eval(settings, args)
        if args.command == "timeline":
            timeline = build_timeline(brief, args.topic)
            print(json.dumps(timeline_dict(timeline), ensure_ascii=False) if args.json else render_timeline(timeline))
            return 0
        return _stats(brief, args)
    except BriefError as exc:
        print(f"brief: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("brief: interrupted", file=sys.stderr)
        return 130


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    brief = Brief(settings)
    report = brief.ingest(args.paths, prune=args.prune, rebuild=args.rebuild)
    print(report.summary())
    nothing_usable = report.files_seen == 0 or (report.articles_total == 0 and report.skipped)
    return 1 if nothing_usable else 0


def _watch_or_fetch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "fetch":
        if not settings.feeds:
            raise UsageError("no feeds configured; set BRIEF_FEEDS to RSS/Atom URLs (comma-separated)")
        print(Updater(Brief(settings)).update(fetch=True).summary())
        return 0
    if args.folder:
        settings = settings.with_(articles_dir=args.folder)
    updater = Updater(Brief(settings.with_(show_progress=False)), on_update=lambda u: print(u.summary(), flush=True))
    print(updater.update(fetch=bool(settings.feeds)).summary(), flush=True)
    print(f"watching {settings.articles_dir} (Ctrl-C to stop) ...", flush=True)
    updater.start()
    try:
        threading.Event().wait()
    finally:
        updater.stop()
    return 0


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    if args.eval_index:
        settings = settings.with_(index_dir=args.eval_index)
    items = load_qa(args.qa)
    brief = Brief(settings)
    if args.corpus:
        print(brief.ingest([args.corpus]).summary(), file=sys.stderr)
    report = evaluate(brief, items, _options(args), k=args.k, progress=settings.show_progress)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    o = report.overall
    floors = {"hit1": o.hit1, "hit3": o.hit3, "hit5": o.hit5, "mrr": o.mrr,
              "abstain": o.unanswered_correct, "date": o.date_correct}  # fmt: skip
    failed = [
        f"{name} {value if value is not None else 'n/a'} < {minimum}"
        for name, value in floors.items()
        if (minimum := getattr(args, f"min_{name}")) is not None and (value is None or value < minimum)
    ]
    for line in failed:
        print(f"brief eval: below the floor: {line}", file=sys.stderr)
    return 1 if failed else 0


def _ask(brief: Brief, args: argparse.Namespace) -> int:
    options = _options(args)
    if args.question != "-":
        result = brief.ask(args.question, args.k, options, args.as_of)
        print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else render_text(result, bold=_bold()))
        return 0
    status = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = brief.ask(line, args.k, options, args.as_of)
        except BriefError as exc:
            if exc.exit_code != 2:
                raise
            status = 2
            error = {"question": line.strip()[:200], "answer": None, "passages": [], "error": str(exc)}
            print(json.dumps(error, ensure_ascii=False) if args.json else f"error: {exc}", flush=True)
            continue
        print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else render_text(result) + "\n", flush=True)
    return status


def _stats(brief: Brief, args: argparse.Namespace) -> int:
    s = brief.stats()
    if args.json:
        print(json.dumps(s.__dict__))
    else:
        print(
            f"index: {s.index_dir} (version {s.version})\narticles: {s.articles}\npassages: {s.passages}\n"
            f"model: {s.model} ({s.dim} dims)\nlast updated: {s.updated_at}"
        )
    return 0


def _bold() -> tuple[str, str]:
    return ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")


if __name__ == "__main__":
    sys.exit(main())
