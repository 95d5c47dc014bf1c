"""The briefing desk (issue 11): thread follow-ups, the Home tab and shortcut, per-channel settings,
per-source feedback and timeline pictures, against the Slack stand-in with signed requests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from retrieval import Brief
from retrieval.answer import followup
from retrieval.slack import blocks as kit
from tests.slack_fake import BOT_USER
from tests.test_bot import Harness, all_text, mention, start

FIRST = "when did the US first strike Syria under Biden?"


@pytest.fixture
def slack(seed_brief: Brief) -> Iterator[Harness]:
    yield from start(seed_brief.settings, seed_brief)


def reply_in_thread(text: str, thread_ts: str, ts: str, channel: str = "C0NEWS") -> dict:
    """A plain message (no @mention) posted in a channel thread, as Slack's message.channels sends it."""
    return {"type": "message", "channel_type": "channel", "user": "U0USER", "text": text, "ts": ts,
            "thread_ts": thread_ts, "channel": channel}  # fmt: skip


def sections(post: dict) -> list[str]:
    return [b["text"]["text"] for b in post["blocks"] if b["type"] == "section"]


def assert_within_limits(payload: dict) -> None:
    """Slack's Block Kit limits: 50 blocks, 3,000 characters a text, 75 a button label."""
    blocks = payload.get("blocks", [])
    assert len(blocks) <= 50
    for block in blocks:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75 and len(element["value"]) <= 2000
            elif "text" in element:
                assert len(element["text"]) <= 3000


# --- follow-ups, without Slack ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("previous", "reply", "expected"),
    [
        (FIRST, "and the last time?", "when did the US last strike Syria under Biden?"),
        (FIRST, "The latest?", "when did the US last strike Syria under Biden?"),
        ("when was the earliest raid on the dam?", "and the most recent one?", "when was the last raid on the dam?"),
        ("when did the council vote on the budget?", "and the first time?",
         "when did the council vote on the budget the first time?"),
        (FIRST, "who claimed it?", "who claimed the US first strike Syria under Biden?"),
        ("when did the US strike Syria in 2021?", "what about 2023?", "when did the US strike Syria in 2023?"),
        ("what happened in March 2023 at the base?", "and in June 2021?", "what happened in June 2021 at the base?"),
        ("where did the ferry sink?", "what about 2019?", "where did the ferry sink in 2019?"),
        (FIRST, "who claimed the attack?", "who claimed the attack (the US first strike Syria under Biden)?"),
        (FIRST, "How many soldiers died in the Jordan attack?", "How many soldiers died in the Jordan attack?"),
        (FIRST, "what did the Pentagon call it?", "what did the Pentagon call it (the US first strike Syria under Biden)?"),
    ],
)  # fmt: skip
def test_follow_ups_carry_the_previous_subject(previous: str, reply: str, expected: str) -> None:
    assert followup.resolve(previous, reply) == expected


def test_a_timeline_request_is_about_the_thread_topic() -> None:
    assert followup.is_timeline("timeline") and followup.is_timeline("show me a timeline please")
    assert not followup.is_timeline("what happened on the timeline of the talks?")
    assert followup.timeline_topic("when did the US first strike Syria in 2021?") == "the US strike Syria"


