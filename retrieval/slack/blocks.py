"""Block Kit rendering of a result: safe text, one source per article, inside Slack's limits."""

from __future__ import annotations

import re
from typing import Any

from retrieval.brief import Citation, Result, Stats
from retrieval.index.store import StoredArticle
from retrieval.slack.feedback_report import FeedbackReport
from retrieval.timeline import Timeline

MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100  # a Home tab view
MAX_SECTION = 3000
MAX_BUTTON_TEXT = 75
MAX_FALLBACK = 3000
MAX_SOURCES = 10  # keeps a reply readable and far inside the 50-block budget
QUOTE_CHARS = 700  # a quoted paragraph is trimmed around the answering sentence to about this
QUOTES_PER_SOURCE = 2
SPECIAL_MENTION = re.compile(r"@(here|channel|everyone)\b", re.I)
# Bidirectional controls (LRM/RLM, ALM, embeddings, overrides, isolates): an article's U+202E
# would reverse the rest of a Slack line, so that a quote or a link reads other than it is.
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
BIDI_CONTROLS = re.compile(f"[{BIDI}]")
URL_OK = re.compile(f"^https?://[^\\s<>|{BIDI}]+$")

SHARE_ACTION = "brief_share"
FEEDBACK_UP = "brief_feedback_up"
FEEDBACK_DOWN = "brief_feedback_down"
MORE_ACTION = "brief_more_sources"
RATE_ACTION = "brief_source_"  # + useful / wrong / outdated: a mark on one source
RATINGS = (("useful", "✓ Useful"), ("wrong", "✗ Wrong"), ("outdated", "⌛ Outdated"))
SOURCE_BLOCK = "brief_source_"  # + the source's number: its section (and its rating buttons)
NO_ANSWER = "The corpus holds no answer to this question."


def escape(text: str) -> str:
    """Text safe for Slack: &, <, > escaped, bidi controls removed, no mention can fire.

    Slack only treats `<!here>`-style markup as a mention, which escaping `<` already defuses;
    a word joiner after "@" also keeps a plain "@here" inert if a client ever parses it.
    """
    text = BIDI_CONTROLS.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return SPECIAL_MENTION.sub(lambda m: "@\u2060" + m.group(1), text)


