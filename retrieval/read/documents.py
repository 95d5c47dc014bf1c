"""Raw documents: what each article file holds, before cleaning.

Reads `.txt`, `.md`, `.html`/`.htm`, `.json`, `.jsonl`, `.pdf` and `.docx` files, with metadata
from YAML front matter, HTML markup, JSON fields or a `sources.jsonl` beside the file. Bad files
raise `SkipFile` with a reason; they never stop the others.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

SOURCES_FILE = "sources.jsonl"
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl"}
OFFICE_SUFFIXES = {".pdf", ".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | OFFICE_SUFFIXES
FRONT_MATTER_MAX_CHARS = 64 * 1024
JSON_TOO_DEEP = "JSON nested too deeply (arrays or objects hundreds of levels deep); an article record is flat"
# Longest declared value kept per field: a title is a line, not a document. Longer titles, outlets
# and authors are cut at a word with "…"; a longer URL or date cannot be right and is dropped.
META_MAX_CHARS = {"title": 500, "outlet": 200, "author": 300, "url": 2048, "published": 100}
META_KEYS = ("title", "outlet", "published", "url", "author")
# Alternative names for the metadata fields found in JSON exports, news APIs and front matter,
# compared with case, "_", "-", ":" and "." ignored (so `publishedAt`, `published_at` and
# `article:published_time` are one spelling each). Earlier names win.
META_ALIASES = {
    "outlet": ("outlet", "source", "sourcename", "site", "sitename", "ogsitename", "publisher", "newspaper"),
    "published": ("published", "publishdate", "publishedat", "datepublished", "publicationdate", "pubdate",
                  "publishedtime", "articlepublishedtime", "publishedon", "date", "created", "createdat",
                  "time", "timestamp"),
    "title": ("title", "headline", "ogtitle"),
    "url": ("url", "canonicalurl", "canonical", "link", "permalink", "ogurl", "sourceurl", "articleurl", "href"),
    "author": ("author", "authors", "byline", "creator", "writer", "by"),
}  # fmt: skip


class SkipFile(Exception):
    """A file (or record) that cannot be ingested; the message is the reason."""


@dataclass(frozen=True)
class Document:
    """One article as read from a file: raw text plus whatever metadata was declared."""

    path: str
    text: str
    kind: str  # "text", "markdown", "html" or "json"
    record: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRead:
    """What one file yielded: documents, per-record skips and a fingerprint of its inputs."""

    path: str
    fingerprint: str
    documents: list[Document]
    skipped: list[tuple[str, str]]


def discover(
    paths: Iterable[Path], follow_symlinks: bool = False
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Article files under `paths` (recursive), and what was passed over, each with its reason.

    Missing paths, unreadable folders, dangling links, link loops, links out of a folder (unless
    `follow_symlinks`) and files of other types are reported; hidden files and `sources.jsonl`
    are passed over silently.
    """
    found: list[Path] = []
    passed: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            files, problems = walk(path, follow_symlinks)
            passed.extend(problems)
            for p in files:
                if is_article_file(p):
                    found.append(p)
                elif p.name != SOURCES_FILE:
                    passed.append((str(p), unsupported(p)))
        elif path.is_file():
            found.append(path)
        elif path.is_symlink():
            passed.append((str(path), _link_problem(path)))
        else:
            passed.append((str(path), "no such file or folder"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, passed


def is_article_file(path: Path) -> bool:
    """True for file types Brief reads (the metadata file `sources.jsonl` excluded)."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and path.name != SOURCES_FILE


def unsupported(path: Path) -> str:
    """Why a file of another type is passed over."""
    kind = path.suffix.lower() or "no extension"
    return f"unsupported format ({kind}); Brief reads {' '.join(sorted(SUPPORTED_SUFFIXES))}"


def walk(root: Path, follow_symlinks: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every regular, non-hidden file under `root`, and what could not be followed, with reasons.

    Symbolic links are followed inside `root`; one whose target lies outside it only with
    `follow_symlinks`. Each folder is read once, so a link loop stops where it closes.
    """
    top = root.resolve()
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: dict[tuple[int, int], Path] = {}  # each folder read, by identity, with the path it was read at
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append((str(folder), f"cannot read folder: {_why(exc)}"))
            continue
        if (first := seen.get((st.st_dev, st.st_ino))) is not None:
            looped = folder.is_relative_to(first)
            problems.append((str(folder), f"symbolic link loop (back to {first})" if looped
                             else f"symbolic link to a folder already read as {first}"))  # fmt: skip
            continue
        seen[(st.st_dev, st.st_ino)] = folder
        subfolders: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                mode = entry.stat().st_mode  # follows links
            except OSError as exc:
                problems.append((str(path), _link_problem(path) if entry.is_symlink() else f"cannot read: {_why(exc)}"))
                continue
            if entry.is_symlink() and not follow_symlinks and not (target := path.resolve()).is_relative_to(top):
                problems.append((str(path), f"symbolic link to {target}, outside {root}; set BRIEF_FOLLOW_SYMLINKS=1 to follow it"))  # fmt: skip
            elif stat.S_ISDIR(mode):
                subfolders.append(path)
            elif stat.S_ISREG(mode):
                files.append(path)
            else:
                problems.append((str(path), "not a regular file (a device, pipe or socket)"))
        stack.extend(reversed(subfolders))
    return sorted(files), problems


def _link_problem(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if isinstance(exc, FileNotFoundError):
            return f"dangling symbolic link (its target {os.readlink(path)} does not exist)"
        return f"cannot read: {_why(exc)}"
    return "symbolic link"


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied; make it readable by the user running Brief"
    if isinstance(exc, FileNotFoundError):
        return "it vanished before it could be read (deleted or moved)"
    return exc.strerror or str(exc)


def load_sidecar(folder: Path) -> dict[str, dict[str, Any]]:
    """Metadata by file name from `folder/sources.jsonl`; malformed lines are ignored.

    Raises SkipFile when the file exists but cannot be read.
    """
    sidecar = folder / SOURCES_FILE
    entries: dict[str, dict[str, Any]] = {}
    if not sidecar.is_file():
        return entries
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SkipFile(f"cannot read: {_why(exc)}") from exc
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("file"), str):
            entries[record["file"]] = {k: record.get(k) for k in META_KEYS if k in record}
    return entries


def read_file(path: Path, max_bytes: int, sidecar: dict[str, Any] | None = None) -> FileRead:
    """Read one article file into documents; raises SkipFile for files that cannot be used."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise SkipFile("empty file")
        if size > max_bytes:
            raise SkipFile(f"too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"cannot read: {_why(exc)}") from exc
    meta = {k: v for k, v in (sidecar or {}).items() if v not in (None, "")}
    fingerprint = hashlib.sha256(raw + json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()
    suffix = path.suffix.lower()
    if suffix in OFFICE_SUFFIXES:
        from retrieval.read import office  # pypdf and python-docx: 0.25 s to import, so only for such files

        try:
            text = office.pdf_text(raw) if suffix == ".pdf" else office.docx_text(raw)
        except office.Unreadable as exc:
            raise SkipFile(str(exc)) from exc
        return FileRead(str(path), fingerprint, [Document(str(path), text, "text", meta=_capped(meta))], [])
    text = decode(raw)
    if not text.strip():
        raise SkipFile("no text (only white space)")
    skipped: list[tuple[str, str]] = []
    if suffix in JSON_SUFFIXES:
        documents = list(_json_documents(path, text, suffix == ".jsonl", meta, skipped))
        if not documents:
            reason = skipped[0][1] if len(skipped) == 1 else "no records with a `text` field"
            raise SkipFile(reason)
    elif suffix in HTML_SUFFIXES:
        documents = [Document(str(path), text, "html", meta=_capped(meta))]
    else:
        body, front = split_front_matter(text)
        kind = "markdown" if suffix in {".md", ".markdown"} else "text"
        documents = [Document(str(path), body, kind, meta=_capped({**meta, **_pick_meta(front)}))]
    return FileRead(str(path), fingerprint, documents, skipped)


BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(raw: bytes) -> str:
    """Bytes as text: UTF-8 (with or without BOM), UTF-16 or UTF-32 with BOM, plain cp1252; else SkipFile."""
    for bom, codec in BOMS:  # before the binary test: UTF-16 and UTF-32 are full of NUL bytes
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise SkipFile(f"starts with a {codec.upper()} byte-order mark but cannot be decoded as {codec.upper()}") from exc
    if b"\x00" in raw[:8192]:
        raise SkipFile("binary file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Legacy single-byte text (cp1252) is common in news exports; accept it only if it looks
    # like prose rather than random bytes.
    candidate = raw.decode("cp1252", errors="replace")
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in candidate)
    if "\ufffd" not in candidate and printable / max(1, len(candidate)) > 0.98:
        return candidate
    raise SkipFile("not valid UTF-8 text (undecodable bytes)")


FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.S)


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML that refuses aliases: `*a` repeating an anchored list can expand a few hundred
    bytes into gigabytes (the "billion laughs"), and article metadata never needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent) and self.peek_event().anchor in self.anchors:
            raise SkipFile(
                "YAML front matter uses an alias (*name), which Brief refuses; write the value out instead"
            )
        return super().compose_node(parent, index)


def split_front_matter(text: str) -> tuple[str, dict[str, Any]]:
    """Split YAML front matter (between `---` lines) from the body; bad YAML is left as text.

    Raises SkipFile for front matter that is over-long, uses aliases or nests too deeply.
    """
    m = FRONT_MATTER.match(text)
    if not m:
        return text, {}
    if len(m.group(1)) > FRONT_MATTER_MAX_CHARS:
        raise SkipFile(f"YAML front matter longer than {FRONT_MATTER_MAX_CHARS // 1024} KB; keep it to a few fields")
    try:
        data = yaml.load(m.group(1), Loader=_FrontMatterLoader)
    except yaml.YAMLError:
        return text, {}
    except RecursionError as exc:
        raise SkipFile("YAML front matter nested too deeply") from exc
    if not isinstance(data, dict):
        return text, {}
    return text[m.end() :], data


def _capped(meta: dict[str, Any]) -> dict[str, Any]:
    """Declared metadata within META_MAX_CHARS per field (dates and numbers pass as they are)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        limit = META_MAX_CHARS.get(key)
        if limit is None or isinstance(value, (date, int, float)):
            out[key] = value
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text) <= limit:
            out[key] = text
        elif key in ("title", "outlet", "author"):
            out[key] = text[: limit - 3].rsplit(" ", 1)[0].rstrip() + "…"  # "..." once normalised
        # a URL or date this long cannot be right: dropped
    return out


def _pick_meta(record: dict[str, Any]) -> dict[str, Any]:
    keys = {_key(k): v for k, v in reversed(list(record.items())) if isinstance(k, str)}
    meta: dict[str, Any] = {}
    for field_name, aliases in META_ALIASES.items():
        for alias in aliases:
            value = _meta_value(keys.get(alias))
            if value not in (None, ""):
                meta[field_name] = value
                break
    return meta


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _meta_value(value: Any) -> Any:
    """A declared value as one scalar: `{"name": ...}` objects and lists of names become text."""
    if isinstance(value, dict):
        # News APIs nest the outlet and authors: {"source": {"id": null, "name": "BBC News"}}.
        for inner in ("name", "title", "url", "href", "value"):
            if value.get(inner) not in (None, ""):
                return _meta_value(value[inner])
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in map(_meta_value, value) if v not in (None, "")]
        return ", ".join(parts) or None
    if isinstance(value, str):
        return value.strip() or None
    return value


def _json_documents(
    path: Path, text: str, lines: bool, meta: dict[str, Any], skipped: list[tuple[str, str]]
) -> Iterator[Document]:
    records: list[tuple[int, Any]] = []
    if lines:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                skipped.append((f"{path}:{n}", f"invalid JSON ({exc.msg})"))
            except RecursionError:
                skipped.append((f"{path}:{n}", JSON_TOO_DEEP))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SkipFile(f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc
        except RecursionError as exc:
            raise SkipFile(JSON_TOO_DEEP) from exc
        items = data if isinstance(data, list) else [data]
        records = list(enumerate(items, start=1))
    for n, record in records:
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            skipped.append((f"{path}:{n}", "record has no `text` string"))
            continue
        if not record["text"].strip():
            skipped.append((f"{path}:{n}", "record has empty `text`"))
            continue
        yield Document(str(path), record["text"], "json", record=n, meta=_capped({**meta, **_pick_meta(record)}))