def test_cli_reads_a_follow_up(seed_brief: Brief, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from retrieval import cli

    monkeypatch.setattr(cli, "Brief", lambda _settings: seed_brief)  # the session's loaded model and index
    assert cli.main(["ask", "and the last time?", "--follow-up-of", FIRST, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["read_as"] == "when did the US last strike Syria under Biden?"
    assert out["answer"]["date"] == "2024-02-02"


# --- follow-ups in Slack threads ----------------------------------------------------------------------
def test_a_thread_reply_is_answered_as_a_follow_up(slack: Harness) -> None:
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000000.000100", channel="C0NEWS"))
    (first,) = slack.fake.wait_for("chat.postMessage")
    assert "26 February 2021" in first["text"]
    slack.send.event(reply_in_thread("and the last time?", "1800000000.000100", ts="1800000010.000100"))
    second = slack.fake.wait_for("chat.postMessage", 2)[1]
    assert second["channel"] == "C0NEWS" and second["thread_ts"] == "1800000000.000100"
    assert second["text"].startswith("Answer: Friday 2 February 2024")
    assert "Follow-up read as: when did the US last strike Syria under Biden?" in all_text(second["blocks"])
    # In another thread, a pronoun is read against that thread's question.
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000030.000100", channel="C0NEWS"))
    slack.fake.wait_for("chat.postMessage", 3)
    slack.send.event(reply_in_thread("how many fighters did it kill?", "1800000030.000100", ts="1800000040.000100"))
    fourth = slack.fake.wait_for("chat.postMessage", 4)[3]
    assert "at least 22 fighters" in fourth["text"] and fourth["thread_ts"] == "1800000030.000100"
    assert slack.listeners.wait_handled(4, timeout=60)
    assert len(slack.fake.of("chat.postMessage")) == 4  # each message answered once


def test_other_threads_and_channel_chatter_are_ignored(slack: Harness) -> None:
    slack.send.event(reply_in_thread("and the last time?", "1800000100.000100", ts="1800000101.000100"))
    slack.send.event({"type": "message", "channel_type": "channel", "user": "U0USER", "ts": "1800000102.000100",
                      "text": "when did the US first strike Syria?", "channel": "C0NEWS"})  # fmt: skip
    slack.send.event({"type": "message", "channel_type": "group", "user": "U0USER", "ts": "1800000103.000100",
                      "text": "and then?", "thread_ts": "1800000000.999", "channel": "G0PRIV"})  # fmt: skip
    assert slack.listeners.wait_handled(3, timeout=60)
    assert not slack.fake.of("chat.postMessage") and not slack.fake.of("reactions.add")
    # The same reply is answered once the thread is one Brief answered in (an @mention started it).
    slack.send.event(mention(f"<@{BOT_USER}> hello, {FIRST}", ts="1800000100.000100", channel="C0NEWS"))
    slack.fake.wait_for("chat.postMessage")
    slack.send.event(reply_in_thread("the latest?", "1800000100.000100", ts="1800000104.000100"))
    assert "2 February 2024" in slack.fake.wait_for("chat.postMessage", 2)[1]["text"]


def test_timeline_in_a_thread_is_the_thread_topic(slack: Harness) -> None:
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000200.000100", channel="C0NEWS"))
    slack.fake.wait_for("chat.postMessage")
    slack.send.event(reply_in_thread("timeline", "1800000200.000100", ts="1800000201.000100"))
    post = slack.fake.wait_for("chat.postMessage", 2)[1]
    assert post["thread_ts"] == "1800000200.000100"
    texts = sections(post)
    assert texts[0] == "*Timeline:* the US strike Syria under Biden"
    assert [t.split(" — ")[0] for t in texts[1:4]] == ["*26 Feb 2021*", "*27 Jun 2021*", "*24 Mar 2023*"]
    assert_within_limits(post)
    (picture,) = slack.fake.wait_for("files.completeUploadExternal")  # and its picture, in the thread
    assert (picture["channel_id"], picture["thread_ts"]) == ("C0NEWS", "1800000200.000100")
    assert png_size(slack.fake.of("upload")[0]["bytes"])[0] > 0
    # The thread still reads against its question after the timeline.
    slack.send.event(reply_in_thread("and the last time?", "1800000200.000100", ts="1800000202.000100"))
    assert "2 February 2024" in slack.fake.wait_for("chat.postMessage", 3)[2]["text"]


def test_follow_up_replies_notify_nobody(slack: Harness) -> None:
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000300.000100", channel="C0NEWS"))
    slack.fake.wait_for("chat.postMessage")
    slack.send.event(reply_in_thread("who did <!channel> and <@U0123> blame for it?", "1800000300.000100",
                                     ts="1800000301.000100"))  # fmt: skip
    post = slack.fake.wait_for("chat.postMessage", 2)[1]
    payload = all_text({"text": post["text"], "blocks": post["blocks"]})
    assert "<!channel>" not in payload and "<@U0123>" not in payload
    assert_within_limits(post)


def test_block_kit_limits_hold_for_a_long_follow_up() -> None:
    from retrieval.brief import Answer, Citation, Result

    huge = "word " * 5000
    cites = [Citation(1, "d", "T" * 400, "O", "2024-01-01", None, "x.txt", 1, huge, 0.1, (0, 10))]
    payload = kit.reply(Result("q", Answer(huge, 1), cites), answer_id="abcdefghijkl", read_as="r" * 5000)
    assert_within_limits(payload)


# --- the Home tab and the message shortcut --------------------------------------------------------
def test_home_tab_shows_the_corpus_and_recent_questions(slack: Harness) -> None:
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000400.000100", channel="C0NEWS"))
    slack.fake.wait_for("chat.postMessage")
    slack.send.event({"type": "app_home_opened", "user": "U0USER", "channel": "D0HOME", "tab": "home"})
    (published,) = slack.fake.wait_for("views.publish")
    view = published["view"]
    assert published["user_id"] == "U0USER" and view["type"] == "home"
    text = all_text(view)
    assert "5 articles" in text and "from 5 outlets" in text and "published 2021-02-26 to 2024-02-02" in text
    newest = next(b["text"]["text"] for b in view["blocks"] if b.get("text", {}).get("text", "").startswith("*Newest"))
    assert newest.splitlines()[1].startswith("• Middle East Eye · US launches retaliatory strikes in Iraq, Syria")
    assert "*Last update:*" in text and "Ask Brief about this message" in text  # how to ask
    assert f"*Your recent questions:*\\n• {FIRST}" in text
    assert len(view["blocks"]) <= 100
    assert_within_limits(view)
    # The messages tab is not the Home tab: nothing is published for it.
    slack.send.event({"type": "app_home_opened", "user": "U0USER", "channel": "D0HOME", "tab": "messages"})
    slack.send.event({"type": "app_home_opened", "user": "U0OTHER", "channel": "D0HOME", "tab": "home"})
    assert slack.listeners.wait_handled(4, timeout=60)  # the mention and the three tab openings
    published = slack.fake.of("views.publish")
    assert [p["user_id"] for p in published] == ["U0USER", "U0OTHER"]
    assert "*Your recent questions:* none yet." in all_text(published[1]["view"])


def test_message_shortcut_answers_privately_with_share(slack: Harness) -> None:
    status, _, _ = slack.send.message_shortcut("brief_ask_message", "how many US soldiers were killed in Jordan?")
    assert status == 200
    (answer,) = slack.fake.wait_for("response_url")
    assert answer["response_type"] == "ephemeral" and "three" in answer["text"].lower()
    assert sections(answer)[0] == "*Question:* how many US soldiers were killed in Jordan?"
    buttons = [e for b in answer["blocks"] if b.get("block_id") == "brief_actions" for e in b["elements"]]
    assert buttons[0]["action_id"] == kit.SHARE_ACTION
    assert not slack.fake.of("chat.postMessage")
    assert_within_limits(answer)
    slack.send.click(kit.SHARE_ACTION, buttons[0]["value"])
    (shared,) = slack.fake.wait_for("chat.postMessage")
    assert shared["channel"] == "C0GENERAL" and shared["text"] == answer["text"]


HOSTILE_FRONT = """---
title: Dam <!channel> alert for <@U0123> & @here
outlet: <!everyone> Gazette
published: 2024-05-01
url: https://x.example/dam|<!here>
---
Officials said the dam would reopen on Monday after <!channel> repairs, pinging <@U0123>.
"""


@pytest.fixture
def hostile(tmp_path, settings_base, embedder) -> Iterator[Harness]:
    from tests.test_bot import start_with_article

    yield from start_with_article(tmp_path, settings_base, embedder, "dam.txt", HOSTILE_FRONT)


def test_home_tab_and_shortcut_notify_nobody(hostile: Harness) -> None:
    hostile.send.message_shortcut("brief_ask_message", "<!channel> when will the dam reopen? cc <@U0123>")
    (answer,) = hostile.fake.wait_for("response_url")
    hostile.send.event({"type": "app_home_opened", "user": "U0USER", "channel": "D0HOME", "tab": "home"})
    (published,) = hostile.fake.wait_for("views.publish")
    for payload in (answer, published["view"]):
        text = all_text(payload)
        assert "dam" in text
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U0123>", "https://x.example/dam|"):
            assert raw not in text, raw
    assert "&lt;!channel&gt;" in all_text(published["view"])  # the title is shown, defused


# --- per-channel settings ----------------------------------------------------------------------------
def source_sections(post: dict) -> list[str]:
    return [b["text"]["text"] for b in post["blocks"] if str(b.get("block_id", "")).startswith("brief_source_")
            and b["type"] == "section"]  # fmt: skip


def buttons_of(post: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]}


def test_channel_settings_change_where_and_how_answers_come(slack: Harness) -> None:
    channel = "C0DESKA"
    _, body, _ = slack.send.command("config answers private", user="U0SOMEONE", channel=channel)
    assert "only Brief's admins" in json.loads(body)["text"]
    _, body, _ = slack.send.command("config", user="U0SOMEONE", channel=channel)
    assert "answers: on; visibly in the thread" in json.loads(body)["text"]
    _, body, _ = slack.send.command("config answers private", user="U0ADMIN", channel=channel)
    assert "privately (only the asker sees them)" in json.loads(body)["text"]
    # Private: only the asker sees the answer, in the thread, with a Share button.
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000500.000100", channel=channel))
    (private,) = slack.fake.wait_for("chat.postEphemeral")
    assert (private["channel"], private["user"], private["thread_ts"]) == (channel, "U0USER", "1800000500.000100")
    assert "26 February 2021" in private["text"] and kit.SHARE_ACTION in buttons_of(private)
    assert not slack.fake.of("chat.postMessage")
    # Searching one outlet: every source is from it.
    _, body, _ = slack.send.command("config search Middle East Eye", user="U0ADMIN", channel=channel)
    assert "searches: Middle East Eye" in json.loads(body)["text"]
    slack.send.command("when did the US strike Iran-backed groups?", channel=channel)
    (answer,) = slack.fake.wait_for("response_url")
    assert source_sections(answer) and all(s.startswith("*[") and " Middle East Eye · " in s
                                           for s in source_sections(answer))  # fmt: skip
    assert answer["text"].startswith("Answer:")
    # Off: said once to a mention, and to /brief; on again: answered.
    slack.send.command("config off", user="U0ADMIN", channel=channel)
    for ts in ("1800000501.000100", "1800000502.000100"):
        slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts=ts, channel=channel))
    assert slack.listeners.wait_handled(3, timeout=60)
    (notice,) = slack.fake.of("chat.postMessage")
    assert notice["text"].startswith("Brief is switched off in this channel")
    _, body, _ = slack.send.command(FIRST, channel=channel)
    assert json.loads(body)["text"].startswith("Brief is switched off")
    _, body, _ = slack.send.command("config reset", user="U0ADMIN", channel=channel)
    assert "answers: on; visibly in the thread" in json.loads(body)["text"]
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000503.000100", channel=channel))
    assert "26 February 2021" in slack.fake.wait_for("chat.postMessage", 2)[1]["text"]


