"""The Slack app, in HTTP mode, against a stand-in Web API on 127.0.0.1 (see slack_fake.py).

Requests are signed as Slack signs them; the app is the real Bolt app from `create_app`.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import Listeners, console, create_app, http_server, prepare, question_from_slack
from retrieval import Brief, Settings
from retrieval.brief import Citation, Result
from retrieval.embeddings import Embedder
from retrieval.index.ingest import ingest
from retrieval.slack import blocks as kit
from retrieval.slack.feedback import FeedbackStore
from tests.slack_fake import BOT_ID, BOT_USER, FakeSlack, SlackSender

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"


class Harness:
    def __init__(self, fake: FakeSlack, sender: SlackSender, listeners: Listeners) -> None:
        self.fake, self.send, self.listeners = fake, sender, listeners


def start(settings: Settings, brief: Brief, read_timeout: float | None = None) -> Iterator[Harness]:
    with FakeSlack() as fake:
        settings = settings.with_(
            slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=f"{fake.url}/api/",
            admin_users=frozenset({"U0ADMIN"}),
        )  # fmt: skip
        listeners = Listeners(settings, brief)
        app = create_app(settings, brief, listeners)
        options = {} if read_timeout is None else {"read_timeout": read_timeout}
        server = http_server(app, "127.0.0.1", 0, **options)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
        try:
            yield Harness(fake, SlackSender(url, SECRET, fake), listeners)
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def slack(seed_brief: Brief) -> Iterator[Harness]:
    yield from start(seed_brief.settings, seed_brief)


def mention(text: str, ts: str = "1700000000.000100", channel: str = "C0GENERAL", **extra: str) -> dict:
    return {"type": "app_mention", "user": "U0USER", "text": text, "ts": ts, "channel": channel, **extra}


def dm(text: str, ts: str = "1700000001.000100", **extra: str) -> dict:
    return {
        "type": "message",
        "channel_type": "im",
        "user": "U0USER",
        "text": text,
        "ts": ts,
        "channel": "D0DM",
        **extra,
    }


def all_text(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_mention_gets_one_threaded_reply_with_citations(slack: Harness) -> None:
    status, _, _ = slack.send.event(mention(f"<@{BOT_USER}> when did Biden first strike Syria?"))
    assert status == 200
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert post["channel"] == "C0GENERAL" and post["thread_ts"] == "1700000000.000100"
    assert post["text"].startswith("Answer: Friday 26 February 2021: The US military has carried out an air strike")
    sections = [b["text"]["text"] for b in post["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("*Answer:*") and sections[0].endswith("[1]")
    assert sections[1].startswith("*[1]* BBC News") and "2021-02-26" in sections[1]
    assert "*The US military has carried out an air strike" in sections[1]  # the answering sentence is bold
    assert [s[:5] for s in sections[1:]] == [f"*[{i}]*" for i in range(1, len(sections))]
    assert post["unfurl_links"] is False and post["unfurl_media"] is False and "link_names" not in post
    assert post["_auth"] == f"Bearer {TOKEN}"
    slack.fake.wait_for("reactions.remove")
    reactions = [(m, d["name"]) for m, d in slack.fake.calls if m.startswith("reactions.")]
    assert reactions == [("reactions.add", "eyes"), ("reactions.remove", "eyes")]


def test_mention_inside_a_thread_answers_in_that_thread(slack: Harness) -> None:
    slack.send.event(
        mention(f"<@{BOT_USER}> how many targets were struck?", ts="1700000100.2", thread_ts="1700000050.1")
    )
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert post["thread_ts"] == "1700000050.1"


def test_direct_message_is_answered_directly(slack: Harness) -> None:
    slack.send.event(dm("Where was Biden when he said the US does not seek conflict with Iran?"))
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert post["channel"] == "D0DM" and "thread_ts" not in post
    assert "Ottawa" in post["text"]


def test_retried_and_doubled_events_get_one_reply(slack: Harness) -> None:
    event = mention(f"<@{BOT_USER}> which town did F-16s hit in October 2023?", ts="1700000200.1")
    # Slack redelivers after its 3-second timeout, signed afresh (a later timestamp).
    slack.send.event(event, event_id="EvSAME", timestamp=int(time.time()) - 5)
    slack.send.event(event, event_id="EvSAME", retry=1)
    slack.send.event({**event, "type": "message", "channel_type": "channel"}, event_id="EvOTHER")  # same message
    assert slack.listeners.wait_handled(3, timeout=60)
    assert len(slack.fake.of("chat.postMessage")) == 1


def test_bot_messages_edits_and_deletions_get_no_reply(slack: Harness) -> None:
    slack.send.event(dm("an answer I posted", user=BOT_USER, bot_id=BOT_ID, ts="1.1"))
    slack.send.event(dm("edited", subtype="message_changed", ts="1.2"))
    slack.send.event(dm("gone", subtype="message_deleted", ts="1.3"))
    slack.send.event(dm("When did Biden first strike Syria?", ts="1.4"))  # a marker that must be answered
    slack.fake.wait_for("chat.postMessage")
    assert slack.listeners.wait_handled(3, timeout=60)
    assert [p["channel"] for p in slack.fake.of("chat.postMessage")] == ["D0DM"]
    assert "US military" in slack.fake.of("chat.postMessage")[0]["text"]


@pytest.mark.parametrize(("headers", "why"), [("forged", "bad signature"), ("stale", "timestamp 6 minutes old")])
def test_unsigned_or_stale_requests_are_refused(slack: Harness, headers: str, why: str) -> None:
    event = mention(f"<@{BOT_USER}> when did Biden first strike Syria?")
    if headers == "forged":
        status, _, _ = slack.send.event(event, secret="not-the-secret")
    else:
        status, _, _ = slack.send.event(event, timestamp=int(time.time()) - 360)
    assert status == 401, why
    slack.send.event(dm("When did Biden first strike Syria?", ts="2.1"))  # a signed marker
    slack.fake.wait_for("chat.postMessage")
    assert [p["channel"] for p in slack.fake.of("chat.postMessage")] == ["D0DM"]


def test_slash_command_acks_fast_then_answers_privately(slack: Harness, seed_brief: Brief, monkeypatch) -> None:
    release = threading.Event()
    real_ask = seed_brief.ask

    def held_ask(*args, **kwargs):  # the answer waits until the ack has been seen by "Slack"
        assert release.wait(60)
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(seed_brief, "ask", held_ask)
    status, body, seconds = slack.send.command("when did Biden first strike Syria?")
    release.set()
    assert status == 200 and seconds < 3
    assert json.loads(body)["text"] == "Looking for: when did Biden first strike Syria?"
    (answer,) = slack.fake.wait_for("response_url")
    assert answer["response_type"] == "ephemeral"
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    assert sections[0] == "*Question:* when did Biden first strike Syria?"
    assert "US military has carried out an air strike" in sections[1]
    buttons = [e for b in answer["blocks"] if b.get("block_id") == "brief_actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [kit.SHARE_ACTION, kit.FEEDBACK_UP, kit.FEEDBACK_DOWN]
    assert not slack.fake.of("chat.postMessage")  # nothing visible to the channel yet

    slack.send.click(kit.SHARE_ACTION, buttons[0]["value"])
    (shared,) = slack.fake.wait_for("chat.postMessage")
    assert shared["channel"] == "C0GENERAL" and "US military has carried out" in shared["text"]
    assert "Shared by <@U0USER>" in all_text(shared["blocks"][0])
    assert not any(e["action_id"] == kit.SHARE_ACTION for b in shared["blocks"] if b["type"] == "actions"
                   for e in b["elements"])  # fmt: skip


def test_feedback_is_stored_and_acknowledged(slack: Harness, seed_brief: Brief) -> None:
    before = len(FeedbackStore(seed_brief.settings.index_dir).all())
    slack.send.event(dm("How many US soldiers died in the Jordan attack?", ts="3.1"))
    (post,) = slack.fake.wait_for("chat.postMessage")
    buttons = {e["action_id"]: e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]}
    slack.send.click(kit.FEEDBACK_DOWN, buttons[kit.FEEDBACK_DOWN]["value"], channel="D0DM")
    (thanks,) = slack.fake.wait_for("response_url")
    assert thanks["response_type"] == "ephemeral" and "not helpful" in thanks["text"]
    votes = FeedbackStore(seed_brief.settings.index_dir).all()
    assert len(votes) == before + 1
    vote = votes[-1]
    assert (vote["user"], vote["vote"], vote["channel"]) == ("U0USER", -1, "D0DM")
    assert vote["question"] == "How many US soldiers died in the Jordan attack?"
    assert vote["passages"] and all(":" in p for p in vote["passages"])


def test_help_stats_and_reindex_permissions(slack: Harness) -> None:
    for text in ("", "help"):
        _, body, _ = slack.send.command(text)
        assert "/brief <question>" in json.loads(body)["text"]
    _, body, _ = slack.send.command("stats")
    assert "*Corpus:* 5 articles" in json.loads(body)["text"]
    _, body, _ = slack.send.command("reindex", user="U0SOMEONE")
    assert "only Brief's admins can reindex" in json.loads(body)["text"]
    assert not slack.fake.of("response_url")
    _, body, _ = slack.send.command("reindex", user="U0ADMIN")
    assert "Reindexing" in json.loads(body)["text"]
    (report,) = slack.fake.wait_for("response_url")
    assert "files seen: 5" in report["text"] and "unchanged: 5" in report["text"]


HOSTILE = """Alert to <!channel> and <!here> and <!everyone>: ping <@U0123> and @here now

