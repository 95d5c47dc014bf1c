"""The `brief` command: ingest, ask, eval, watch, fetch, timeline, stats, list, show, rm, export, feedback, health.

A thin shell over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import urllib.request
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from retrieval.answer import followup
from retrieval.brief import Brief
from retrieval.errors import BriefError, UsageError
from retrieval.evaluation import evaluate, load_qa
from retrieval.index.catalog import article_dict, where
from retrieval.index.ingest import display_path
from retrieval.index.migrate import migrate
from retrieval.index.store import ArticleFilter
from retrieval.render import render_text
from retrieval.search.hybrid import Mode, Options
from retrieval.settings import Settings
from retrieval.slack import feedback_report
from retrieval.slack.feedback import FeedbackStore
from retrieval.sources.updates import Updater
from retrieval.sources.watch import interrupt_on_sigterm
from retrieval.timeline import build_timeline, render_timeline, timeline_dict

SLACK_PORT = 443  # Socket Mode's WebSocket to wss-primary.slack.com


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `brief`."""
    parser = argparse.ArgumentParser(prog="brief", description="Answer briefing questions from news articles.")
    parser.add_argument("--index", type=Path, help="index folder (default: BRIEF_INDEX_DIR or index/)")
    # --index is accepted after the sub-command too (where the printed hints put it); SUPPRESS
    # keeps a sub-command without it from overwriting the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, default=argparse.SUPPRESS, help="index folder (default: BRIEF_INDEX_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    p = add("ingest", "add or update article files in the index")
    p.add_argument(
        "paths", nargs="*", type=Path, help="article files or folders, recursive (default: BRIEF_ARTICLES_DIR)"
    )
    p.add_argument("--prune", action="store_true", help="drop indexed articles whose files are gone")
    p.add_argument("--rebuild", action="store_true", help="build a fresh index instead of updating")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("ask", "answer a question with cited passages")
    p.add_argument("question", help='the question, or "-" to read one question per line from stdin')
    p.add_argument("-k", type=int, default=None, help="number of passages to cite (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD",
                   help='the day the question is asked: "recently", "this week" are read against it (default today)')
    p.add_argument("--follow-up-of", metavar="QUESTION",
                   help='read the question as a follow-up of this one ("and the last time?", "who claimed it?"); '
                        'with "-", each line follows the one before it')  # fmt: skip
    _ablation_flags(p)

    p = add("eval", "measure answers against a QA file (hit@k, MRR, abstention, dates); lists the failed questions")
    p.add_argument("qa", type=Path, help="QA JSONL: id, question, answer, doc, evidence, kind")
    p.add_argument("--corpus", type=Path, help="ingest this folder first")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    for metric in ("hit1", "hit3", "hit5", "mrr", "abstain", "date"):
        p.add_argument(f"--min-{metric}", type=float, metavar="X", help=f"exit 1 if overall {metric} < X")
    _ablation_flags(p)

    p = add("watch", "keep the index up to date with a folder (Ctrl-C or SIGTERM to stop)")
    p.add_argument("folder", nargs="?", type=Path, help="default: BRIEF_ARTICLES_DIR")

    add("fetch", "poll the feeds in BRIEF_FEEDS once, save new articles, update the index")

    p = add("timeline", "dated events about a topic, oldest first")
    p.add_argument("topic", help='e.g. "US strikes in Syria"')
    p.add_argument("--json", action="store_true")
    p.add_argument("--png", type=Path, metavar="FILE", help="also draw the dated events on a time axis into FILE (PNG)")

    p = add("stats", "size, model, freshness and metadata gaps of the index")
    p.add_argument("--missing", action="store_true", help="list the articles without a title or a date")
    p.add_argument("--json", action="store_true")

    p = add("list", "indexed articles, newest first (no model needed)")
    p.add_argument("--outlet", help="only this outlet (case-insensitive)")
    p.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="published on or after this day")
    p.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="published on or before this day")
    p.add_argument("--text", help="only articles whose title or text contains this (case-insensitive)")
    p.add_argument("--limit", type=_positive, metavar="N", help="at most N articles")
    p.add_argument("--json", action="store_true", help="print one JSON object per article")

    p = add("show", "an article's metadata and its passages with paragraph numbers")
    p.add_argument("id", help="article id (or a unique prefix of 6+ characters), or the path of an indexed file")
    p.add_argument("--json", action="store_true")

    p = add("rm", "take articles out of the index (a new version; their files do not bring them back)")
    p.add_argument("targets", nargs="*", metavar="ID|PATH", help="article ids (or 6+ character prefixes) or file paths")
    p.add_argument("--restore", action="store_true",
                   help="undo earlier removals (the next ingest adds them back); without ID|PATH: list them")  # fmt: skip

    p = add("export", "every indexed article as JSON lines on stdout")
    p.add_argument("--no-text", dest="text", action="store_false", help="metadata only, without the article text")

    p = add("feedback", "what people said about the answers: counts, the worst-rated questions, exports")
    p.add_argument("--limit", type=_positive, default=10, metavar="N", help="worst-rated questions listed (default 10)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the report as one JSON object")
    form.add_argument("--csv", action="store_true", help="every vote and source mark as CSV rows")
    form.add_argument("--rows", action="store_true", help="every vote and source mark as JSON lines")
    p.add_argument("--qa", type=Path, metavar="FILE",
                   help="also write the questions marked wrong as a QA JSONL file for `brief eval FILE`")  # fmt: skip

    p = add("migrate", "copy the embedded index to Postgres (--to URL) or a Postgres corpus into the index folder (--from URL)")
    p.add_argument("--to", metavar="postgresql://...", help="the database to fill (replaced whole)")
    p.add_argument("--from", dest="from_", metavar="postgresql://...", help="the database to copy into --index")

    add("health", "exit 0 if the running bot is reachable (Docker HEALTHCHECK): /healthz, or its Slack connection")
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


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


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
        if args.command == "health":
            return _health(settings)
        if args.command == "feedback":
            return _feedback(settings, args)
        if args.command == "migrate":
            print(migrate(settings, args.to, args.from_, lambda m: print(m, file=sys.stderr)).summary())
            return 0
        if args.command in CORPUS_COMMANDS:
            return CORPUS_COMMANDS[args.command](Brief(settings), args)
        brief = Brief(settings)  # loads nothing: the model on first question, the index on first use
        if args.command == "ask":
            return _ask(brief, args)
        if args.command in ("watch", "fetch"):
            return _watch_or_fetch(settings, args)
        if args.command == "eval":
            return _eval(settings, args)
        if args.command == "timeline":
            timeline = build_timeline(brief, args.topic)
            print(json.dumps(timeline_dict(timeline), ensure_ascii=False) if args.json else render_timeline(timeline))
            if args.png:
                from retrieval.slack.picture import write_timeline_png  # matplotlib only when a picture is asked for

                drawn = write_timeline_png(timeline, args.png)
                print(f"drew {drawn} event(s) into {args.png}", file=sys.stderr)
            return 0
        return _stats(brief, args)
    except BriefError as exc:
        print(f"brief: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("brief: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `brief export | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _feedback(settings: Settings, args: argparse.Namespace) -> int:
    if not feedback_report.has_feedback(settings.index_dir):
        raise UsageError(f"no feedback in {settings.index_dir} yet: the bot records it when people click "
                         "👍/👎 or mark a source (or pass --index where the bot's index is)")  # fmt: skip
    store = FeedbackStore(settings.index_dir)
    if args.csv:
        sys.stdout.write(feedback_report.to_csv(feedback_report.rows(store)))
    elif args.rows:
        for row in feedback_report.rows(store):
            print(json.dumps(row, ensure_ascii=False))
    else:
        report = feedback_report.report(store, args.limit)
        print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else report.text())
    if args.qa:
        if not feedback_report.qa_rows(store):
            print("no question is marked wrong yet; no QA file written", file=sys.stderr)
            return 0
        written = feedback_report.write_qa(store, args.qa)
        print(f"wrote {written} question(s) marked wrong to {args.qa}; run: brief eval {args.qa}", file=sys.stderr)
    return 0


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    brief = Brief(settings)
    report = brief.ingest(args.paths or [settings.articles_dir], prune=args.prune, rebuild=args.rebuild)
    print(report.summary())
    nothing_usable = report.files_seen == 0 or (report.articles_total == 0 and report.skipped)
    return 1 if nothing_usable else 0


def _watch_or_fetch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "fetch":
        if not settings.feeds:
            raise UsageError("no feeds configured; set BRIEF_FEEDS to RSS/Atom URLs (comma-separated)")
        print(Updater(Brief(settings)).update(fetch=True).summary())
        return 0
    folder = args.folder or settings.articles_dir
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"cannot watch {folder}: it {what}; create it or name an existing folder (brief watch DIR)")
    settings = settings.with_(articles_dir=folder, show_progress=False, watch=True)
    updater = Updater(Brief(settings))
    interrupt_on_sigterm()
    try:
        print(updater.update(fetch=bool(settings.feeds)).summary(), flush=True)
        # Later updates are printed as they happen; the first one was printed just above.
        updater.on_update = lambda u: print(u.summary(), flush=True)
        print(f"watching {folder} (Ctrl-C to stop) ...", flush=True)
        updater.start()
        threading.Event().wait()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM from `docker stop` / systemd
        print(f"stopped watching {folder}", flush=True)
    finally:
        updater.stop()
    return 0


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    items = load_qa(args.qa)
    brief = Brief(settings)
    if args.corpus:
        print(brief.ingest([args.corpus]).summary(), file=sys.stderr)
    report = evaluate(brief, items, _options(args), k=args.k, progress=settings.show_progress)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table() + "\n\n" + report.failed_text())
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
    previous = args.follow_up_of

    def asked(question: str) -> tuple[str, str | None]:
        if previous is None or not previous.strip():
            return question, None
        read = followup.resolve(previous, question)
        return read, (read if read != question.strip() else None)

    if args.question != "-":
        question, read_as = asked(args.question)
        result = brief.ask(question, args.k, options, args.as_of)
        if args.json:
            print(json.dumps({**result.to_dict(), **({"read_as": read_as} if read_as else {})}, ensure_ascii=False))
        else:
            print((f"Read as: {read_as}\n" if read_as else "") + render_text(result, bold=_bold()))
        return 0
    status = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        question, read_as = asked(line)
        if previous is not None:
            previous = question  # a conversation: the next line follows this one
        try:
            result = brief.ask(question, args.k, options, args.as_of)
        except BriefError as exc:
            if exc.exit_code != 2:
                raise
            status = 2
            error = {"question": line.strip()[:200], "answer": None, "passages": [], "error": str(exc)}
            print(json.dumps(error, ensure_ascii=False) if args.json else f"error: {exc}", flush=True)
            continue
        if args.json:
            out = {**result.to_dict(), **({"read_as": read_as} if read_as else {})}
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            print((f"Read as: {read_as}\n" if read_as else "") + render_text(result) + "\n", flush=True)
    return status


def _stats(brief: Brief, args: argparse.Namespace) -> int:
    s = brief.stats()
    gaps = brief.missing_metadata() if args.missing else []
    if args.json:
        data = dict(s.__dict__)
        if args.missing:
            data["missing"] = [g.__dict__ for g in gaps]
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(
        f"index: {s.index_dir} (version {s.version})\narticles: {s.articles}\npassages: {s.passages}\n"
        f"model: {s.model} ({s.dim} dims)\nlast updated: {s.updated_at}\n"
        f"without a title: {s.untitled}; without a date: {s.undated}"
        + ("" if args.missing or not (s.untitled or s.undated) else " (list them: brief stats --missing)")
    )
    if args.missing:
        for g in gaps:
            where = g.path + (f"#{g.record}" if g.record else "")
            print(f"  {where}\ttitle: {g.title or '(none)'}\tdate: {g.published or '(none)'}")
        if gaps:
            print(
                "Fix them at the source: a sources.jsonl next to the files, one line per file, e.g.\n"
                '  {"file": "NAME.txt", "title": "...", "published": "2024-02-02"}\n'
                "or front matter (title:, published:) in .txt/.md; then run brief ingest again."
            )
    return 0


def _list(brief: Brief, args: argparse.Namespace) -> int:
    articles = brief.articles(ArticleFilter(args.outlet, args.since, args.until, args.text, args.limit))
    if args.json:
        for a in articles:
            print(json.dumps(article_dict(a), ensure_ascii=False))
        return 0
    rows = [(a.doc_id, a.published or "-", a.outlet or "-", _cut(a.title or "(untitled)", 60), where(a))
            for a in articles]  # fmt: skip
    if rows:
        rows.insert(0, ("id", "date", "outlet", "title", "path"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join(f"{cell:{w}}" for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    print(f"{len(articles)} article(s)" + (" (limit reached: --limit)" if len(articles) == args.limit else ""),
          file=sys.stderr)  # fmt: skip
    return 0


def _show(brief: Brief, args: argparse.Namespace) -> int:
    for shown in brief.show(args.id):
        if args.json:
            print(json.dumps(shown.to_dict(), ensure_ascii=False))
            continue
        a = shown.article
        print(f"{a.title or '(untitled)'}\nid: {a.doc_id}\noutlet: {a.outlet or '-'}\npublished: {a.published or '-'}\n"
              f"author: {a.author or '-'}\nurl: {a.url or '-'}\npath: {where(a)}\npassages: {len(shown.paragraphs)}\n")  # fmt: skip
        for n, text in shown.paragraphs:
            print(f"[¶{n}] {text}\n")
    return 0


def _rm(brief: Brief, args: argparse.Namespace) -> int:
    if args.restore and not args.targets:
        gone = brief.removed()
        for r in gone:
            print(f"{r.doc_id}  {r.title or '(untitled)'}  {display_path(r.path)}")
        print(f"{len(gone)} removed article(s); bring one back with brief rm --restore ID", file=sys.stderr)
        return 0
    if not args.targets:
        raise UsageError("name the articles to take out: brief rm ID|PATH ... (ids are in `brief list`)")
    if args.restore:
        restored = brief.restore(args.targets)
        print("\n".join(r.line() for r in restored))
        print("run `brief ingest` (or let the watcher update) to index them again")
        return 0
    print(brief.remove(args.targets).summary())
    return 0


def _export(brief: Brief, args: argparse.Namespace) -> int:
    for row in brief.export(args.text):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


CORPUS_COMMANDS = {"list": _list, "show": _show, "rm": _rm, "export": _export}


def _health(settings: Settings) -> int:
    """0 when the bot answers: HTTP mode asks its /healthz; Socket Mode needs an open connection to
    Slack (the WebSocket, on port 443) from this container; the console has nothing to check."""
    mode = settings.slack_mode
    if mode == "http":
        url = f"http://127.0.0.1:{settings.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                ok = response.status == 200
        except OSError as exc:
            print(f"unhealthy: {url}: {exc}", file=sys.stderr)
            return 1
        return 0 if ok else 1
    if mode == "socket" and not connected_to(SLACK_PORT):
        print("unhealthy: no open connection to Slack (Socket Mode)", file=sys.stderr)
        return 1
    return 0


def connected_to(port: int, tables: Sequence[Path] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))) -> bool:
    """True if this network namespace has an established TCP connection to a remote `port`."""
    for table in tables:
        try:
            rows = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "01" and fields[2].rsplit(":", 1)[-1] == f"{port:04X}":
                return True
    return False


def _bold() -> tuple[str, str]:
    return ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")


if __name__ == "__main__":
    sys.exit(main())