def test_bad_config_says_how_and_notifies_nobody(slack: Harness) -> None:
    _, body, _ = slack.send.command("config shown 99", user="U0ADMIN", channel="C0DESKB")
    text = json.loads(body)["text"]
    assert "I can't read `config shown 99`" in text and "`/brief config shown N`" in text
    _, body, _ = slack.send.command("config search <!channel>, <@U0123> folder/", user="U0ADMIN", channel="C0DESKB")
    reply = json.loads(body)
    assert "<!channel>" not in all_text(reply) and "<@U0123>" not in all_text(reply)
    assert "&lt;!channel&gt;" in reply["text"]
    assert_within_limits(reply)


def test_more_sources_shows_the_next_in_place(slack: Harness) -> None:
    channel = "C0DESKC"
    slack.send.command("config shown 1", user="U0ADMIN", channel=channel)
    slack.send.event(mention(f"<@{BOT_USER}> {FIRST}", ts="1800000600.000100", channel=channel))
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert len(source_sections(post)) == 1
    more = buttons_of(post)[kit.MORE_ACTION]
    assert more["text"]["text"].startswith("More sources (") and len(more["text"]["text"]) <= 75
    slack.send.click(kit.MORE_ACTION, more["value"], channel=channel, message_ts="1800000600.500000")
    (updated,) = slack.fake.wait_for("chat.update")
    assert updated["channel"] == channel and updated["ts"] == "1800000600.500000"
    assert source_sections(updated)[0] == source_sections(post)[0] and len(source_sections(updated)) == 2
    assert_within_limits(updated)
    # Clicked on a private reply: replaced through its response_url.
    slack.send.command(FIRST, channel=channel)
    (private,) = slack.fake.wait_for("response_url")
    slack.send.click(kit.MORE_ACTION, buttons_of(private)[kit.MORE_ACTION]["value"], channel=channel)
    replaced = slack.fake.wait_for("response_url", 2)[1]
    assert replaced["replace_original"] is True and len(source_sections(replaced)) == 2
    assert kit.SHARE_ACTION in buttons_of(replaced)


