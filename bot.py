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
import time
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from retrieval import Brief, BriefError, Result, Settings
from retrieval.answer import followup
from retrieval.brief import Stats, warm_up
from retrieval.index.store import ArticleFilter
from retrieval.render import render_text
from retrieval.slack import blocks as kit
from retrieval.slack import feedback_report
from retrieval.slack.channels import CONFIG_HELP, ChannelSettings, ChannelStore, parse_change
from retrieval.slack.channels import defaults as channel_defaults
from retrieval.slack.feedback import KEEP_ANSWERS_DAYS, VERDICTS, FeedbackStore, new_answer_id
from retrieval.slack.picture import draw_timeline
from retrieval.sources.updates import Update, Updater
from retrieval.sources.watch import interrupt_on_sigterm
from retrieval.timeline import Timeline, build_timeline, render_timeline

log = logging.getLogger("brief.bot")
PROMPT = "brief> "
EVENTS_PATH = "/slack/events"
THINKING, FAILED = "eyes", "x"
SWITCHED_OFF = "Brief is switched off in this channel; an admin can turn it on with `/brief config on`."
LIST_LIMIT = 20  # articles `/brief list` shows
ASK_SHORTCUT = "brief_ask_message"  # the message shortcut's callback_id (slack-manifest.yml)
SORRY = "Sorry, something went wrong while answering. The details are in the bot's log; please try again."
UNDELIVERED = "Sorry, I found an answer but Slack would not take it ({error}). Please ask again in a minute."
GONE = (
    f"That answer is no longer stored (replies are kept {KEEP_ANSWERS_DAYS} days). Ask again with `/brief <question>`."
)
USAGE = (
    "*Ask Brief about the news corpus.*\n"
    "• `/brief <question>`: a private answer you can share, e.g. `/brief when did Biden first strike Syria?`\n"
    "• `@Brief <question>` in a channel: the answer in the thread\n"
    "• a direct message to Brief: the answer right there\n"
    '• a reply in the thread of one of my answers: a follow-up ("and the last time?", "who claimed it?", '
    '"what about 2023?", "timeline")\n'
    "• the message menu (⋯) → *Ask Brief about this message*: a private answer you can share\n"
    "• `/brief timeline <topic>`: dated events, oldest first, e.g. `/brief timeline US strikes in Syria`\n"
    "• `/brief stats`: corpus size and last update\n"
    "• `/brief config`: this channel's settings (changed by admins: on/off, visible or private answers, "
    "outlets or folders searched, sources shown)\n"
    "• `/brief feedback`: 👍/👎 counts and the worst-rated questions (admins only)\n"
    "• `/brief list [words]`: the newest articles, or those holding the words (admins only)\n"
    "• `/brief reindex`: re-read the articles folder (admins only)"
)
MENTION = re.compile(r"<[@!#][^>]*>")
LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")
# Every Slack token family: xoxb (bot), xoxp (user), xoxa/xoxr/xoxs/xoxo/xoxc/xoxd/xoxe (app,
# refresh, session, client, cookie, rotating; also "xoxe.xoxp-…"), xapp (app-level), and the
# configuration and refresh tokens' newer prefixes. Matched anywhere, not only after a word break.
TOKEN = re.compile(r"(?:xox[a-z](?:\.xox[a-z])?|xapp)-[\w%./+=-]+", re.I)

# Calls to Slack retried before giving up: each 429 waits its Retry-After (plus up to 1 s of
# jitter, slack_sdk's own), connection failures and 500/503 back off 0.5 s, then 1 s.
RATE_LIMIT_RETRIES = 3
CONNECTION_RETRIES = 2
SERVER_ERROR_RETRIES = 2
RESPONSE_URL_TIMEOUT_S = 15

# HTTP mode: Slack's requests are a few kilobytes; anything far larger, or sent slowly, is refused.
MAX_BODY_BYTES = 1 << 20
READ_TIMEOUT_S = 10.0
SIGNATURE_WINDOW_S = 2 * 300 + 60  # Bolt accepts timestamps up to 5 minutes either side of now


def redact(text: str) -> str:
    """`text` with anything that looks like a Slack token replaced by "[redacted]"."""
    return TOKEN.sub("[redacted]", text)