Officials in <Springfield> said the <!channel> dam & reservoir would reopen on Monday, pinging @channel and <@U0123> in a statement about the dam.
"""


def start_with_article(
    tmp_path: Path, settings_base: Settings, embedder: Embedder, name: str, text: str
) -> Iterator[Harness]:
    """The app over an index of one article file `name` holding `text`."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    settings = settings_base.with_(index_dir=tmp_path / "index")
    ingest([folder], settings, embedder=embedder)
    yield from start(settings, Brief(settings, embedder))


@pytest.fixture
def hostile(tmp_path: Path, settings_base: Settings, embedder: Embedder) -> Iterator[Harness]:
    yield from start_with_article(tmp_path, settings_base, embedder, "dam.txt", HOSTILE)


def test_hostile_article_notifies_nobody(hostile: Harness) -> None:
    hostile.send.event(mention(f"<@{BOT_USER}> <!channel> when will the <b>dam</b> reopen?"))
    (post,) = hostile.fake.wait_for("chat.postMessage")
    payload = all_text({"text": post["text"], "blocks": post["blocks"]})
    assert "dam" in payload and "reopen" in payload
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U0123>", "<Springfield>", "@here", "@channel"):
        assert raw not in payload, raw
    assert "&lt;!channel&gt;" in payload and "&lt;@U0123&gt;" in payload and "&amp;" in payload
    assert "link_names" not in post and post.get("parse") in (None, "none")


