"""Hostile and unlucky Slack traffic: rate limits and outages, long non-ASCII questions, stale
buttons, bidi tricks in articles, tokens in tracebacks, and malformed, oversized, slow or replayed
HTTP requests.

The app is the real Bolt app from `create_app` in HTTP mode; requests are signed exactly as
Slack signs them. Slack's Web API and response_urls are the recording stand-in of slack_fake.py
(the one fake: Slack cannot run here), which can answer 429 with Retry-After: 0, 503, or drop
the connection for the next calls of a method.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot import RATE_LIMIT_RETRIES, RedactTokens
from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.slack import blocks as kit
from retrieval.slack.feedback import FeedbackStore
from tests.slack_fake import BOT_USER, post, sign
from tests.test_bot import SECRET, Harness, dm, mention, start, start_with_article

ROOT = Path(__file__).resolve().parent.parent
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.fixture
def slack(seed_brief: Brief) -> Iterator[Harness]:
    yield from start(seed_brief.settings, seed_brief)


@pytest.fixture
def impatient(seed_brief: Brief) -> Iterator[Harness]:
    """The app with a 1-second read timeout."""
    yield from start(seed_brief.settings, seed_brief, read_timeout=1.0)


def buttons(payload: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]}


def reactions(slack: Harness) -> list[tuple[str, str]]:
    return [(m, d["name"]) for m, d in slack.fake.calls if m.startswith("reactions.")]


def raw_request(url: str, data: bytes, wait: float = 15) -> bytes:
    """Send raw bytes to the app's port; the status line it answers ("" if it just closes)."""
    port = urllib.parse.urlsplit(url).port
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(data)
        try:
            return conn.recv(4096).split(b"\r\n")[0]
        except ConnectionResetError:
            return b""


# --- rate limits and outages ---------------------------------------------------------------------
def test_rate_limited_answer_is_retried_after_retry_after(slack: Harness) -> None:
    slack.fake.refuse("chat.postMessage", 2)  # 429, Retry-After: 0
    slack.send.event(mention(f"<@{BOT_USER}> when did Biden first strike Syria?", ts="10.1"))
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert "US military has carried out an air strike" in post["text"]
    assert slack.fake.refused == [("chat.postMessage", 429)] * 2
    slack.fake.wait_for("reactions.remove")
    assert ("reactions.add", "x") not in reactions(slack)


def test_server_errors_and_dropped_connections_are_retried(slack: Harness) -> None:
    slack.fake.refuse("chat.postMessage", 1, status=503)
    slack.fake.refuse("chat.postMessage", 1, status=0)  # connection closed with no answer
    slack.send.event(dm("Where was Biden when he said the US does not seek conflict with Iran?", ts="10.2"))
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert "Ottawa" in post["text"]
    assert [status for _, status in slack.fake.refused] == [503, 0]


def test_answer_that_cannot_be_posted_gets_x_and_a_note(slack: Harness) -> None:
    slack.fake.refuse("chat.postMessage", RATE_LIMIT_RETRIES + 1)  # every try of the answer
    slack.send.event(mention(f"<@{BOT_USER}> when did Biden first strike Syria?", ts="10.3"))
    (note,) = slack.fake.wait_for("chat.postMessage")  # the short note after the answer failed
    assert "Slack would not take it (ratelimited)" in note["text"] and note["thread_ts"] == "10.3"
    slack.fake.wait_for("reactions.add", 2)
    assert reactions(slack) == [("reactions.add", "eyes"), ("reactions.remove", "eyes"), ("reactions.add", "x")]
    assert len(slack.fake.refused) == RATE_LIMIT_RETRIES + 1


def test_slash_answer_survives_a_rate_limited_response_url(slack: Harness) -> None:
    slack.fake.refuse("response_url", 2)
    status, _, _ = slack.send.command("when did Biden first strike Syria?")
    assert status == 200
    (answer,) = slack.fake.wait_for("response_url")
    assert "US military has carried out an air strike" in json.dumps(answer["blocks"])
    assert slack.fake.refused == [("response_url", 429)] * 2


# --- buttons -------------------------------------------------------------------------------------
LONG_QUESTION = ("Когда Байден впервые нанёс удар по Сирии? 拜登何时首次打击叙利亚？ " * 40)[:990].strip()


def test_long_non_ascii_question_keeps_share_and_feedback_working(slack: Harness, seed_brief: Brief) -> None:
    slack.send.command(LONG_QUESTION)
    (answer,) = slack.fake.wait_for("response_url")
    found = buttons(answer)
    marks = {kit.RATE_ACTION + verdict for verdict, _ in kit.RATINGS}
    assert set(found) == {kit.SHARE_ACTION, kit.FEEDBACK_UP, kit.FEEDBACK_DOWN} | marks
    assert all(len(b["value"]) <= 32 for b in found.values())  # an id (and a source number), not the question

    slack.send.click(kit.SHARE_ACTION, found[kit.SHARE_ACTION]["value"])
    (shared,) = slack.fake.wait_for("chat.postMessage")
    assert LONG_QUESTION in json.dumps(shared["blocks"], ensure_ascii=False)

    slack.send.click(kit.FEEDBACK_UP, found[kit.FEEDBACK_UP]["value"])
    slack.fake.wait_for("response_url", 3)  # the answer, "Shared in the channel", the thanks
    vote = FeedbackStore(seed_brief.settings.index_dir).all()[-1]
    assert vote["question"] == LONG_QUESTION and vote["vote"] == 1
    assert vote["answer_id"] == found[kit.FEEDBACK_UP]["value"]


