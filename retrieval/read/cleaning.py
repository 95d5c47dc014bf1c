"""Clean article text: page furniture out, white space normalised, metadata found in the head.

The rules describe kinds of lines found on news pages (audio players, "Read more" links,
sign-up and app promos, share bars, photo captions, bylines, datelines, comment sections), not
particular articles.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import pairwise

from retrieval.read.dates import find_date

TERMINAL = tuple(".!?:;\"'”’)]…")
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

# Whole lines that are page furniture (matched case-insensitively against the stripped line).
FURNITURE = re.compile(
    r"""^(?:
      listen\ to\ (?:this|the)\ (?:article|story|podcast).{0,20}
    | (?:loading|playing)(?:\ (?:audio|video|player|content))?\W*
    | (?:read|see)\ (?:more|also|next)\b.*
    | (?:related|recommended|more\ on\ this\ story|most\ (?:read|popular)|top\ stories|our\ picks|editor'?s\ picks|you\ may\ also\ like)\b.{0,60}
    | (?:also\ read|read\ also|related\ (?:stories|articles|content|topics))\b.*
    | (?:sign\ (?:up|in)|log\ ?in|register|subscribe|already\ (?:a\ member|subscribed|have\ an\ account))\b.{0,70}
    | (?:download|get)\ (?:the|our)\ (?:free\ )?app\b.{0,40}
    | (?:share|tweet|email|print|copy\ link|save)(?:\ (?:this|on|via|to))?(?:\ (?:article|story|page|link|facebook|twitter|x|whatsapp|linkedin|email))*\W*
    | (?:follow|like)\ us\ on\b.{0,60}
    | (?:advertisement|advertising|sponsored(?:\ content)?|skip\ to\ (?:main\ )?content|skip\ (?:ad|advert)|accessibility\ links|breaking\ news|live\ updates|search(?:\ for)?(?:\ keyword)?\W*|menu|close|home)\W*
    | (?:accept|manage)\ (?:all\ )?cookies\b.{0,60}
    | (?:image|photo|picture|video)\ (?:source|caption|credit)s?\b.*
    | (?:©|\(c\)|copyright\ ©?\s*\d{4}|all\ rights\ reserved)\W*.{0,80}
    | (?:click|tap)\ here\b.{0,60}
    | (?:\d+\ )?free\ (?:trial|days?)\b.{0,30}
    | \w+\ days?\ free
    | start\ (?:reading|your\ free\ trial|listening)\W*
    | (?:\d+[x×]\d+\ )?image\W*
    | (?:file\ )?(?:photo|picture)\W*
    )$""",
    re.I | re.X,
)
# A line that starts the comment section: everything from it to the end is dropped.
COMMENTS_START = re.compile(
    r"^(?:(?:reader\s+|total\s+|show\s+|view\s+|\d+\s+)?comments?(?:\s*\(\d+\))?"
    r"|comments?\s+(?:about|on)\s+this\s+(?:article|story)"
    r"|(?:join|start)\s+the\s+(?:conversation|discussion|debate)"
    r"|leave\s+a\s+(?:comment|reply)|have\s+your\s+say|what\s+do\s+you\s+think\??"
    r"|\d+\s+(?:comments?|replies))\W*$",
    re.I,
)
# A comment signature ("— name" then "4 years ago") marks a reader comment.
COMMENT_AUTHOR = re.compile(r"^[—–•·*-]\s*\S.{0,60}$")
RELATIVE_TIME = re.compile(r"^(?:an?|\d+)\s+(?:second|minute|hour|day|week|month|year)s?\s+ago\W*$", re.I)
CAPTION = re.compile(
    r"(?:\b(?:picture|photo|photograph|image|credit|illustration)s?\s*:\s*[A-Z(][^.]{0,80}\.?$"
    r"|\((?:[A-Z][\w.]*\s+)?(?:file\s+)?(?:photo|picture|image)s?\b[^)]{0,80}\)\W*$"
    r"|\|\s*(?:getty|reuters|afp|ap|epa)\b[^.]{0,40}$)",
    re.I,
)
BYLINE = re.compile(
    r"^(?:[Bb][Yy]|[Ww]ritten\s+by|[Aa]uthor:?)\s+(?P<name>[A-Z][\w.'’-]+(?:\s+(?:[A-Z][\w.'’-]+|de|van|von|al|bin|and|&)|,\s+[A-Z][\w.'’-]+\s+[A-Z][\w.'’-]+)*)"
    r"(?:\s*[,|•·-]\s*.{0,60})?$"
)
# "Jane Doe, Reuters" in a header block: an author and an outlet.
NAME_OUTLET = re.compile(
    r"^(?P<name>[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){1,19}),\s+(?P<outlet>[A-Z][\w&.'’-]*(?:\s+[\w&.'’-]+){0,4})$"
)
DATELINE_WORDS = re.compile(r"^(?:published|updated|posted|last\s+updated|first\s+published|date)\b\W*", re.I)
UPDATED_WORDS = re.compile(r"^(?:last\s+)?(?:updated|modified|edited)\b", re.I)
# Words a dateline carries besides the date: weekdays, times, zones.
DATE_WORD = re.compile(
    r"(?i:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?\.?|(?i:at|on|and)"
    r"|\d{1,2}(?:[:.]\d\d){1,2}(?:\.\d+)?(?i:am|pm|a\.m\.|p\.m\.)?|(?i:am|pm|a\.m\.|p\.m\.)"
    r"|[A-Z]{1,4}T|GMT|UTC|Z|[+-]\d\d:?\d\d|(?i:updated|published|posted)"
)
YEAR = re.compile(r"(?<!\d)(?:1[5-9]|20)\d\d(?!\d)")
DASH_END = re.compile(r"[—–-]\s*$")
URL = re.compile(r"https?://[^\s<>\"')\]]+")
CREDIT = re.compile(r"^(?:with\s+)?(?:additional\s+)?(?:reporting|writing|editing)\s+by\b.{0,160}$", re.I)
MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
# Page residue left in news text by exports: link lines ("More:Headline", "WATCH:Headline" with no
# space after the label), headline lists ("► ...", "∎ ..."), contributor and contact lines, video
# players, and newsletter promos. Lines that match are dropped at cleaning.
RESIDUE_LINE = re.compile(
    r"""^(?:
      (?i:more|also|related|watch|listen|previously|trending|recommended|don'?t\ miss|must\ read)\s*:.*
    | [A-Z][A-Za-z'’&\ ]{0,28}[A-Za-z'’]{3}:(?=[A-Z0-9"'‘“$])(?!\d\d\b).{3,}
    | (?i:click|tap)\ here\b.*
    | [►▶∎■▪□◆♦»]\s*[^.!?]{0,200}[!?]?
    | (?i:contributing(?:\ writers?|\ reporters?)?)\s*:.*
    | (?i:follow|reach|contact|email|e-mail|write\ to)\b.{0,160}(?i:@\w|\btwitter\b|\d{3}-\d{4}).{0,160}
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+\W*
    | (?i:(?:video\ )?ad\ feedback)\b.*
    | (?i:(?:video|watch|audio|play)\b.{0,150}\b\d{1,2}:\d\d\ -\ source)\b.*
    | [A-Z][A-Z.,'’\ ]+\ -\ [A-Z]+\ \d{1,2}:\ .*
    | [A-Z][^.!?—–]{0,50}\s[—–]
    )$""",
    re.X,
)
# A promo: the call to sign up or subscribe next to what it offers ("Sign up here", "subscribe to our
# newsletter", "delivered to your inbox ... Sign up").
PROMO = re.compile(
    r"\b(?:sign(?:ing)?\s+up|subscrib(?:e|ing))\W+(?:[\w'’]+\W+){0,6}?(?:newsletters?|inbox|here|today)\b"
    r"|\b(?:newsletters?|inbox)\W+(?:[\w'’]+\W+){0,8}?(?:sign(?:ing)?\s+up|subscrib(?:e|ing))\b",
    re.I,
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Words every PROMO match contains (keep in step with PROMO): searched for first, so the costly
# PROMO runs on few lines.
PROMO_WORD = re.compile(r"sign|subscrib", re.I)
NOTICE = re.compile(
    r"\b(?:copyright|all\s+rights\s+reserved|sign\s+(?:up|in)|log\s*in|subscri\w+|newsletter|cookies|click\s+here|read\s+more)\b",
    re.I,
)
SPEAKER = re.compile(r"^[A-Z][A-Z.'’\ -]{1,40}(?:,\s*[A-Z][A-Z.'’\ ()-]{1,40})?:\s")
LABEL_HEADLINE = re.compile(r"^[A-Z][A-Za-z'’&\ ]{1,30}:\s*\S.*[^.]$")


@dataclass(frozen=True)
class Cleaned:
    """Article body as paragraphs, plus metadata found in the text (None where not found)."""

    paragraphs: list[str]
    title: str | None = None
    published: date | None = None
    url: str | None = None
    author: str | None = None
    outlet: str | None = None


def normalize_line(line: str) -> str:
    """One line with Unicode compatibility forms folded and white space collapsed."""
    if not line.isascii():  # ASCII is already NFKC and has no zero-width characters
        line = unicodedata.normalize("NFKC", line).translate(ZERO_WIDTH)
    return " ".join(line.split())


def words(line: str) -> int:
    """Number of white-space separated words."""
    return len(line.split())


def clean_text(text: str, kind: str = "text") -> Cleaned:
    """Turn raw article text into clean paragraphs and detected metadata."""
    markdown = kind == "markdown"
    blocks = _blocks(text, markdown=markdown)
    blocks = _cut_comments(blocks)
    meta: dict[str, object] = {}
    # Metadata lines come out first, so a header block of short lines is not taken for a menu.
    blocks, header = _take_head_metadata(blocks, meta)
    blocks = [b for i, b in enumerate(blocks) if not _is_navigation(b, blocks[i - 1] if i else None)]
    blocks = [kept for b in blocks if (kept := _drop_furniture(b))]
    blocks = _take_title(blocks, meta, header, markdown)
    paragraphs = [p for b in blocks for p in _join_lines(b)]
    paragraphs = _cut_after_credit(paragraphs)
    title = meta.get("title")
    if not paragraphs and meta["_taken"]:
        # A record that is only a headline-like line or a dated line is text, not metadata over nothing.
        paragraphs = [line.lstrip("#").strip() for line in meta["_taken"]]  # type: ignore[attr-defined]
        title = None
    return Cleaned(
        paragraphs=paragraphs,
        title=title,  # type: ignore[arg-type]
        published=meta.get("published") or meta.get("updated"),  # type: ignore[arg-type]
        url=meta.get("url"),  # type: ignore[arg-type]
        author=meta.get("author"),  # type: ignore[arg-type]
        outlet=meta.get("outlet"),  # type: ignore[arg-type]
    )


@lru_cache(maxsize=65_536)  # a pure function of the text, asked for the same sentences question after question
def residue_score(sentence: str) -> float:
    """How much a sentence looks like page residue (0 = prose, 1 = certain residue), by kind of line.

    Kinds: link lines and headline lists, ALL-CAPS speaker labels (transcripts), bylines,
    contributor, photo and contact credits, newsletter promos, lines that are mostly a headline.
    """
    line = normalize_line(sentence)
    if not line:
        return 0.0
    if _is_residue_line(line) or FURNITURE.match(line) or CREDIT.match(line):
        return 1.0
    if (BYLINE.match(line) and words(line) <= 12) or (_caption(line) and words(line) <= 60):
        return 0.9
    if line[0] in "►▶∎■▪□◆♦»|":
        rest = line[1:].strip()
        if _is_residue_line(rest):
            return 1.0
        # A marked headline is a link list; a marked full sentence is a news bullet (live updates).
        return 0.2 if rest.endswith(TERMINAL) and words(rest) >= 8 else 0.9
    if SPEAKER.match(line):
        return 0.8
    if LABEL_HEADLINE.match(line) and line.split(":", 1)[0].isupper():
        return 0.8
    if line.count(" | ") >= 2 or (line.endswith(("...", "…")) and words(line) <= 25):
        return 0.6
    if line.endswith(TERMINAL) or BULLET.match(line) or YEAR.search(line):
        return 0.0
    tokens = re.findall(r"[A-Za-z][\w'’-]*", line)
    if len(tokens) >= 5:
        capitalised = sum(w[0].isupper() for w in tokens if len(w) > 3) / max(1, sum(len(w) > 3 for w in tokens))
        if capitalised >= 0.8:
            return 0.6  # Title Case Without A Full Stop: a headline, not a sentence
    return 0.0


def is_residue(sentence: str) -> bool:
    """True when a sentence is more likely page residue than prose."""
    return residue_score(sentence) >= 0.5


def _blocks(text: str, markdown: bool) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = normalize_line(raw)
        if markdown:
            line = _strip_markdown(line)
        if line:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _strip_markdown(line: str) -> str:
    line = MD_IMAGE.sub("", line)
    line = MD_LINK.sub(r"\1", line)
    line = re.sub(r"^>\s?", "", line)
    if re.fullmatch(r"[-*_=]{3,}|```.*", line):
        return ""
    # Emphasis marks are stripped outside URLs only ("feeds_main_page" in a link stays whole).
    parts = URL.split(line)
    urls = URL.findall(line)
    out = MD_EMPHASIS.sub(r"\2", parts[0])
    for url, part in zip(urls, parts[1:], strict=True):
        out += url + MD_EMPHASIS.sub(r"\2", part)
    return out.strip()


def _cut_comments(blocks: list[list[str]]) -> list[list[str]]:
    flat = [(b, i, line) for b, block in enumerate(blocks) for i, line in enumerate(block)]
    for n, (b, i, line) in enumerate(flat):
        start: tuple[int, int] | None = None
        if COMMENTS_START.match(line) and n > 0:
            start = (b, i)
        elif COMMENT_AUTHOR.match(line) and n + 1 < len(flat) and RELATIVE_TIME.match(flat[n + 1][2]):
            start = (b, i)
            # A short line just before the signature is the comment's title.
            if n > 0 and words(flat[n - 1][2]) <= 15:
                start = flat[n - 1][:2]
        if start is not None:
            sb, si = start
            kept = blocks[:sb] + ([blocks[sb][:si]] if si else [])
            return [block for block in kept if block]
    return blocks


def _is_navigation(block: list[str], previous: list[str] | None = None) -> bool:
    """Menus, promo boxes and header strips: several lines, most of them a few words long."""
    if len(block) < 3:
        return False
    if previous and previous[-1].endswith(":"):
        return False  # a list introduced by its paragraph ("The plan has three parts:")
    if (
        any(line.endswith(":") for line in block[:-1])
        or sum(line.endswith(TERMINAL) for line in block) > len(block) / 2
    ):
        return False  # a list under its own lead-in, or short sentences: content either way
    if any(
        (line[0] in ")]}.,;:" or line[0].isdigit()) and not BULLET.match(line) and not prev.endswith(TERMINAL)
        for prev, line in pairwise(block)
    ):
        return False  # a hard-wrapped paragraph ("... (CO" / "2) through ..."), not a menu
    bullets = sum(bool(BULLET.match(line)) for line in block)
    short = sum(words(line) <= 6 for line in block)
    return bullets < len(block) / 2 and short >= len(block) * 2 / 3


def _caption(line: str) -> bool:
    # Each of CAPTION's forms has a ":", "(" or "|": lines without one are not searched (the search is slow).
    return (":" in line or "(" in line or "|" in line) and CAPTION.search(line) is not None


def _is_residue_line(line: str) -> bool:
    if RESIDUE_LINE.match(line) and words(line) <= 60:
        return True
    if words(line) <= 8 and "@" in line and EMAIL.search(line):
        return True  # "Jo Writer, jo@example.com": a contact line
    return words(line) <= 50 and PROMO_WORD.search(line) is not None and PROMO.search(line) is not None


def _is_furniture(line: str) -> bool:
    if not any(ch.isalpha() for ch in line):
        # "2021-02-26" alone is a dateline and "1975–1983 ." a list item, not furniture.
        return find_date(line) is None and not YEAR.search(line)
    if _is_residue_line(line):
        return True
    if FURNITURE.match(line):
        # "Related species are found in Asia." is prose; notices and promos are furniture even as sentences.
        return not _is_sentence(line) or bool(NOTICE.search(line))
    return _caption(line) and words(line) <= 60


def _is_formula_piece(line: str) -> bool:
    """Digits and brackets inside a hard-wrapped paragraph ("(CH" / "3)" / "2CO)"): content, not furniture."""
    return not any(ch.isalpha() for ch in line) and any(ch.isdigit() for ch in line)


def _is_sentence(line: str) -> bool:
    tokens = line.split()
    return len(tokens) >= 6 and line.endswith((".", "!")) and sum(t[:1].islower() for t in tokens) >= 3


def _drop_furniture(block: list[str]) -> list[str]:
    kept: list[str] = []
    for i, line in enumerate(block):
        nxt = block[i + 1] if i + 1 < len(block) else ""
        # Image alt text repeated as the start of the caption line that follows it.
        if nxt.startswith(line) and len(nxt) > len(line) and _caption(nxt):
            continue
        if _is_furniture(line) and not (len(block) > 1 and _is_formula_piece(line)):
            continue
        kept.append(line)
    return kept


def _take_head_metadata(blocks: list[list[str]], meta: dict[str, object]) -> tuple[list[list[str]], list[str]]:
    """Take byline, dateline and URL lines from the head; also return the head lines around them.

    The head ends at the first long line (25 words) or after 12 lines. Header lines are the other
    short lines of blocks that held metadata, a one-line block just before such a block, and a
    headline-like one-line block just after it: the title, outlet or author are among them.
    """
    out: list[list[str]] = []
    head: list[tuple[list[str], bool]] = []  # per head block: its remaining head lines, held metadata
    taken: list[str] = []
    in_head = True
    seen = 0
    for block in blocks:
        kept: list[str] = []
        head_lines: list[str] = []
        found = False
        for line in block:
            seen += 1
            if in_head and (words(line) >= 25 or seen > 12):
                in_head = False
            if in_head and _take_meta_line(line, meta):
                found = True
                taken.append(line)
                continue
            if in_head:
                head_lines.append(line)
            kept.append(line)
        if head_lines or found:
            head.append((head_lines, found))
        if kept:
            out.append(kept)
    header: list[str] = []
    for i, (lines, found) in enumerate(head):
        before = i + 1 < len(head) and head[i + 1][1] and len(lines) == 1
        after = i > 0 and head[i - 1][1] and len(lines) == 1 and _looks_like_headline(lines[0], markdown=True)
        if found or before or after:
            header.extend(lines)
    meta["_taken"] = taken
    return out, header


def _take_meta_line(line: str, meta: dict[str, object]) -> bool:
    """Record a byline, dateline or URL line in `meta`; True when the line is only that."""
    if BULLET.match(line):
        return False  # a list item is content, whatever it holds
    if (m := BYLINE.match(line)) and words(line) <= 20:
        meta.setdefault("author", m.group("name"))
        return True
    if words(line) <= 16 and (found := find_date(line)):
        if DATELINE_WORDS.match(line) or _only_a_date(line):
            meta.setdefault("updated" if UPDATED_WORDS.match(line) else "published", found[0])
            return True
        return False
    if (m := URL.search(line)) and words(line) <= 6:
        meta.setdefault("url", m.group(0).rstrip(".,;>"))
        return True
    return False


def _only_a_date(line: str) -> bool:
    """A dateline: dates, times, weekdays, zones and at most three other words ("WASHINGTON, March 4, 2019")."""
    rest = line
    while found := find_date(rest):
        rest = rest[: found[1]] + " " + rest[found[2] :]
    others = [
        w for w in re.split(r"[\s,|·•]+", rest) if w.strip("-—–:()") and not DATE_WORD.fullmatch(w.strip("-—–:()"))
    ]
    return len(others) <= 3 and not (len(others) > 1 and line.rstrip().endswith((".", "!", "?")))


def _take_title(blocks: list[list[str]], meta: dict[str, object], header: list[str], markdown: bool) -> list[list[str]]:
    """Settle the title (and an outlet or "NAME, OUTLET" line) and take those lines out of the body."""
    taken: list[str] = []
    # In the header the title is the line that is neither an outlet nor an author line, whatever
    # its punctuation ("Gas prices are up. Here is why ...").
    candidates = [line for line in header if any(ch.isalpha() for ch in line) and not DASH_END.search(line)
                  and words(line) <= 40
                  and not (FURNITURE.match(line) and (words(line) <= 4 or NOTICE.search(line)))]  # fmt: skip
    names = [line for line in candidates if not NAME_OUTLET.match(line)]
    plain = [line for line in names if not _outlet_like(line)]
    title: str | None = None
    if plain:
        title = plain[0]
    elif len(names) > 1:
        title = max(names, key=words)  # "CNN" and "Squid Game Returns": the longer is the title
    elif names and not _all_capitalised(names[0]):
        title = names[0]
    elif not candidates and blocks and _looks_like_headline(blocks[0][0], markdown):
        nxt = blocks[0][1] if len(blocks[0]) > 1 else ""
        if not nxt or not (nxt[0].isdigit() or nxt[0].islower() or nxt[0] in ")]}.,;:"):  # "... (CO" then "2) and ..."
            title = blocks[0][0]
    if title is not None:
        meta["title"] = title.lstrip("#").strip()
        taken.append(title)
    for line in candidates:
        if line == title:
            continue
        if m := NAME_OUTLET.match(line):
            meta.setdefault("author", m.group("name"))
            meta.setdefault("outlet", m.group("outlet"))
            taken.append(line)
        elif _outlet_like(line):
            meta.setdefault("outlet", line)
            taken.append(line)
    for line in taken:
        for block in blocks:
            if line in block:
                block.remove(line)
                break
    meta["_taken"] = [*taken, *meta.get("_taken", [])]  # type: ignore[misc]
    out = []
    for block in blocks:
        if markdown:
            block = [line.lstrip("#").strip() if line.startswith("#") else line for line in block]
        if block:
            out.append(block)
    return out


def _all_capitalised(line: str) -> bool:
    return all(w[:1].isupper() or not w[:1].isalpha() for w in line.split())


def _outlet_like(line: str) -> bool:
    """A short capitalised name on its own line ("Reuters", "The Daily Star")."""
    return (
        words(line) <= 4
        and line[:1].isupper()
        and not line.endswith(TERMINAL)
        and not BULLET.match(line)
        and not any(ch.isdigit() or ch == ":" for ch in line)
    )


def _looks_like_headline(line: str, markdown: bool) -> bool:
    if markdown and line.startswith("# "):
        return True
    n = words(line)
    return (
        3 <= n <= 25
        and not line.rstrip("\"'”’)]").endswith((".", ",", ";", ":"))
        and not DASH_END.search(line)
        and line[:1].isupper()
        and not BULLET.match(line)
        and line.count("(") == line.count(")")
    )


def _join_lines(block: list[str]) -> list[str]:
    """Lines of one block as paragraphs: hard-wrapped prose is re-joined, other lines stand."""
    paragraphs: list[str] = []
    for line in block:
        if paragraphs and _continues(paragraphs[-1], line):
            paragraphs[-1] = f"{paragraphs[-1]} {line}"
        else:
            paragraphs.append(line)
    return paragraphs


def _continues(previous: str, line: str) -> bool:
    if BULLET.match(line):
        return False
    if line[:1].islower():
        return True
    return len(previous) >= 60 and not previous.endswith(TERMINAL)


def _cut_after_credit(paragraphs: list[str]) -> list[str]:
    """A wire credit ("With reporting by AP") ends the story; what follows is outlet boilerplate."""
    for i, paragraph in enumerate(paragraphs):
        if CREDIT.match(paragraph) and len(paragraphs) - i <= 4:
            return paragraphs[:i]
    return paragraphs