def plain(text: str) -> str:
    """Escaped text with mrkdwn formatting characters neutralised (for quotes from the corpus)."""
    return escape(text).replace("*", "∗").replace("`", "ʹ").replace("~", "∼")


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def quote(c: Citation, limit: int = QUOTE_CHARS) -> str:
    """The passage as a mrkdwn quote, trimmed around the answering sentence (bold), with
    relative dates resolved in brackets."""
    text = " ".join(c.display_text(("\x01", "\x02")).split())
    if "\x01" in text:
        a, b = text.index("\x01"), text.index("\x02") + 1
        room = max(0, limit - (b - a))
        start = max(0, a - room // 2)
        end = min(len(text), b + room - (a - start))
        head = "…" if start > 0 else ""
        tail = "…" if end < len(text) else ""
        text = head + text[start:end] + tail
    else:
        text = cut(text, limit)
    # Sentinels survive escaping untouched and become the bold markers.
    return ">" + plain(text).replace("\x01", "*").replace("\x02", "*")


def source_line(n: int, c: Citation) -> str:
    """`*[n]* outlet · title (linked when a URL is known) · date`."""
    title = plain(c.title or "(untitled)")
    if c.url and URL_OK.match(c.url):
        title = f"<{c.url}|{cut(title, 300)}>"
    parts = [plain(c.outlet) if c.outlet else None, title, c.published or "undated"]
    return f"*[{n}]* " + " · ".join(p for p in parts if p)


def sources(result: Result) -> tuple[list[list[Citation]], dict[int, int]]:
    """Citations grouped by article (first-ranked article first), and citation number -> source number.

    Within a group the answering passage comes first; at most QUOTES_PER_SOURCE are quoted.
    """
    groups: list[list[Citation]] = []
    by_doc: dict[str, int] = {}
    renumber: dict[int, int] = {}
    answer_n = result.answer.citation if result.answer else None
    for c in result.passages:
        if c.doc_id not in by_doc:
            if len(groups) == MAX_SOURCES:
                continue
            groups.append([])
            by_doc[c.doc_id] = len(groups)
        group = groups[by_doc[c.doc_id] - 1]
        group.insert(0, c) if c.n == answer_n else group.append(c)
        renumber[c.n] = by_doc[c.doc_id]
    return [g[:QUOTES_PER_SOURCE] for g in groups], renumber


def reply(
    result: Result,
    *,
    show_question: bool = False,
    share: bool = False,
    answer_id: str | None = None,
    read_as: str | None = None,
) -> dict[str, Any]:
    """`text` and `blocks` for chat.postMessage or a response_url post.

    With `answer_id` (the stored reply's id, see retrieval.slack.feedback) it ends with 👍/👎 buttons, and
    with `share` also a Share button; every button's value is that short id. `read_as` is a
    follow-up's question as it was read against its thread.
    """
    chosen, renumber = sources(result)
    blocks: list[dict[str, Any]] = []
    if show_question:
        blocks.append(_section(f"*Question:* {escape(result.question)}"))
    if read_as:
        blocks.append(_context(f"Follow-up read as: {escape(cut(read_as, 1000))}"))
    if result.searched_for:
        blocks.append(_context(f"Searched for: {escape(result.searched_for)}"))
    if result.answer is not None:
        n = renumber.get(result.answer.citation, 1)
        when = f"*{result.answer.date_label}:* " if result.answer.date_label else ""
        blocks.append(_section(f"*Answer:* {when}{plain(result.answer.text)} [{n}]"))
        plain_when = f"{result.answer.date_label}: " if result.answer.date_label else ""
        fallback = f"Answer: {plain_when}{escape(result.answer.text)} [{n}]"
    else:
        related = " Related passages:" if chosen else ""
        blocks.append(_section(f"*{NO_ANSWER}*{related}"))
        fallback = NO_ANSWER
    for i, group in enumerate(chosen, start=1):
        quotes = "\n".join(quote(c) for c in group)
        blocks.append({**_section(f"{source_line(i, group[0])}\n{quotes}"), "block_id": f"{SOURCE_BLOCK}{i}"})
        if answer_id:
            marks = [_button(label, RATE_ACTION + verdict, f"{answer_id}:{i}") for verdict, label in RATINGS]
            blocks.append({"type": "actions", "block_id": f"{SOURCE_BLOCK}{i}_rate", "elements": marks})
    version = f" · index {result.version}" if result.version else ""
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Searched {result.searched:,} passages{version}"}]}
    )
    if answer_id:
        buttons = [_button("Share in channel", SHARE_ACTION, answer_id, style="primary")] if share else []
        buttons.append(_button("👍 Helpful", FEEDBACK_UP, answer_id))
        buttons.append(_button("👎 Not helpful", FEEDBACK_DOWN, answer_id))
        blocks.append({"type": "actions", "block_id": "brief_actions", "elements": buttons})
    return {"text": cut(fallback, MAX_FALLBACK), "blocks": blocks[:MAX_BLOCKS]}


def limited(payload: dict[str, Any], shown: int, answer_id: str | None, step: int = 0) -> dict[str, Any]:
    """A reply showing its first `shown` sources (0: all); when more are held back, a "More sources"
    button (value `answer_id:shown:step`) shows the next `step` (default `shown`) in place."""
    numbers = [_source_number(b) for b in payload["blocks"]]
    total = max((n for n in numbers if n is not None), default=0)
    if not shown or shown >= total:
        return {**payload, "blocks": [_without_more(b) for b in payload["blocks"]]}
    blocks = [_without_more(b) for b, n in zip(payload["blocks"], numbers, strict=True) if n is None or n <= shown]
    if answer_id:
        more = _button(f"More sources ({total - shown} more)", MORE_ACTION, f"{answer_id}:{shown}:{step or shown}")
        for i, block in enumerate(blocks):
            if block.get("block_id") == "brief_actions":
                blocks[i] = {**block, "elements": [*block["elements"], more]}
    return {**payload, "blocks": blocks}


def _source_number(block: dict[str, Any]) -> int | None:
    block_id = str(block.get("block_id") or "")
    tail = block_id[len(SOURCE_BLOCK) :].split("_")[0] if block_id.startswith(SOURCE_BLOCK) else ""
    return int(tail) if tail.isdigit() else None