@pytest.mark.parametrize("value", ['{"q": "Когда Байден впервые', "", "no-such-answer-id", "x" * 5000])
def test_unknown_or_garbled_button_values_get_a_clear_reply(
    slack: Harness, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    actions = (kit.SHARE_ACTION, kit.FEEDBACK_DOWN, kit.MORE_ACTION, kit.RATE_ACTION + "wrong")
    for action in actions:
        status, _, _ = slack.send.click(action, value)
        assert status == 200
    replies = slack.fake.wait_for("response_url", len(actions))
    assert all("no longer stored" in r["text"] and "/brief" in r["text"] for r in replies)
    assert not slack.fake.of("chat.postMessage")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_share_posts_the_reply_the_user_saw(slack: Harness, seed_brief: Brief, monkeypatch) -> None:
    slack.send.command("when did Biden first strike Syria?")
    (seen,) = slack.fake.wait_for("response_url")
    real_ask = seed_brief.ask
    # Between the answer and the click the corpus moves on: asking again would answer differently.
    monkeypatch.setattr(seed_brief, "ask", lambda *a, **k: real_ask("How many US soldiers died in the Jordan attack?"))
    slack.send.click(kit.SHARE_ACTION, buttons(seen)[kit.SHARE_ACTION]["value"])
    (shared,) = slack.fake.wait_for("chat.postMessage")
    assert shared["blocks"][0]["elements"][0]["text"] == "Shared by <@U0USER>"
    seen_without_share = [
        {**b, "elements": [e for e in b["elements"] if e["action_id"] != kit.SHARE_ACTION]}
        if b["type"] == "actions"
        else b
        for b in seen["blocks"]
    ]
    assert shared["blocks"][1:] == seen_without_share
    assert shared["text"] == seen["text"] and "US military has carried out an air strike" in shared["text"]


# --- article text and logs -----------------------------------------------------------------------
BIDI_ARTICLE = """---
title: "Dam \u202eepoleved\u202c reopens"
outlet: "Springfield \u2067Gazette\u2069"
url: "https://news.example/dam\u202e/txt.exe"
published: 2024-03-01
---
Officials said the \u202edam\u202c reservoir would reopen on Monday after repairs, the \u200fcity\u200e council said.

The reservoir \u2066holds\u2069 water for the \u061ctown and its farms, officials added.
"""


@pytest.fixture
def bidi(tmp_path: Path, settings_base: Settings, embedder: Embedder) -> Iterator[Harness]:
    yield from start_with_article(tmp_path, settings_base, embedder, "dam.md", BIDI_ARTICLE)


def test_bidi_controls_from_articles_and_questions_never_reach_slack(bidi: Harness) -> None:
    bidi.send.event(mention(f"<@{BOT_USER}> when will the \u202edam\u202c reopen?", ts="11.1"))
    (post,) = bidi.fake.wait_for("chat.postMessage")
    payload = json.dumps({"text": post["text"], "blocks": post["blocks"]}, ensure_ascii=False)
    assert "reservoir" in payload and "Gazette" in payload
    assert not any(ch in payload for ch in BIDI)
    assert "https://news.example/dam" not in payload  # a URL with a bidi control is not linked
    _, body, _ = bidi.send.command("when will the \u202edam\u202c reopen?")
    assert json.loads(body)["text"] == "Looking for: when will the dam reopen?"
    (answer,) = bidi.fake.wait_for("response_url")
    assert not any(ch in json.dumps(answer, ensure_ascii=False) for ch in BIDI)


TOKENS = [
    "xoxb-1234-5678-abcdEFGH", "xoxp-1-2-3-abcdef", "xapp-1-A0001-123-abcdef", "xoxe.xoxp-1-Mi0yLTE0",
    "xoxe-1-My0xLTIzNA", "xoxa-2-abcdef", "xoxr-abcdef", "xoxs-abcdef", "xoxc-1-abcdef", "xoxd-abc%2Bdef",
]  # fmt: skip


def test_log_redaction_covers_every_token_prefix_and_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactTokens())
    logger = logging.getLogger("brief.test-redaction")
    logger.addHandler(handler)
    try:
        logger.warning("configured with %s", ", ".join(TOKENS))
        try:
            raise RuntimeError(f"Slack said invalid_auth for token {' '.join(TOKENS)}")
        except RuntimeError:
            logger.exception("posting failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "Traceback" in text and "RuntimeError: Slack said invalid_auth" in text
    assert text.count("[redacted]") == 2 * len(TOKENS)
    for token in TOKENS:
        assert token not in text and token[5:] not in text, token


def test_manifest_asks_only_for_scopes_the_code_uses() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # app_mention and message.im events, chat.postMessage, /brief, reactions.add/remove; thread
    # follow-ups: message.channels and message.groups (channels:history, groups:history); timeline
    # pictures: files.getUploadURLExternal / completeUploadExternal (files:write)
    assert scopes == {"app_mentions:read", "im:history", "chat:write", "commands", "reactions:write",
                      "channels:history", "groups:history", "files:write"}  # fmt: skip
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.im", "message.channels", "message.groups", "app_home_opened"}
    (shortcut,) = manifest["features"]["shortcuts"]
    assert shortcut["callback_id"] == "brief_ask_message" and manifest["features"]["app_home"]["home_tab_enabled"]
    code = (ROOT / "bot.py").read_text(encoding="utf-8")
    assert "conversations_open" not in code and "conversations_list" not in code  # what im:* would be for


# --- HTTP mode -----------------------------------------------------------------------------------
def test_oversized_body_is_refused_without_reading_it(slack: Harness) -> None:
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    )
    assert raw_request(slack.send.app_url, head + b"{" * 1000).startswith(b"HTTP/1.0 413")


