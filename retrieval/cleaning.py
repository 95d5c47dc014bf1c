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

from retrieval.dates import find_date

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
    r"(?:\b(?:picture|photo|photograph|image|credit|illustration)s?\s*:\s*[^.]{1,80}\.?$"
    r"|\((?:file\s+)?(?:photo|picture|image)[^)]{0,60}\)\W*$"
    r"|\|\s*(?:getty|reuters|afp|ap|epa)\b[^.]{0,40}$)",
    re.I,
)
BYLINE = re.compile(
    r"^[Bb][Yy]\s+(?P<name>[A-Z][\w.'’-]+(?:\s+(?:[A-Z][\w.'’-]+|de|van|von|al|bin|and|&))*)"
    r"(?:\s*[,|•·-]\s*.{0,60})?$"
)
DATELINE_WORDS = re.compile(r"^(?:published|updated|posted|last\s+updated|first\s+published|date)\b\W*", re.I)
URL = re.compile(r"https?://[^\s<>\"')\]]+")
CREDIT = re.compile(r"^(?:with\s+)?(?:additional\s+)?(?:reporting|writing|editing)\s+by\b.{0,160}$", re.I)
MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")


@dataclass(frozen=True)
class Cleaned:
    """Article body as paragraphs, plus metadata found in the text (None where not found)."""

    paragraphs: list[str]
    title: str | None = None
    published: date | None = None
    url: str | None = None
    author: str | None = None


def normalize_line(line: str) -> str:
    """One line with Unicode compatibility forms folded and white space collapsed."""
    line = unicodedata.normalize("NFKC", line).translate(ZERO_WIDTH)
    return " ".join(line.split())


def words(line: str) -> int:
    """Number of white-space separated words."""
    return len(line.split())


def clean_text(text: str, kind: str = "text") -> Cleaned:
    """Turn raw article text into clean paragraphs and detected metadata."""
    blocks = _blocks(text, markdown=kind == "markdown")
    blocks = _cut_comments(blocks)
    blocks = [b for b in blocks if not _is_navigation(b)]
    meta: dict[str, object] = {}
    blocks = [kept for b in blocks if (kept := _drop_furniture(b))]
    blocks = _take_head_metadata(blocks, meta, markdown=kind == "markdown")
    paragraphs = [p for b in blocks for p in _join_lines(b)]
    paragraphs = _cut_after_credit(paragraphs)
    return Cleaned(
        paragraphs=paragraphs,
        title=meta.get("title"),  # type: ignore[arg-type]
        published=meta.get("published"),  # type: ignore[arg-type]
        url=meta.get("url"),  # type: ignore[arg-type]
        author=meta.get("author"),  # type: ignore[arg-type]
    )


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
    return MD_EMPHASIS.sub(r"\2", line).strip()


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


def _is_navigation(block: list[str]) -> bool:
    """Menus, promo boxes and header strips: several lines, most of them a few words long."""
    if len(block) < 3:
        return False
    bullets = sum(bool(BULLET.match(line)) for line in block)
    short = sum(words(line) <= 6 for line in block)
    return bullets < len(block) / 2 and short >= len(block) * 2 / 3


def _is_furniture(line: str) -> bool:
    if not any(ch.isalpha() for ch in line):
        return find_date(line) is None  # "2021-02-26" alone is a dateline, not furniture
    if FURNITURE.match(line):
        return True
    return bool(CAPTION.search(line)) and words(line) <= 60


def _drop_furniture(block: list[str]) -> list[str]:
    kept: list[str] = []
    for i, line in enumerate(block):
        nxt = block[i + 1] if i + 1 < len(block) else ""
        # Image alt text repeated as the start of the caption line that follows it.
        if nxt.startswith(line) and len(nxt) > len(line) and CAPTION.search(nxt):
            continue
        if _is_furniture(line):
            continue
        kept.append(line)
    return kept


def _take_head_metadata(blocks: list[list[str]], meta: dict[str, object], markdown: bool) -> list[list[str]]:
    """Find title, byline, dateline and URL among the lines before the body starts."""
    out: list[list[str]] = []
    in_head = True
    seen = 0
    for block in blocks:
        kept: list[str] = []
        for line in block:
            seen += 1
            if in_head and (words(line) >= 25 or seen > 12):
                in_head = False
            if not in_head:
                kept.append(line)
                continue
            if "author" not in meta and (m := BYLINE.match(line)) and words(line) <= 12:
                meta["author"] = m.group("name")
                continue
            if words(line) <= 16 and (found := find_date(line)):
                rest = (line[: found[1]] + line[found[2] :]).strip(" ,|-—·")
                if "published" not in meta and (DATELINE_WORDS.match(line) or words(rest) <= 8):
                    meta["published"] = found[0]
                if DATELINE_WORDS.match(line) or words(rest) <= 8:
                    continue
            if (m := URL.search(line)) and words(line) <= 6:
                meta.setdefault("url", m.group(0).rstrip(".,;"))
                continue
            if "title" not in meta and not out and not kept and _looks_like_headline(line, markdown):
                meta["title"] = line.lstrip("#").strip()
                continue
            if markdown and line.startswith("#"):
                line = line.lstrip("#").strip()
            kept.append(line)
        if kept:
            out.append(kept)
    return out


def _looks_like_headline(line: str, markdown: bool) -> bool:
    if markdown and line.startswith("# "):
        return True
    n = words(line)
    return 3 <= n <= 25 and not line.endswith((".", ",", ";", ":")) and line[:1].isupper()


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


RESIDUE = re.compile(
    r"^(?:more|read\s+more|see\s+also|related|contributing|photo|credit|watch|listen)\s*:"
    r"|∎|^[A-Z][A-Z .'’-]{2,40}:\s"
)


def residue_score(sentence: str) -> float:
    """1.0 for page residue that survived cleaning (link lines, credits, transcript labels), else 0.0."""
    return float(bool(RESIDUE.search(sentence.strip())))