def _without_more(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") != "actions":
        return block
    return {**block, "elements": [e for e in block["elements"] if e.get("action_id") != MORE_ACTION]}


def timeline(tl: Timeline) -> dict[str, Any]:
    """A timeline: one line per event (date, sentence, linked source), then undated passages."""
    blocks: list[dict[str, Any]] = [_section(f"*Timeline:* {escape(tl.topic)}")]
    if not tl.events and not tl.undated:
        return message(f"No dated events about “{escape(tl.topic)}” in the corpus.")
    for n, e in enumerate(tl.events[: MAX_BLOCKS - 4], start=1):
        blocks.append(
            _section(f"*{e.label}* — {plain(cut(' '.join(e.text.split()), 600))}\n{source_line(n, e.citation)}")
        )
    if tl.undated:
        lines = [f"• {plain(cut(' '.join(c.text.split()), 200))} ({plain(c.outlet or c.path)})" for c in tl.undated[:5]]
        blocks.append(_section("*Undated but relevant:*\n" + "\n".join(lines)))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Searched {tl.searched:,} passages"}]})
    text = f"Timeline: {escape(tl.topic)}: " + "; ".join(f"{e.label}: {escape(e.text)}" for e in tl.events)
    return {"text": cut(text, MAX_FALLBACK), "blocks": blocks[:MAX_BLOCKS]}


def home(stats: Stats | None, articles: list[StoredArticle], recent: list[str], usage: str) -> dict[str, Any]:
    """The Home tab view: what Brief knows (articles, outlets, dates, newest, last update), how to
    ask (`usage`, already escaped) and the user's recent questions. `articles` newest first."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "Brief", "emoji": True}}]
    if stats is None:
        blocks.append(_section("*What I know:* nothing yet; the index has not been built (ask an admin to run "
                               "`/brief reindex`)."))  # fmt: skip
    else:
        outlets: dict[str, int] = {}
        for a in articles:
            if a.outlet:
                outlets[a.outlet] = outlets.get(a.outlet, 0) + 1
        days = sorted(a.published for a in articles if a.published)
        span = f"{days[0]} to {days[-1]}" if days else "no dated articles"
        top = sorted(outlets.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        outlet_line = ", ".join(f"{plain(cut(o, 80))} ({n})" for o, n in top)
        more = f" and {len(outlets) - len(top)} more" if len(outlets) > len(top) else ""
        blocks.append(_section(
            f"*What I know:* {stats.articles:,} articles ({stats.passages:,} passages) from {len(outlets):,} outlets, "
            f"published {span}.\n*Outlets:* {outlet_line or 'none named'}{more}\n"
            f"*Last update:* {stats.updated_at} (index {escape(stats.version)})"
        ))  # fmt: skip
        newest = [f"• {_article_line(a)}" for a in articles[:8]]
        if newest:
            blocks.append(_section("*Newest articles:*\n" + "\n".join(newest)))
    blocks.append({"type": "divider"})
    blocks.append(_section(usage))
    blocks.append({"type": "divider"})
    if recent:
        lines = [f"• {escape(cut(' '.join(q.split()), 300))}" for q in recent[:10]]
        blocks.append(_section("*Your recent questions:*\n" + "\n".join(lines)))
    else:
        blocks.append(_section("*Your recent questions:* none yet."))
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


def _article_line(a: StoredArticle | dict[str, str | None]) -> str:
    """outlet · title (linked when its URL is safe) · date."""
    get = a.get if isinstance(a, dict) else lambda key: getattr(a, key)
    title = plain(cut(get("title") or "(untitled)", 300))
    url = get("url")
    if url and URL_OK.match(url):
        title = f"<{url}|{title}>"
    outlet = get("outlet")
    parts = [plain(cut(outlet, 120)) if outlet else None, title, get("published") or "undated"]
    return " · ".join(p for p in parts if p)


def feedback_view(report: FeedbackReport) -> dict[str, Any]:
    """`/brief feedback`: the counts, then one section per worst-rated question (answer and sources)."""
    marks = ", ".join(f"{v} {report.marks.get(v, 0)}" for v in report.marks)
    head = f"*Feedback:* {report.answers:,} replies stored; 👍 {report.up}, 👎 {report.down}; sources marked: {marks}"
    blocks = [_section(head)]
    for q in report.worst[: MAX_BLOCKS - 2]:
        answer = plain(cut(q.answer, 600)) if q.answer is not None else "_(no longer stored)_"
        lines = [f"*[{q.score}] {escape(cut(q.question, 500))}* (👍 {q.up}, 👎 {q.down})", f"{answer}"]
        for src in q.sources[:10]:
            marked = ", ".join(f"{v} {n}" for v, n in src.marks.items() if n)
            title = plain(cut(src.title or "(untitled)", 200))
            if src.url and URL_OK.match(src.url):
                title = f"<{src.url}|{title}>"
            outlet = f"{plain(cut(src.outlet, 100))} · " if src.outlet else ""
            lines.append(f"[{src.n}] {outlet}{title}{f' ← *{marked}*' if marked else ''}")
        blocks.append(_section("\n".join(lines)))
    if not report.worst:
        blocks.append(_section("No question is rated badly."))
    return {"text": cut(f"Feedback: 👍 {report.up}, 👎 {report.down}", MAX_FALLBACK), "blocks": blocks[:MAX_BLOCKS]}


def timeline_comment(tl: Timeline) -> str:
    """The text timeline beside its picture: one line per event (date, sentence, outlet), mrkdwn-safe."""
    lines = [f"*Timeline:* {escape(cut(tl.topic, 300))}"]
    for n, e in enumerate(tl.events, start=1):
        outlet = f" ({plain(cut(e.citation.outlet, 80))})" if e.citation.outlet else ""
        lines.append(f"{n}. *{e.label}* — {plain(cut(' '.join(e.text.split()), 200))}{outlet}")
    return cut("\n".join(lines), MAX_SECTION)


def article_list(articles: list[StoredArticle], words: str, more: bool) -> dict[str, Any]:
    """`/brief list`: one line per article (outlet · title · date · id), newest first."""
    if not articles:
        return message(f"No indexed article holds “{escape(cut(words, 200))}”." if words else "The index is empty.")
    head = f"*Articles holding “{escape(cut(words, 200))}”:*" if words else "*Newest articles:*"
    lines = [f"• {_article_line(a)} · `{a.doc_id[:12]}`" for a in articles]
    tail = (
        "\n_…and more; narrow it down with `/brief list <words>`, or use `brief list` on the server._" if more else ""
    )
    return message(cut(head + "\n" + "\n".join(lines) + tail, MAX_SECTION))


def announcement(articles: list[dict[str, str | None]]) -> dict[str, Any]:
    """ "New in the corpus": one line per new article (outlet · title · date), at most 20."""
    lines = [f"• {_article_line(a)}" for a in articles[:20]]
    more = f"\n…and {len(articles) - 20} more" if len(articles) > 20 else ""
    text = f"*New in the corpus ({len(articles)}):*\n" + "\n".join(lines) + more
    return {"text": cut(f"New in the corpus: {len(articles)} article(s)", MAX_FALLBACK), "blocks": [_section(text)]}


def message(text: str) -> dict[str, Any]:
    """A plain one-section message (errors, help, notices); `text` must already be escaped."""
    return {"text": cut(text, MAX_FALLBACK), "blocks": [_section(text)]}


def source_list(result: Result) -> list[dict[str, Any]]:
    """The sources a reply shows, numbered as shown: title, outlet, date, URL and quoted passages."""
    return [
        {"n": i, "title": g[0].title, "outlet": g[0].outlet, "published": g[0].published, "url": g[0].url,
         "passages": [f"{c.doc_id}:{c.paragraph}" for c in g]}
        for i, g in enumerate(sources(result)[0], start=1)
    ]  # fmt: skip


def cited(result: Result) -> list[str]:
    """The passages a reply quotes, as `doc_id:paragraph` (what a vote is about)."""
    return [f"{c.doc_id}:{c.paragraph}" for group in sources(result)[0] for c in group]


def without_share(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of a reply with its Share button removed (for the message that shares it)."""
    blocks = []
    for block in payload["blocks"]:
        if block.get("type") == "actions":
            block = {**block, "elements": [e for e in block["elements"] if e.get("action_id") != SHARE_ACTION]}
        blocks.append(block)
    return {**payload, "blocks": blocks}


def _context(text: str) -> dict[str, Any]:
    """A small grey line (Slack's context block)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, 2900)}]}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION)}}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(label, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button