def test_slow_requests_are_cut_off(impatient: Harness) -> None:
    body = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    assert raw_request(impatient.send.app_url, body).startswith(b"HTTP/1.0 408")  # body never completes
    assert raw_request(impatient.send.app_url, b"POST /slack/events HTTP/1.1\r\nHost:") == b""  # headers never end


def malformed_requests() -> list[tuple[str, bytes]]:
    def signed(body: str, content_type: str, extra: str = "") -> bytes:
        headers = "".join(f"{k}: {v}\r\n" for k, v in sign(SECRET, body).items())
        return (
            f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n{headers}{extra}"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        ).encode()

    form = "application/x-www-form-urlencoded"
    event = {"type": "event_callback", "team_id": "T0001", "event_id": "EvBAD"}
    click = {"type": "block_actions", "user": {"id": "U0USER"}, "team": {"id": "T0001"}}
    return [
        ("JSON that is not JSON", signed("not json", "application/json")),
        ("a JSON list", signed("[1, 2]", "application/json")),
        ("a payload that is not JSON", signed("payload=%7Bnot", form)),
        ("a payload that is a list", signed("payload=%5B1%5D", form)),
        ("an event that is a string", signed(json.dumps({**event, "event": "x"}), "application/json")),
        ("an event with a numeric type", signed(json.dumps({**event, "event": {"type": 5}}), "application/json")),
        ("actions that are a string", signed("payload=" + urllib.parse.quote(json.dumps({**click, "actions": "x"})), form)),
        ("a user that is a string", signed("payload=" + urllib.parse.quote(json.dumps({**click, "user": "U0"})), form)),
        ("a timestamp that is not a number", signed("{}", "application/json").replace(
            b"X-Slack-Request-Timestamp: ", b"X-Slack-Request-Timestamp: abc")),
        ("two signatures", signed("{}", "application/json", "X-Slack-Signature: v0=00\r\n")),
        ("a body that is not UTF-8", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: 2\r\n\r\n\xff\xfe"),
        ("a Content-Length that is not a number", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        ("a negative Content-Length", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        ("a chunked body", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
        ("no Content-Length", b"POST /slack/events HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]  # fmt: skip


def test_malformed_requests_get_4xx_and_no_traceback(
    slack: Harness, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    for why, data in malformed_requests():
        status = raw_request(slack.send.app_url, data)
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", status), (why, status)
    slack.send.event(dm("When did Biden first strike Syria?", ts="12.1"))  # still answering
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert "US military" in post["text"]
    assert "Traceback" not in capsys.readouterr().err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_replayed_slash_command_runs_once(slack: Harness) -> None:
    body = urllib.parse.urlencode({
        "team_id": "T0001", "channel_id": "C0GENERAL", "user_id": "U0USER", "command": "/brief",
        "text": "when did Biden first strike Syria?", "response_url": f"{slack.fake.url}/commands/replayed",
    })  # fmt: skip
    headers = sign(SECRET, body)
    first = post(slack.send.app_url, body, "application/x-www-form-urlencoded", headers)
    again = post(slack.send.app_url, body, "application/x-www-form-urlencoded", headers)  # captured and resent
    assert first[0] == 200 and json.loads(first[1])["text"].startswith("Looking for:")
    assert again[0] == 200 and again[1] == ""  # acknowledged, not run
    slack.send.command("How many US soldiers died in the Jordan attack?")  # a marker after the replay
    answers = slack.fake.wait_for("response_url", 2)
    assert sorted(a["_path"] for a in answers) == ["/commands/1", "/commands/replayed"]
