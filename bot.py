"""Brief's Slack app: @mentions, DMs and `/brief`, answered with cited passages.

`create_app()` builds the Bolt app and runs nothing; `main()` picks the mode: Socket Mode when
`SLACK_APP_TOKEN` is set, HTTP (`/slack/events` on `PORT`) with a bot token and signing secret,
and otherwise a local console that answers typed questions.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from retrieval import Brief, BriefError, Result, Settings
from retrieval import blocks as kit
from retrieval.feedback import FeedbackStore
from retrieval.render import render_text
from retrieval.timeline import build_timeline, render_timeline
from retrieval.updates import Update, Updater

log = logging.getLogger("brief.bot")
PROMPT = "brief> "
EVENTS_PATH = "/slack/events"
THINKING, FAILED = "eyes", "x"
SORRY = "Sorry, something went wrong while answering. The details are in the bot's log; please try again."
USAGE = (
    "*Ask Brief about the news corpus.*\n"
    "• `/brief <question>`: a private answer you can share, e.g. `/brief when did Biden first strike Syria?`\n"
    "• `@Brief <question>` in a channel: the answer in the thread\n"
    "• a direct message to Brief: the answer right there\n"
    "• `/brief timeline <topic>`: dated events, oldest first, e.g. `/brief timeline US strikes in Syria`\n"
    "• `/brief stats`: corpus size and last update\n"
    "• `/brief reindex`: re-read the articles folder (admins only)"
)
MENTION = re.compile(r"<[@!#][^>]*>")
LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")
TOKEN = re.compile(r"\b(xox[abposr]-[\w-]+|xapp-[\w-]+)")


class RedactTokens(logging.Filter):
    """Blanks anything that looks like a Slack token in log records (defence in depth)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN.search(message):
            record.msg, record.args = TOKEN.sub("[redacted]", message), None
        return True


def question_from_slack(text: str) -> str:
    """A user's message as a plain question: mentions dropped, links and entities unwrapped."""
    text = LINK.sub(lambda m: m.group(2) or m.group(1), text or "")
    text = MENTION.sub(" ", text)
    return " ".join(html.unescape(text).split())


class Seen:
    """A bounded memory of recently handled keys (event ids, message timestamps)."""

    def __init__(self, size: int = 5000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, *keys: str) -> bool:
        """True if none of `keys` was seen before; remembers them all."""
        with self._lock:
            fresh = not any(k in self._keys for k in keys)
            for k in keys:
                self._keys[k] = None
                self._keys.move_to_end(k)
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return fresh