def test_channel_defaults_come_from_the_environment() -> None:
    from retrieval import Settings
    from retrieval.errors import ConfigError
    from retrieval.slack.channels import defaults

    s = Settings.from_env(env={"BRIEF_ANSWER_PRIVATELY": "1", "BRIEF_SOURCES_SHOWN": "2"}, dotenv_path=None)
    assert (defaults(s).private, defaults(s).shown, defaults(s).enabled, defaults(s).search) == (True, 2, True, ())
    with pytest.raises(ConfigError, match="BRIEF_SOURCES_SHOWN must be at most 10"):
        Settings.from_env(env={"BRIEF_SOURCES_SHOWN": "11"}, dotenv_path=None)


# --- per-source feedback and the feedback report ------------------------------------------------------
def test_source_marks_are_stored_and_reported(slack: Harness, seed_brief: Brief, tmp_path, capsys) -> None:
    from retrieval.cli import main
    from retrieval.evaluation import evaluate, load_qa
    from retrieval.slack import feedback_report
    from retrieval.slack.feedback import FeedbackStore

    question = "which aircraft hit the weapons stores near Abu Kamal?"
    slack.send.event(mention(f"<@{BOT_USER}> {question}", ts="1800000700.000100", channel="C0DESKD"))
    (post,) = slack.fake.wait_for("chat.postMessage")
    rate_blocks = [b for b in post["blocks"] if str(b.get("block_id", "")).endswith("_rate")]
    assert len(rate_blocks) == len(source_sections(post)) >= 2
    assert [e["text"]["text"] for e in rate_blocks[0]["elements"]] == ["✓ Useful", "✗ Wrong", "⌛ Outdated"]
    assert_within_limits(post)
    wrong, useful = rate_blocks[1]["elements"][1], rate_blocks[0]["elements"][0]
    slack.send.click(wrong["action_id"], wrong["value"], channel="C0DESKD")
    slack.send.click(wrong["action_id"], wrong["value"], user="U0OTHER", channel="C0DESKD")
    slack.send.click(useful["action_id"], useful["value"], channel="C0DESKD")
    down = buttons_of(post)[kit.FEEDBACK_DOWN]
    slack.send.click(kit.FEEDBACK_DOWN, down["value"], channel="C0DESKD")
    thanks = slack.fake.wait_for("response_url", 4)
    assert sum("source [2] noted as wrong" in t["text"] for t in thanks) == 2
    store = FeedbackStore(seed_brief.settings.index_dir)
    marks = [m for m in store.source_votes() if m["question"] == question]
    assert sorted((m["source"], m["verdict"], m["user"]) for m in marks) == [
        (1, "useful", "U0USER"),
        (2, "wrong", "U0OTHER"),
        (2, "wrong", "U0USER"),
    ]  # clicks are handled concurrently
    assert marks[0]["passages"] and all(":" in p for p in marks[0]["passages"])  # type: ignore[union-attr]

    # The report names the question, its answer and the source marked wrong.
    report = feedback_report.report(store)
    worst = next(q for q in report.worst if q.question == question)
    assert (worst.up, worst.down, worst.marks, worst.score) == (0, 1, {"wrong": 2, "useful": 1}, -2)
    assert worst.answer is not None and worst.answer.startswith("Answer:")
    assert worst.sources[1].marks == {"wrong": 2} and worst.sources[0].marks == {"useful": 1}
    # The CLI: text, CSV, JSON and a QA file that brief eval reads.
    index = str(seed_brief.settings.index_dir)
    assert main(["feedback", "--index", index]) == 0
    text = capsys.readouterr().out
    assert f"[-2] {question}" in text and "← wrong 2" in text
    assert main(["feedback", "--csv", "--index", index]) == 0
    csv_rows = capsys.readouterr().out.splitlines()
    assert csv_rows[0] == "at,kind,mark,question,answer_id,source,user,channel,passages"
    assert sum(f",source,wrong,{question}," in r for r in csv_rows) == 2
    assert main(["feedback", "--json", "--index", index]) == 0
    assert any(q["question"] == question and q["score"] == -2 for q in json.loads(capsys.readouterr().out)["worst"])
    qa = tmp_path / "marked_wrong.jsonl"
    assert main(["feedback", "--qa", str(qa), "--index", index]) == 0
    assert "run: brief eval" in capsys.readouterr().err
    items = load_qa(qa)
    mine = [i for i in items if i.question == question]
    assert len(mine) == 1 and mine[0].kind == "feedback" and mine[0].answer is None
    evaluated = evaluate(seed_brief, mine, progress=False)
    assert evaluated.failures and evaluated.failures[0].question == question

    # /brief feedback: admins only, mention-safe, within limits.
    _, body, _ = slack.send.command("feedback", user="U0SOMEONE")
    assert "only Brief's admins" in json.loads(body)["text"]
    _, body, _ = slack.send.command("feedback", user="U0ADMIN")
    view = json.loads(body)
    assert any(question in b["text"]["text"] and "wrong 2" in b["text"]["text"] for b in view["blocks"])
    assert_within_limits(view)