class RedactTokens(logging.Filter):
    """Blanks anything that looks like a Slack token in log records, tracebacks included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN.search(message):
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text, so the traceback is rendered (and redacted) once here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
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


class Replays:
    """Signatures of the HTTP requests of the last minutes: a request signed the same way twice
    is a replay (Slack signs every delivery, retries included, afresh)."""

    def __init__(self, window_s: float = SIGNATURE_WINDOW_S) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._window = window_s
        self._lock = threading.Lock()

    def first_time(self, signature: str) -> bool:
        """True the first time `signature` is seen within the window; remembers it."""
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self._window:
                self._seen.popitem(last=False)
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


class Listeners:
    """Bolt listeners: each acknowledges first, then does the slow work."""

    def __init__(self, settings: Settings, brief: Brief, updater: Updater | None = None) -> None:
        self.settings = settings
        self.brief = brief
        self.updater = updater or Updater(brief)
        self.feedback = FeedbackStore(settings.index_dir)
        self.channels = ChannelStore(settings.index_dir, channel_defaults(settings))
        self.told_off = Seen()
        self.seen = Seen()
        self.told_channels = Seen()
        self.reindex_lock = threading.Lock()
        self.handled = 0  # message and Home tab events fully handled (answered or skipped): for tests and metrics
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
        """A direct message: answer right there (in its thread if it was written in one). A reply in
        a channel thread Brief answered in: a follow-up, answered in that thread. Other messages: ignored."""
        try:
            thread = event.get("thread_ts")
            direct = event.get("channel_type") == "im"
            follow_up = bool(thread) and self.feedback.thread_question(event.get("channel", ""), thread) is not None
            if (direct or follow_up) and not self._skip(body, event):
                self._answer_message(client, event, thread)
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
        direct = event.get("channel_type") == "im"
        setup = self.channels.base if direct else self.channels.get(channel)
        if not setup.enabled:
            if event.get("type") == "app_mention" and self.told_off.first_time(channel):
                self._post(client, channel, thread, kit.message(SWITCHED_OFF))
            return
        question = question_from_slack(event.get("text", ""))
        if not question:
            self._post(client, channel, thread, kit.message(USAGE))
            return
        previous = self.feedback.thread_question(channel, thread)
        private_to = str(event.get("user")) if setup.private and not direct else None
        self._react(client, "reactions_add", channel, event["ts"], THINKING)
        picture: Timeline | None = None
        if previous is not None and followup.is_timeline(question):
            topic = followup.timeline_topic(previous)
            try:
                picture = build_timeline(self.brief, topic)
                payload, ok = kit.timeline(picture), True
            except BriefError as exc:
                payload, ok = kit.message(f"Sorry: {kit.escape(str(exc))}"), False
            except Exception:
                log.exception("a thread timeline failed")
                payload, ok = kit.message(SORRY), False
            asked = previous  # the thread keeps its question: "and the last time?" still reads against it
        else:
            asked = followup.resolve(previous, question) if previous is not None else question
            read_as = asked if asked != question else None
            user, where = event.get("user"), channel
            payload, ok = self._safely(
                lambda: self._reply(asked, read_as=read_as, user=user, channel=where, setup=setup,
                                    share=private_to is not None),
                "answering a message",
            )  # fmt: skip
        # Replies in this thread (or, in a DM, under the answer) are follow-ups: noted before the
        # post, as a quick reply may arrive before chat.postMessage has returned.
        if ok:
            self.feedback.remember_thread(channel, thread or event["ts"], asked)
        posted: list[str] = []
        if private_to is not None:
            error = self._post_ephemeral(client, channel, private_to, thread, payload)
        else:
            error = self._post(client, channel, thread, payload, posted)
        if ok and posted:
            self.feedback.remember_thread(channel, posted[0], asked)
        if picture is not None and picture.events and private_to is None and not error:
            self._upload_timeline(client, channel, thread or event["ts"], picture)
        if error:  # retries are spent: say so where the question was asked (a short post may still pass)
            self._post(client, channel, thread, kit.message(UNDELIVERED.format(error=kit.escape(error))))
        self._react(client, "reactions_remove", channel, event["ts"], THINKING)
        if not ok or error:
            self._react(client, "reactions_add", channel, event["ts"], FAILED)

    def _reply(
        self, question: str, *, show_question: bool = False, share: bool = False, read_as: str | None = None,
        user: str | None = None, channel: str | None = None, setup: ChannelSettings | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The reply to `question` as asked today in a channel set up as `setup`, stored (with every
        cited source) under a fresh id that its buttons carry."""
        setup = setup or self.channels.base
        k = self.settings.top_k
        if setup.shown:  # enough passages that "More sources" has more to show
            k = min(50, max(k, 3 * setup.shown))
        hidden: frozenset[str] = frozenset()
        if setup.search:
            hidden = frozenset(a.doc_id for a in self.brief.articles() if not setup.keeps(a))
        result = self.brief.ask(question, k, hidden=hidden)
        answer_id = new_answer_id()
        payload = kit.reply(result, show_question=show_question, share=share, answer_id=answer_id, read_as=read_as)
        self.feedback.save_answer(
            answer_id, result.question, kit.cited(result), payload, user, channel, setup.shown, kit.source_list(result)
        )
        return kit.limited(payload, setup.shown, answer_id)

    # --- /brief ---------------------------------------------------------------------------------
    def on_command(self, ack: Any, command: dict[str, Any], client: WebClient) -> None:
        """`/brief <question>`, `/brief help`, `/brief stats`, `/brief timeline <topic>`, `/brief reindex`."""
        text = " ".join((command.get("text") or "").split())
        word = text.split(" ", 1)[0].lower()
        url = command.get("response_url")
        if not text or word == "help":
            ack(**kit.message(USAGE))
        elif word == "stats" and text.lower() == "stats":
            ack(**self._stats())
        elif word == "reindex" and text.lower() == "reindex":
            self._reindex(ack, command)
        elif word == "config":
            ack(**self._config(command, text[len(word) :]))
        elif word == "list":
            if command.get("user_id") not in self.settings.admin_users:
                ack(**kit.message("Sorry, only Brief's admins (BRIEF_ADMIN_USERS) can list the corpus."))
            else:
                ack(**self._list(question_from_slack(text[len(word) :])))
        elif word == "feedback" and text.lower() == "feedback":
            if command.get("user_id") not in self.settings.admin_users:
                ack(**kit.message("Sorry, only Brief's admins (BRIEF_ADMIN_USERS) can read the feedback."))
            else:
                ack(**kit.feedback_view(feedback_report.report(self.feedback)))
        elif not self._allowed(command.get("channel_id", ""), None) and not _is_dm(command):
            ack(**kit.message(self._where()))
        elif not _is_dm(command) and not self.channels.get(command.get("channel_id")).enabled:
            ack(**kit.message(SWITCHED_OFF))
        elif word == "timeline":
            topic = question_from_slack(text[len(word) :])
            if not topic:
                ack(**kit.message("Which topic? e.g. `/brief timeline US strikes in Syria`"))
                return
            ack(**kit.message(f"Building a timeline of: {kit.escape(kit.cut(topic, 500))}"))
            channel = str(command.get("channel_id") or "")
            private = not _is_dm(command) and self.channels.get(channel).private
            self._timeline_command(client, url, topic, None if private else channel)
        else:
            question = question_from_slack(text)
            ack(**kit.message(f"Looking for: {kit.escape(kit.cut(question, 500))}"))
            user, channel = command.get("user_id"), command.get("channel_id")
            setup = self.channels.base if _is_dm(command) else self.channels.get(channel)
            payload, _ = self._safely(
                lambda: self._reply(question, show_question=True, share=True, user=user, channel=channel, setup=setup),
                "/brief",
            )
            self._respond(url, payload)

    def _timeline_command(self, client: WebClient, url: str | None, topic: str, channel: str | None) -> None:
        """`/brief timeline`: the picture uploaded where it was asked (with the text timeline as its
        comment); privately, as text only, in a channel whose answers are private or when the upload fails."""
        try:
            tl = build_timeline(self.brief, topic)
        except BriefError as exc:
            self._respond(url, kit.message(f"Sorry: {kit.escape(str(exc))}"))
            return
        except Exception:
            log.exception("/brief timeline failed")
            self._respond(url, kit.message(SORRY))
            return
        if not tl.events:
            self._respond(url, kit.timeline(tl))
            return
        error = "answers in this channel are private" if channel is None else None
        error = error or self._upload_timeline(client, str(channel), None, tl)
        if error:
            payload = kit.timeline(tl)
            notice = kit.message(f"No picture ({kit.escape(error)}); here is the text timeline.")
            self._respond(url, {**payload, "blocks": [*notice["blocks"], *payload["blocks"]][: kit.MAX_BLOCKS]})
        else:
            self._respond(url, kit.message(f"Posted the timeline of {kit.escape(kit.cut(topic, 300))} "
                                           f"({len(tl.events)} dated events)."))  # fmt: skip

    @staticmethod
    def _upload_timeline(client: WebClient, channel: str, thread: str | None, tl: Timeline) -> str | None:
        """Upload the timeline's picture (files_upload_v2) with the text timeline as its comment;
        None once uploaded, else why not."""
        try:
            png, count = draw_timeline(tl)
        except BriefError as exc:
            return str(exc)
        try:
            client.files_upload_v2(
                channel=channel, thread_ts=thread, file=png, filename="timeline.png",
                title=kit.cut(f"Timeline: {tl.topic}", 250), alt_txt=f"{count} dated events about {tl.topic}"[:1000],
                initial_comment=kit.timeline_comment(tl),
            )  # fmt: skip
            return None
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        except (OSError, SlackRequestError) as exc:
            error = f"upload failed: {type(exc).__name__}"
        log.warning("timeline upload to %s failed: %s", channel, error)
        return error

    def _config(self, command: dict[str, Any], words: str) -> dict[str, Any]:
        """`/brief config [change]`: show (anyone) or change (admins) this channel's settings."""
        channel, user = str(command.get("channel_id") or ""), str(command.get("user_id") or "")
        if _is_dm(command) or not channel:
            return kit.message(
                "Run `/brief config` in the channel you want to set up (direct messages use the defaults)."
            )
        current = self.channels.get(channel)
        if not words.strip():
            return kit.message(
                f"*Brief in <#{kit.escape(channel)}>:*\n{kit.escape(current.describe())}\n\n{CONFIG_HELP}"
            )
        if user not in self.settings.admin_users:
            return kit.message("Sorry, only Brief's admins (BRIEF_ADMIN_USERS) can change a channel's settings.")
        try:
            changed = parse_change(current, self.channels.base, words)
        except BriefError as exc:
            return kit.message(f"Sorry: {kit.escape(str(exc))}")
        self.channels.set(channel, changed, user)
        self.told_off = Seen()  # a channel switched off again is told so again
        return kit.message(f"*Brief in <#{kit.escape(channel)}> now:*\n{kit.escape(changed.describe())}")

    def _list(self, words: str) -> dict[str, Any]:
        """`/brief list [text]`: the newest indexed articles, those whose title or text holds `text`."""
        try:
            found = self.brief.articles(ArticleFilter(text=words or None, limit=LIST_LIMIT + 1))
        except BriefError as exc:
            return kit.message(f"Sorry: {kit.escape(str(exc))}")
        return kit.article_list(found[:LIST_LIMIT], words, more=len(found) > LIST_LIMIT)

    def _stats(self) -> dict[str, Any]:
        try:
            s = self.brief.stats()
        except BriefError as exc:
            return kit.message(f"Sorry: {kit.escape(str(exc))}")
        return kit.message(
            f"*Corpus:* {s.articles:,} articles, {s.passages:,} passages\n"
            f"*Last update:* {s.updated_at} (index {s.version})\n*Model:* {kit.escape(s.model)}"
        )

    def _reindex(self, ack: Any, command: dict[str, Any]) -> None:
        if command.get("user_id") not in self.settings.admin_users:
            ack(**kit.message("Sorry, only Brief's admins can reindex. Ask one of them, or try `/brief stats`."))
            return
        if not self.reindex_lock.acquire(blocking=False):
            ack(**kit.message("A reindex is already running; I'll post its result when it finishes."))
            return
        url = command.get("response_url")
        try:
            ack(**kit.message(f"Reindexing `{kit.escape(str(self.settings.articles_dir))}` …"))
            update = self.updater.update(fetch=True)
            self._respond(url, kit.message(kit.escape(update.summary())))
        except BriefError as exc:
            self._respond(url, kit.message(f"Reindex failed: {kit.escape(str(exc))}"))
        except Exception:
            log.exception("reindex failed")
            self._respond(url, kit.message(SORRY))
        finally:
            self.reindex_lock.release()

    # --- the Home tab and the message shortcut ---------------------------------------------------
    def on_home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        """The Home tab: what Brief knows, how to ask, and the user's recent questions."""
        try:
            user = event.get("user")
            if event.get("tab", "home") == "home" and isinstance(user, str):
                self._publish_home(client, user)
        finally:
            self._handled()

    def _publish_home(self, client: WebClient, user: str) -> None:
        try:
            stats: Stats | None = self.brief.stats()
            articles = self.brief.articles()
        except BriefError as exc:  # no index yet: the tab says so
            log.info("Home tab without corpus figures: %s", exc)
            stats, articles = None, []
        view = kit.home(stats, articles, self.feedback.recent_questions(user), USAGE)
        try:
            client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish failed: %s", exc.response.get("error"))
        except OSError as exc:
            log.warning("views.publish failed: %s", type(exc).__name__)

    def on_message_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        """ "Ask Brief about this message": the message's text as the question, answered privately
        with a Share button."""
        ack()
        url = body.get("response_url")
        message = body.get("message") or {}
        text = question_from_slack(str(message.get("text") or ""))
        if not text:
            self._respond(url, kit.message("That message has no text to ask about."))
            return
        # A long message is context, not a question: its opening words are what is searched.
        question = kit.cut(text, self.settings.max_question_chars).rstrip("…")
        user, channel = (body.get("user") or {}).get("id"), (body.get("channel") or {}).get("id")
        payload, _ = self._safely(
            lambda: self._reply(question, show_question=True, share=True, user=user, channel=channel), "the shortcut"
        )
        self._respond(url, payload)

    # --- buttons --------------------------------------------------------------------------------
    def on_share(self, ack: Any, body: dict[str, Any], client: WebClient) -> None:
        """ "Share in channel": post visibly the very reply the user saw (not a new answer)."""
        ack()
        url = body.get("response_url")
        stored = self.feedback.answer(_button_value(body))
        if stored is None:
            self._respond(url, kit.message(GONE))
            return
        channel = (body.get("channel") or {}).get("id")
        user = kit.escape(str((body.get("user") or {}).get("id", "")))
        payload = kit.without_share(kit.limited(stored.reply, stored.shown, stored.id))
        shared_by = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Shared by <@{user}>"}]}
        payload["blocks"] = [shared_by, *payload["blocks"]]
        posted: list[str] = []
        error = self._post(client, channel, None, payload, posted)
        if posted and channel:  # replies in the shared answer's thread are follow-ups of its question
            self.feedback.remember_thread(channel, posted[0], stored.question)
        if error:
            hint = "invite me with `/invite @Brief`" if error in {"not_in_channel", "channel_not_found"} else error
            self._respond(url, kit.message(f"I can't post here: {kit.escape(hint)}."))
            return
        self._respond(url, kit.message("Shared in the channel."), replace_original=True)

    def on_more(self, ack: Any, body: dict[str, Any], client: WebClient) -> None:
        """ "More sources": the same reply with the next sources, in place of the one clicked."""
        ack()
        url = body.get("response_url")
        answer_id, _, rest = (_button_value(body) or "").partition(":")
        shown, _, step = rest.partition(":")
        stored = self.feedback.answer(answer_id)
        if stored is None or not shown.isdigit() or not step.isdigit():
            self._respond(url, kit.message(GONE))
            return
        payload = kit.limited(stored.reply, int(shown) + max(1, int(step)), stored.id, int(step))
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if channel and ts and not container.get("is_ephemeral"):
            try:  # a visible message: edited where it is
                client.chat_update(channel=channel, ts=ts, **payload)
                return
            except SlackApiError as exc:
                log.warning("chat.update failed: %s; replacing through the response_url", exc.response.get("error"))
            except OSError as exc:
                log.warning("chat.update failed: %s", type(exc).__name__)
        self._respond(url, payload, replace_original=True)

    def on_source_mark(self, ack: Any, body: dict[str, Any]) -> None:
        """Useful / wrong / outdated on one source: stored with the reply and the source's passages."""
        ack()
        url = body.get("response_url")
        answer_id, _, number = (_button_value(body) or "").partition(":")
        stored = self.feedback.answer(answer_id)
        if stored is None or not number.isdigit() or not any(s.get("n") == int(number) for s in stored.sources):
            self._respond(url, kit.message(GONE))
            return
        verdict = str(body["actions"][0].get("action_id", ""))[len(kit.RATE_ACTION) :]
        if verdict not in VERDICTS:
            return
        user = str((body.get("user") or {}).get("id", ""))
        channel = (body.get("channel") or {}).get("id")
        self.feedback.record_source(user, stored, int(number), verdict, channel)
        self._respond(url, kit.message(f"Thanks, source [{int(number)}] noted as {verdict}."))

    def on_feedback(self, ack: Any, body: dict[str, Any]) -> None:
        """👍 / 👎: store the vote with the reply it is about, thank the clicker."""
        ack()
        url = body.get("response_url")
        stored = self.feedback.answer(_button_value(body))
        if stored is None:
            self._respond(url, kit.message(GONE))
            return
        vote = 1 if body["actions"][0].get("action_id") == kit.FEEDBACK_UP else -1
        user = str((body.get("user") or {}).get("id", ""))
        channel = (body.get("channel") or {}).get("id")
        self.feedback.record(user, vote, stored.question, stored.passages, channel, stored.id)
        thanks = "Thanks, noted as helpful." if vote > 0 else "Thanks, noted as not helpful; it helps us improve."
        self._respond(url, kit.message(thanks))

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
    @staticmethod
    def _post(
        client: WebClient, channel: str | None, thread: str | None, payload: dict[str, Any],
        posted: list[str] | None = None,
    ) -> str | None:  # fmt: skip
        """Post a message (the client retries); None once posted (its ts appended to `posted`), else
        Slack's error, logged."""
        try:
            response = client.chat_postMessage(
                channel=channel, thread_ts=thread, unfurl_links=False, unfurl_media=False, **payload
            )
            if posted is not None and isinstance(response.get("ts"), str):
                posted.append(response["ts"])
            return None
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        except OSError as exc:  # the connection failed on every retry
            error = f"Slack unreachable: {type(exc).__name__}"
        log.warning("chat.postMessage to %s failed: %s", channel, error)
        return error

    @staticmethod
    def _post_ephemeral(
        client: WebClient, channel: str, user: str, thread: str | None, payload: dict[str, Any]
    ) -> str | None:
        """Post a message only `user` sees (in `thread`); None once posted, else Slack's error, logged."""
        try:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread, **payload)
            return None
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        except OSError as exc:
            error = f"Slack unreachable: {type(exc).__name__}"
        log.warning("chat.postEphemeral to %s failed: %s", channel, error)
        return error

    @staticmethod
    def _respond(url: str | None, payload: dict[str, Any], replace_original: bool = False) -> bool:
        """Send an ephemeral reply to a response_url, with the same retries as the Web API client;
        False (and a log line) when it finally cannot be delivered."""
        if not url:
            log.warning("no response_url to reply to")
            return False
        client = WebhookClient(url, timeout=RESPONSE_URL_TIMEOUT_S, retry_handlers=retry_handlers())
        message = {"response_type": "ephemeral", "replace_original": replace_original, **payload}
        try:
            response = client.send_dict(message)
        except OSError as exc:
            log.warning("response_url unreachable: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("response_url refused the reply: HTTP %s %s", response.status_code, response.body[:200])
            return False
        return True

    @staticmethod
    def _react(client: WebClient, method: str, channel: str, ts: str, name: str) -> None:
        try:
            getattr(client, method)(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:  # e.g. missing reactions:write scope: not worth failing for
            log.warning("%s %s failed: %s", method, name, exc.response.get("error"))
        except OSError as exc:
            log.warning("%s %s failed: %s", method, name, type(exc).__name__)


def _button_value(body: dict[str, Any]) -> str | None:
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    return value if isinstance(value, str) else None


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
        except OSError as exc:
            log.warning("announcement failed: %s", type(exc).__name__)

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
    replays = Replays()

    @app.use
    def refuse_replays(request: BoltRequest, next_: Callable[[], None]) -> BoltResponse | None:
        """A signed HTTP request seen before (same signature) is acknowledged and not run again."""
        signature = (request.headers.get("x-slack-signature") or [None])[0]
        if signature and not replays.first_time(signature):
            log.warning("ignored a replayed request (its signature was already used)")
            return BoltResponse(status=200, body="")
        next_()
        return None

    app.event("app_mention")(listeners.on_mention)
    app.event("message")(listeners.on_message)
    app.command("/brief")(listeners.on_command)
    app.event("app_home_opened")(listeners.on_home_opened)
    app.shortcut(ASK_SHORTCUT)(listeners.on_message_shortcut)
    app.action(kit.SHARE_ACTION)(listeners.on_share)
    app.action(kit.MORE_ACTION)(listeners.on_more)
    app.action(re.compile(f"^{kit.RATE_ACTION}({'|'.join(VERDICTS)})$"))(listeners.on_source_mark)
    app.action(re.compile(f"^({kit.FEEDBACK_UP}|{kit.FEEDBACK_DOWN})$"))(listeners.on_feedback)
    return app


def socket_mode_handler(app: App, settings: Settings) -> SocketModeHandler:
    """The Socket Mode connection for `app` (call `.start()` to block, `.connect()` not to)."""
    return SocketModeHandler(app, settings.slack_app_token)


def retry_handlers() -> list[RetryHandler]:
    """slack_sdk's retries for rate limits (honouring Retry-After), connection errors and 500/503."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
        ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
    ]


def web_client(settings: Settings) -> WebClient:
    """A Slack Web API client with the bot token and retries, at SLACK_API_URL when set."""
    return WebClient(
        token=settings.slack_bot_token, base_url=_api_url(settings.slack_api_url), retry_handlers=retry_handlers()
    )


def _api_url(url: str | None) -> str:
    url = url or "https://slack.com/api/"
    return url if url.endswith("/") else url + "/"


class Refused(Exception):
    """An HTTP request turned away before the app sees it: its status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


SINGLE_HEADERS = ("Content-Length", "X-Slack-Request-Timestamp", "X-Slack-Signature", "Content-Type")
OBJECT_FIELDS = ("event", "team", "user", "channel", "enterprise", "container", "message", "view", "state")
LIST_FIELDS = ("authorizations", "actions")
TEXT_FIELDS = ("type", "token", "team_id", "user_id", "channel_id", "command", "text", "response_url", "trigger_id")


def slack_shaped(body: Any) -> bool:
    """Whether a parsed body has the shape of a Slack request (objects, lists and strings where
    Slack puts them), so that a signed but malformed body gets 400 rather than a crash."""
    if not isinstance(body, dict):
        return False
    if any(body.get(k) is not None and not isinstance(body[k], dict) for k in OBJECT_FIELDS):
        return False
    if any(body.get(k) is not None and not isinstance(body[k], str) for k in TEXT_FIELDS):
        return False
    for key in LIST_FIELDS:
        items = body.get(key)
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            return False
    event = body.get("event")
    return event is None or all(event.get(k) is None or isinstance(event[k], str) for k in ("type", "channel", "ts"))


def http_server(
    app: App, host: str, port: int, read_timeout: float = READ_TIMEOUT_S, max_body: int = MAX_BODY_BYTES
) -> ThreadingHTTPServer:
    """A threaded HTTP server that hands Slack's signed requests at /slack/events to the app.

    Bodies over `max_body` bytes get 413, requests not received within `read_timeout` seconds
    408 (or a closed connection while headers are still arriving), malformed ones 400.
    """

    class Handler(BaseHTTPRequestHandler):
        timeout = read_timeout  # set on the socket: every read of headers or body is bounded

        def do_GET(self) -> None:
            self._send(200 if self.path == "/healthz" else 404, "ok" if self.path == "/healthz" else "")

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            if path != EVENTS_PATH:
                self._send(404, "")
                return
            try:
                request = self._request(query)
            except Refused as refused:
                log.info("refused a request: %s", refused)
                self.close_connection = True
                self._send(refused.status, {"error": str(refused)})
                return
            response = app.dispatch(request)
            self._send(response.status, response.body, response.headers)

        def _request(self, query: str) -> BoltRequest:
            for name in SINGLE_HEADERS:
                if len(self.headers.get_all(name) or []) > 1:
                    raise Refused(400, f"{name} sent more than once")
            if self.headers.get("Transfer-Encoding"):
                raise Refused(411, "send the body with a Content-Length, not chunked")
            declared = self.headers.get("Content-Length")
            if declared is None:
                raise Refused(411, "Content-Length is required")
            if not re.fullmatch(r"[0-9]{1,12}", declared.strip()):
                raise Refused(400, "Content-Length is not a number")
            length = int(declared)
            if length > max_body:
                raise Refused(413, f"body over {max_body:,} bytes")
            try:
                raw = self.rfile.read(length)
            except TimeoutError:
                raise Refused(408, f"body not received within {read_timeout:g} s") from None
            if len(raw) < length:
                raise Refused(400, "body shorter than its Content-Length")
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(400, "body is not UTF-8") from None
            timestamp = self.headers.get("X-Slack-Request-Timestamp")
            if timestamp is not None and not re.fullmatch(r"[0-9]{1,12}", timestamp):
                raise Refused(400, "X-Slack-Request-Timestamp is not a Unix time")
            try:
                request = BoltRequest(body=body, query=query, headers=dict(self.headers.items()))
            except (ValueError, TypeError, AttributeError, KeyError, IndexError):
                raise Refused(400, "body is not a Slack request") from None
            if not slack_shaped(request.body):
                raise Refused(400, "body is not a Slack request")
            return request

        def _send(self, status: int, body: Any, headers: dict[str, Any] | None = None) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
            try:
                self.send_response(status)
                for key, values in (headers or {}).items():
                    for value in values if isinstance(values, list | tuple) else [values]:
                        if key.lower() != "content-length":
                            self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError as exc:  # the client went away (or timed out) before the answer
                log.info("could not answer an HTTP request: %s", type(exc).__name__)
                self.close_connection = True

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


def warm(brief: Brief) -> None:
    """Load the model and the index before the first question; a failure is logged (and the
    first question reports it again)."""
    try:
        steps = warm_up(brief)
    except BriefError as exc:
        log.warning("could not load the model and the index: %s", exc)
        return
    log.info("model and index loaded in %.1f s", steps["model + index"])


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
    interrupt_on_sigterm()  # docker stop / systemd: stop like Ctrl-C, watcher threads included
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    try:
        settings = Settings.from_env()
        brief = Brief(settings)
        prepare(brief, sys.stdout)
    except BriefError as exc:
        print(f"brief: {exc}", file=sys.stderr)
        return exc.exit_code
    # The model and the index load while Slack connects; a question that comes first waits for them.
    warming = threading.Thread(target=warm, args=(brief,), name="brief-warm-up", daemon=True)
    warming.start()
    mode = "console" if args.console else settings.slack_mode
    client = web_client(settings)
    updater = Updater(brief, announcer(settings, client) if mode != "console" else None)
    updater.start()  # new articles reach the answers without a restart
    if mode == "console":
        code = console(brief)
        # Input that ends at once (a question piped in) must not cut the warm-up off mid-question:
        # the interpreter would tear it down as it exits.
        warming.join(timeout=60)
        return code
    app = create_app(settings, brief, updater=updater)
    if mode == "socket":
        log.info("connecting to Slack by Socket Mode")
        try:
            socket_mode_handler(app, settings).start()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            updater.stop()
        return 0
    server = http_server(app, settings.host, settings.port)
    log.info("listening for Slack on http://%s:%d%s", settings.host, settings.port, EVENTS_PATH)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.server_close()
        updater.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