def test_question_markup_is_unwrapped() -> None:
    assert question_from_slack("<@UBOT> what about <https://x.example/a|this story> &amp; <#C1|general>?") == (
        "what about this story & ?"
    )


def test_long_passages_stay_within_block_kit_limits() -> None:
    huge = "word " * 5000
    citations = [
        Citation(n=i, doc_id=f"d{i}", title="T" * 400, outlet="O" * 300, published="2024-01-01",
                 url="https://x.example/" + "p" * 3000, path="x.txt", paragraph=1, text=huge, score=0.1,
                 answer_span=(0, len(huge)) if i == 1 else None)
        for i in range(1, 61)
    ]  # fmt: skip
    from retrieval.brief import Answer

    result = Result("q" * 1000, Answer(huge, 1), citations, searched=10**6, version="v000001")
    payload = kit.reply(result, show_question=True, share=True, answer_id="abcdefghijkl")
    assert len(payload["blocks"]) <= 50 and len(payload["text"]) <= 3000
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75 and element["value"].split(":")[0] == "abcdefghijkl"
            else:
                assert len(element["text"]) <= 3000


def test_one_source_per_article() -> None:
    def cite(n: int, doc: str) -> Citation:
        return Citation(n, doc, "Title", "Outlet", None, None, "a.txt", n, f"text {n}", 0.1)

    result = Result("q", kit_answer := None, [cite(1, "a"), cite(2, "b"), cite(3, "a"), cite(4, "c")])
    assert kit_answer is None
    chosen, renumber = kit.sources(result)
    assert [[c.n for c in group] for group in chosen] == [[1, 3], [2], [4]]
    assert renumber == {1: 1, 2: 2, 3: 1, 4: 3}
    assert "undated" in kit.reply(result)["blocks"][1]["text"]["text"]


# --- console (what `make run` starts without Slack credentials) ----------------------------------
def test_console_builds_the_index_and_answers(settings: Settings, embedder: Embedder) -> None:
    brief = Brief(settings, embedder)
    out = io.StringIO()
    prepare(brief, out)
    assert "articles added: 5" in out.getvalue()
    assert "Brief is ready: 5 articles" in out.getvalue()
    code = console(brief, io.StringIO("when did Biden first strike Syria?\n\n" + "z" * 1200 + "\n"), out)
    assert code == 0
    text = out.getvalue()
    assert "Answer: Friday 26 February 2021: The US military has carried out an air strike" in text
    assert "Sorry: the question is 1,200 characters long" in text
    assert "Slack is not connected" in text


@pytest.fixture
def allow_listed(seed_brief: Brief) -> Iterator[Harness]:
    yield from start(seed_brief.settings.with_(channels=frozenset({"C0BRIEF"})), seed_brief)


def test_outside_the_allowed_channels_it_says_where_once(allow_listed: Harness) -> None:
    for ts in ("5.1", "5.2"):
        allow_listed.send.event(mention(f"<@{BOT_USER}> when did Biden first strike Syria?", ts=ts))
    assert allow_listed.listeners.wait_handled(2, timeout=60)
    (notice,) = allow_listed.fake.of("chat.postMessage")
    assert notice["text"] == "I answer questions in <#C0BRIEF> and in direct messages."
    allow_listed.send.event(mention(f"<@{BOT_USER}> when did Biden first strike Syria?", channel="C0BRIEF", ts="5.3"))
    replies = allow_listed.fake.wait_for("chat.postMessage", 2)
    assert replies[1]["channel"] == "C0BRIEF" and "US military" in replies[1]["text"]
    _, body, _ = allow_listed.send.command("when did Biden first strike Syria?", channel="C0ELSEWHERE")
    assert "I answer questions in <#C0BRIEF>" in json.loads(body)["text"]