def test_feedback_cli_without_feedback_says_why(tmp_path, capsys) -> None:
    from retrieval.cli import main

    assert main(["feedback", "--index", str(tmp_path / "nowhere")]) == 2
    assert "no feedback in" in capsys.readouterr().err


def test_feedback_view_notifies_nobody() -> None:
    from retrieval.slack.feedback_report import FeedbackReport, RatedQuestion, RatedSource

    src = RatedSource(1, "<!channel> " + "t" * 500, "<@U0123>", None, "https://x.example/a|<!here>", {"wrong": 1})
    bad = RatedQuestion("<!everyone> " + "q" * 4000, "<@U0123> " + "a" * 4000, "abcdefghijkl", 0, 3, {"wrong": 1},
                        [src] * 12, "2026-01-01T00:00:00+00:00")  # fmt: skip
    view = kit.feedback_view(FeedbackReport(1, 0, 3, {"useful": 0, "wrong": 1, "outdated": 0}, [bad] * 60))
    text = all_text(view)
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U0123>"):
        assert raw not in text
    assert_within_limits(view)


# --- timeline pictures --------------------------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int]:
    """The decoded picture's size (PIL reads the whole image, so a broken PNG fails here)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def test_timeline_png_from_the_cli(seed_brief: Brief, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    from retrieval import cli
    from retrieval.slack.picture import draw_timeline
    from retrieval.timeline import build_timeline

    monkeypatch.setattr(cli, "Brief", lambda _settings: seed_brief)
    target = tmp_path / "syria.png"
    assert cli.main(["timeline", "US strikes in Syria", "--png", str(target)]) == 0
    captured = capsys.readouterr()
    events = build_timeline(seed_brief, "US strikes in Syria").events
    assert len(events) == 5 and f"drew 5 event(s) into {target}" in captured.err
    assert captured.out.startswith("Timeline: US strikes in Syria")
    width, height = png_size(target.read_bytes())
    assert width > 1000 and height > 600
    _, drawn = draw_timeline(build_timeline(seed_brief, "US strikes in Syria"))
    assert drawn == 5


def test_a_picture_draws_article_text_literally_and_refuses_nothing_to_draw(seed_brief: Brief) -> None:
    from dataclasses import replace

    from retrieval.errors import UsageError
    from retrieval.slack.picture import draw_timeline
    from retrieval.timeline import build_timeline

    tl = build_timeline(seed_brief, "US strikes in Syria")
    odd = replace(tl, events=[replace(e, text="cost $5 and $6 \x07 <!channel> " * 20) for e in tl.events[:2]])
    data, count = draw_timeline(odd)  # "$…$" would be mathtext; drawn as plain text instead
    assert count == 2 and png_size(data)[0] > 0
    with pytest.raises(UsageError, match="no dated events"):
        draw_timeline(replace(tl, events=[]))


def test_matplotlib_is_imported_only_to_draw() -> None:
    import subprocess
    import sys

    probe = "import sys, bot, retrieval.cli, retrieval.slack.picture; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_slash_timeline_uploads_the_picture_with_the_text_beside_it(slack: Harness) -> None:
    status, body, _ = slack.send.command("timeline US strikes in Syria", channel="C0DESKE")
    assert status == 200 and json.loads(body)["text"] == "Building a timeline of: US strikes in Syria"
    (done,) = slack.fake.wait_for("files.completeUploadExternal")
    (step1,) = slack.fake.of("files.getUploadURLExternal")
    (upload,) = slack.fake.of("upload")
    assert step1["filename"] == "timeline.png" and int(step1["length"]) == len(upload["bytes"])
    assert png_size(upload["bytes"])[0] > 1000
    assert done["channel_id"] == "C0DESKE" and json.loads(done["files"])[0]["id"] == upload["file_id"]
    comment = done["initial_comment"]
    assert comment.startswith("*Timeline:* US strikes in Syria")
    assert [line.split(" — ")[0] for line in comment.splitlines()[1:]] == [
        "1. *26 Feb 2021*",
        "2. *28 Jun 2021*",
        "3. *24 Mar 2023*",
        "4. *27 Oct 2023*",
        "5. *2 Feb 2024*",
    ]
    (said,) = slack.fake.wait_for("response_url")
    assert said["text"] == "Posted the timeline of US strikes in Syria (5 dated events)."


def test_timeline_stays_private_where_answers_are_private(slack: Harness) -> None:
    slack.send.command("config answers private", user="U0ADMIN", channel="C0DESKF")
    slack.send.command("timeline US strikes in Syria", channel="C0DESKF")
    (reply,) = slack.fake.wait_for("response_url")
    assert reply["response_type"] == "ephemeral" and not slack.fake.of("files.getUploadURLExternal")
    assert "No picture (answers in this channel are private)" in reply["blocks"][0]["text"]["text"]
    assert reply["blocks"][1]["text"]["text"] == "*Timeline:* US strikes in Syria"
    assert_within_limits(reply)


def test_a_failed_upload_falls_back_to_text(slack: Harness) -> None:
    slack.fake.fail["files.getUploadURLExternal"] = "missing_scope"
    slack.send.command("timeline US strikes in Syria", channel="C0DESKG")
    (reply,) = slack.fake.wait_for("response_url")
    assert "No picture (missing_scope)" in reply["blocks"][0]["text"]["text"]
    assert sum(b["text"]["text"].startswith("*") for b in reply["blocks"][2:7]) == 5


def test_timeline_comment_notifies_nobody_and_fits(seed_brief: Brief) -> None:
    from dataclasses import replace

    from retrieval.timeline import build_timeline

    tl = build_timeline(seed_brief, "US strikes in Syria")
    hostile = replace(tl, topic="<!here> " * 200,
                      events=[replace(e, text="<!channel> <@U0123> @everyone " * 50) for e in tl.events] * 6)  # fmt: skip
    comment = kit.timeline_comment(hostile)
    assert len(comment) <= 3000
    for raw in ("<!channel>", "<!here>", "<@U0123>", "@everyone"):
        assert raw not in comment


def test_a_shared_answer_takes_follow_ups_in_its_thread(slack: Harness) -> None:
    slack.send.command(FIRST, channel="C0DESKH")
    (private,) = slack.fake.wait_for("response_url")
    slack.send.click(kit.SHARE_ACTION, buttons_of(private)[kit.SHARE_ACTION]["value"], channel="C0DESKH")
    (shared,) = slack.fake.wait_for("chat.postMessage")
    slack.fake.wait_for("response_url", 2)  # "Shared in the channel." comes once the thread is noted
    slack.send.event(reply_in_thread("and the last time?", shared["_ts"], ts="1800000800.000100", channel="C0DESKH"))
    follow = slack.fake.wait_for("chat.postMessage", 2)[1]
    assert follow["thread_ts"] == shared["_ts"] and "2 February 2024" in follow["text"]


def test_admins_list_the_corpus_in_slack(slack: Harness, hostile: Harness) -> None:
    _, body, _ = slack.send.command("list", user="U0SOMEONE")
    assert "only Brief's admins" in json.loads(body)["text"]
    _, body, _ = slack.send.command("list", user="U0ADMIN")
    lines = json.loads(body)["text"].splitlines()
    assert lines[0] == "*Newest articles:*" and len(lines) == 6
    assert lines[1].startswith("• Middle East Eye · US launches retaliatory strikes in Iraq, Syria · 2024-02-02 · `")
    _, body, _ = slack.send.command("list Ottawa", user="U0ADMIN")
    (only,) = json.loads(body)["text"].splitlines()[1:]
    assert "Daily Mirror" in only
    _, body, _ = hostile.send.command("list dam", user="U0ADMIN")
    reply = json.loads(body)
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U0123>"):
        assert raw not in all_text(reply)
    assert_within_limits(reply)


def test_a_reply_under_a_direct_message_answer_is_a_follow_up(slack: Harness) -> None:
    from tests.test_bot import dm

    slack.send.event(dm(FIRST, ts="1800000900.000100"))
    (answer,) = slack.fake.wait_for("chat.postMessage")
    assert "thread_ts" not in answer  # a DM is answered right there
    slack.fake.wait_for("reactions.remove")  # after the post: its ts is known and noted
    slack.send.event(dm("and the last time?", ts="1800000901.000100", thread_ts=answer["_ts"]))
    follow = slack.fake.wait_for("chat.postMessage", 2)[1]
    assert follow["thread_ts"] == answer["_ts"] and "2 February 2024" in follow["text"]