class Listeners:
    """Bolt listeners: each acknowledges first, then does the slow work."""

    def __init__(self, settings: Settings, brief: Brief, updater: Updater | None = None) -> None:
        self.settings = settings
        self.brief = brief
        self.updater = updater or Updater(brief)
        self.feedback = FeedbackStore(settings.index_dir)
        self.seen = Seen()
        self.told_channels = Seen()
        self.reindex_lock = threading.Lock()
        self.handled = 0  # message events fully handled (answered or skipped): for tests and metrics
        self.handled_changed = threading.Condition()

    def wait_handled(self, count: int, timeout: float) -> bool:
        """Block until `count` message events have been handled, or `timeout` seconds pass."""
        with self.handled_changed:
            return self.handled_changed.wait_for(lambda: self.handled >= count, timeout)

    def _handled(self) -> None:
        with self.handled_changed:
            self.handled += 1
            self.handled_changed.notify_all()

    # --- events ---------------------------------------------------------------------------------
    def on_mention(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        """@Brief in a channel (or a thread): answer in the thread."""
        try:
            if not self._skip(body, event):
                self._answer_message(client, event, event.get("thread_ts") or event["ts"])
        finally:
            self._handled()

    def on_message(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        """A direct message: answer right there (in its thread if it was written in one)."""
        try:
            if event.get("channel_type") == "im" and not self._skip(body, event):
                self._answer_message(client, event, event.get("thread_ts"))
        finally:
            self._handled()

    def _skip(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        if event.get("subtype") or event.get("bot_id") or event.get("user") is None:
            return True  # bots (ourselves included), edits, deletions, joins
        # One reply per message: Slack may send app_mention and message for it, and redeliver
        # either (X-Slack-Retry-Num) when it thinks the first delivery was not acknowledged.
        keys = [f"msg:{event.get('channel')}:{event.get('ts')}"]
        if body.get("event_id"):
            keys.append(f"event:{body['event_id']}")
        return not self.seen.first_time(*keys)

    def _allowed(self, channel: str, channel_type: str | None) -> bool:
        return not self.settings.channels or channel in self.settings.channels or channel_type == "im"

    def _where(self) -> str:
        places = ", ".join(f"<#{c}>" for c in sorted(self.settings.channels))
        return f"I answer questions in {places} and in direct messages."

    def _answer_message(self, client: WebClient, event: dict[str, Any], thread: str | None) -> None:
        channel = event["channel"]
        if not self._allowed(channel, event.get("channel_type")):
            if self.told_channels.first_time(channel):
                self._post(client, channel, thread, kit.message(self._where()))
            return
        question = question_from_slack(event.get("text", ""))
        if not question:
            self._post(client, channel, thread, kit.message(USAGE))
            return
        self._react(client, "reactions_add", channel, event["ts"], THINKING)
        payload, ok = self._safely(lambda: kit.reply(self.brief.ask(question)), "answering a message")
        self._post(client, channel, thread, payload)
        self._react(client, "reactions_remove", channel, event["ts"], THINKING)
        if not ok:
            self._react(client, "reactions_add", channel, event["ts"], FAILED)

    # --- /brief ---------------------------------------------------------------------------------
    def on_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        """`/brief <question>`, `/brief help`, `/brief stats`, `/brief timeline <topic>`, `/brief reindex`."""
        text = " ".join((command.get("text") or "").split())
        word = text.split(" ", 1)[0].lower()
        if not text or word == "help":
            ack(**kit.message(USAGE))
        elif word == "stats" and text.lower() == "stats":
            ack(**self._stats())
        elif word == "reindex" and text.lower() == "reindex":
            self._reindex(ack, command, respond)
        elif not self._allowed(command.get("channel_id", ""), None) and not _is_dm(command):
            ack(**kit.message(self._where()))
        elif word == "timeline":
            topic = question_from_slack(text[len(word) :])
            if not topic:
                ack(**kit.message("Which topic? e.g. `/brief timeline US strikes in Syria`"))
                return
            ack(**kit.message(f"Building a timeline of: {kit.escape(kit.cut(topic, 500))}"))
            payload, _ = self._safely(lambda: kit.timeline(build_timeline(self.brief, topic)), "/brief timeline")
            respond(response_type="ephemeral", replace_original=False, **payload)
        else:
            question = question_from_slack(text)
            ack(**kit.message(f"Looking for: {kit.escape(kit.cut(question, 500))}"))
            payload, _ = self._safely(
                lambda: kit.reply(self.brief.ask(question), show_question=True, share=True), "/brief"
            )
            respond(response_type="ephemeral", replace_original=False, **payload)

    def _stats(self) -> dict[str, Any]:
        try:
            s = self.brief.stats()
        except BriefError as exc:
            return kit.message(f"Sorry: {kit.escape(str(exc))}")
        return kit.message(
            f"*Corpus:* {s.articles:,} articles, {s.passages:,} passages\n"
            f"*Last update:* {s.updated_at} (index {s.version})\n*Model:* {kit.escape(s.model)}"
        )

    def _reindex(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        if command.get("user_id") not in self.settings.admin_users:
            ack(**kit.message("Sorry, only Brief's admins can reindex. Ask one of them, or try `/brief stats`."))
            return
        if not self.reindex_lock.acquire(blocking=False):
            ack(**kit.message("A reindex is already running; I'll post its result when it finishes."))
            return
        try:
            ack(**kit.message(f"Reindexing `{kit.escape(str(self.settings.articles_dir))}` …"))
            update = self.updater.update(fetch=True)
            respond(response_type="ephemeral", replace_original=False, **kit.message(kit.escape(update.summary())))
        except BriefError as exc:
            respond(response_type="ephemeral", **kit.message(f"Reindex failed: {kit.escape(str(exc))}"))
        except Exception:
            log.exception("reindex failed")
            respond(response_type="ephemeral", **kit.message(SORRY))
        finally:
            self.reindex_lock.release()

    # --- buttons --------------------------------------------------------------------------------
    def on_share(self, ack: Any, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        """ "Share in channel": post the same answer visibly."""
        ack()
        action = body["actions"][0]
        question = json.loads(action.get("value") or "{}").get("q", "")
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id", "")
        payload, ok = self._safely(lambda: kit.reply(self.brief.ask(question), show_question=True), "sharing")
        if not ok:
            respond(response_type="ephemeral", replace_original=False, **payload)
            return
        payload["blocks"].insert(
            0, {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Shared by <@{user}>"}]}
        )
        try:
            self._post(client, channel, None, payload, raise_errors=True)
        except SlackApiError as exc:
            error = exc.response.get("error", "error")
            hint = "invite me with `/invite @Brief`" if error in {"not_in_channel", "channel_not_found"} else error
            respond(response_type="ephemeral", replace_original=False, **kit.message(f"I can't post here: {hint}."))
            return
        respond(replace_original=True, **kit.message("Shared in the channel."))

    def on_feedback(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        """👍 / 👎: store the vote with the question and the cited passages, thank the clicker."""
        ack()
        action = body["actions"][0]
        vote = 1 if action["action_id"] == kit.FEEDBACK_UP else -1
        data = json.loads(action.get("value") or "{}")
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id")
        self.feedback.record(user, vote, data.get("q", ""), list(data.get("p", [])), channel)
        thanks = "Thanks, noted as helpful." if vote > 0 else "Thanks, noted as not helpful; it helps us improve."
        respond(response_type="ephemeral", replace_original=False, **kit.message(thanks))

    @staticmethod
    def _safely(build: Callable[[], dict[str, Any]], what: str) -> tuple[dict[str, Any], bool]:
        """The reply `build` makes, or a short apology: the user's error verbatim, any other
        failure only in the log."""
        try:
            return build(), True
        except BriefError as exc:
            return kit.message(f"Sorry: {kit.escape(str(exc))}"), False
        except Exception:
            log.exception("%s failed", what)
            return kit.message(SORRY), False

    # --- Web API helpers ------------------------------------------------------------------------
    def _post(
        self,
        client: WebClient,
        channel: str | None,
        thread: str | None,
        payload: dict[str, Any],
        raise_errors: bool = False,
    ) -> None:
        try:
            client.chat_postMessage(
                channel=channel, thread_ts=thread, unfurl_links=False, unfurl_media=False, **payload
            )
        except SlackApiError:
            if raise_errors:
                raise
            log.exception("chat.postMessage failed")

    @staticmethod
    def _react(client: WebClient, method: str, channel: str, ts: str, name: str) -> None:
        try:
            getattr(client, method)(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:  # e.g. missing reactions:write scope: not worth failing for
            log.warning("%s %s failed: %s", method, name, exc.response.get("error"))


def announcer(settings: Settings, client: WebClient) -> Callable[[Update], None]:
    """Posts "new in the corpus" to BRIEF_ANNOUNCE_CHANNEL after each update that added articles."""

    def announce(update: Update) -> None:
        if not settings.announce_channel or not update.ingested.new_articles:
            return
        try:
            client.chat_postMessage(
                channel=settings.announce_channel, unfurl_links=False, unfurl_media=False,
                **kit.announcement(update.ingested.new_articles),
            )  # fmt: skip
        except SlackApiError as exc:
            log.warning("announcement failed: %s", exc.response.get("error"))

    return announce


def _is_dm(command: dict[str, Any]) -> bool:
    return (command.get("channel_name") == "directmessage") or str(command.get("channel_id", "")).startswith("D")


def create_app(
    settings: Settings, brief: Brief | None = None, listeners: Listeners | None = None, updater: Updater | None = None
) -> App:
    """The Bolt app with its listeners; nothing is started or loaded here."""
    client = web_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode requests are not signed; HTTP requests always are.
        request_verification_enabled=settings.slack_mode != "socket",
        token_verification_enabled=False,
        process_before_response=False,
    )
    brief = brief or Brief(settings)
    listeners = listeners or Listeners(settings, brief, updater or Updater(brief, announcer(settings, client)))
    app.event("app_mention")(listeners.on_mention)
    app.event("message")(listeners.on_message)
    app.command("/brief")(listeners.on_command)
    app.action(kit.SHARE_ACTION)(listeners.on_share)
    app.action(re.compile(f"^({kit.FEEDBACK_UP}|{kit.FEEDBACK_DOWN})$"))(listeners.on_feedback)
    return app


def socket_mode_handler(app: App, settings: Settings) -> SocketModeHandler:
    """The Socket Mode connection for `app` (call `.start()` to block, `.connect()` not to)."""
    return SocketModeHandler(app, settings.slack_app_token)


def web_client(settings: Settings) -> WebClient:
    """A Slack Web API client with the bot token, at SLACK_API_URL when set."""
    return WebClient(token=settings.slack_bot_token, base_url=_api_url(settings.slack_api_url))


def _api_url(url: str | None) -> str:
    url = url or "https://slack.com/api/"
    return url if url.endswith("/") else url + "/"


def http_server(app: App, host: str, port: int) -> ThreadingHTTPServer:
    """A threaded HTTP server that hands Slack's signed requests at /slack/events to the app."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._send(200 if self.path == "/healthz" else 404, "ok" if self.path == "/healthz" else "")

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            if path != EVENTS_PATH:
                self._send(404, "")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            response = app.dispatch(BoltRequest(body=body, query=query, headers=dict(self.headers.items())))
            self._send(response.status, response.body, response.headers)

        def _send(self, status: int, body: Any, headers: dict[str, Any] | None = None) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
            self.send_response(status)
            for key, values in (headers or {}).items():
                for value in values if isinstance(values, list | tuple) else [values]:
                    if key.lower() != "content-length":
                        self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


# --- console ---------------------------------------------------------------------------------------
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
    """Answer questions typed at a prompt until end of input; `help`, `stats` and `timeline <topic>`
    work as they do after `/brief`."""
    usage = (
        "Type a question and press Enter, e.g. when did Biden first strike Syria?\n"
        "  timeline <topic>  dated events, oldest first, e.g. timeline US strikes in Syria\n"
        "  stats             corpus size and last update\n"
        "  help              this text\n"
        "Ctrl-D (or Ctrl-C) quits."
    )
    print("Type a question and press Enter (help for commands, Ctrl-D to quit).", file=out)
    if brief.settings.slack_mode == "console":
        print("Slack is not connected: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN in .env (see README).", file=out)
    out.flush()
    while True:
        if stdin.isatty():
            print(PROMPT, end="", file=out, flush=True)
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            print(file=out, flush=True)
            return 0
        if not line:
            return 0
        text = " ".join(line.split())
        if not text:
            continue
        word = text.split(" ", 1)[0].lower()
        try:
            if text.lower() == "help":
                reply = usage
            elif text.lower() == "stats":
                s = brief.stats()
                reply = (
                    f"Corpus: {s.articles:,} articles, {s.passages:,} passages\n"
                    f"Last update: {s.updated_at} (index {s.version})\nModel: {s.model}"
                )
            elif word == "timeline":
                topic = text[len(word) :].strip()
                reply = (
                    render_timeline(build_timeline(brief, topic))
                    if topic
                    else "Which topic? e.g. timeline US strikes in Syria"
                )
            else:
                result: Result = brief.ask(line)
                reply = render_text(result)
            print(reply + "\n", file=out, flush=True)
        except BriefError as exc:
            print(f"Sorry: {exc}", file=out, flush=True)
        except KeyboardInterrupt:
            print(file=out, flush=True)
            return 0


def main(argv: list[str] | None = None) -> int:
    """Start Brief: update the index, then serve Slack (or the console)."""
    parser = argparse.ArgumentParser(description="Run the Brief bot.")
    parser.add_argument("--console", action="store_true", help="answer in the terminal even if Slack is configured")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    try:
        settings = Settings.from_env()
        brief = Brief(settings)
        prepare(brief, sys.stdout)
    except BriefError as exc:
        print(f"brief: {exc}", file=sys.stderr)
        return exc.exit_code
    mode = "console" if args.console else settings.slack_mode
    client = web_client(settings)
    updater = Updater(brief, announcer(settings, client) if mode != "console" else None)
    updater.start()  # new articles reach the answers without a restart
    if mode == "console":
        return console(brief)
    app = create_app(settings, brief, updater=updater)
    if mode == "socket":
        log.info("connecting to Slack by Socket Mode")
        socket_mode_handler(app, settings).start()
        return 0
    server = http_server(app, settings.host, settings.port)
    log.info("listening for Slack on http://%s:%d%s", settings.host, settings.port, EVENTS_PATH)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
