"""Raw documents: what each article file holds, before cleaning.

Reads `.txt`, `.md`, `.html`/`.htm`, `.json` and `.jsonl` files, with metadata from YAML front
matter, HTML markup, JSON fields or a `sources.jsonl` beside the file. Bad files raise
`SkipFile` with a reason; they never stop the others.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SOURCES_FILE = "sources.jsonl"
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES
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


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Supported article files under `paths` (recursive), and the paths that do not exist."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and is_article_file(p) and not _hidden(p.relative_to(path))
            )
        elif path.is_file():
            found.append(path)
        else:
            missing.append((str(path), "no such file or folder"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, missing


def is_article_file(path: Path) -> bool:
    """True for file types Brief reads (the metadata file `sources.jsonl` excluded)."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and path.name != SOURCES_FILE


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def load_sidecar(folder: Path) -> dict[str, dict[str, Any]]:
    """Metadata by file name from `folder/sources.jsonl`; malformed lines are ignored."""
    sidecar = folder / SOURCES_FILE
    entries: dict[str, dict[str, Any]] = {}
    if not sidecar.is_file():
        return entries
    for line in sidecar.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("file"), str):
            entries[record["file"]] = {k: record.get(k) for k in META_KEYS if k in record}
    return entries


def read_file(path: Path, max_bytes: int, sidecar: dict[str, Any] | None = None) -> FileRead:
    """Read one article file into documents; raises SkipFile for files that cannot be used."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror}") from exc
    if size == 0:
        raise SkipFile("empty file")
    if size > max_bytes:
        raise SkipFile(f"too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB)")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise SkipFile("binary file")
    text = decode(raw)
    if not text.strip():
        raise SkipFile("no text (only white space)")
    meta = {k: v for k, v in (sidecar or {}).items() if v not in (None, "")}
    fingerprint = hashlib.sha256(raw + json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()
    suffix = path.suffix.lower()
    skipped: list[tuple[str, str]] = []
    if suffix in JSON_SUFFIXES:
        documents = list(_json_documents(path, text, suffix == ".jsonl", meta, skipped))
        if not documents:
            reason = skipped[0][1] if len(skipped) == 1 else "no records with a `text` field"
            raise SkipFile(reason)
    elif suffix in HTML_SUFFIXES:
        documents = [Document(str(path), text, "html", meta=meta)]
    else:
        body, front = split_front_matter(text)
        kind = "markdown" if suffix in {".md", ".markdown"} else "text"
        documents = [Document(str(path), body, kind, meta={**meta, **_pick_meta(front)})]
    return FileRead(str(path), fingerprint, documents, skipped)


def decode(raw: bytes) -> str:
    """Bytes as text: UTF-8 (with or without BOM), UTF-16 with BOM; else SkipFile."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SkipFile("cannot decode as UTF-16") from exc
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


def split_front_matter(text: str) -> tuple[str, dict[str, Any]]:
    """Split YAML front matter (between `---` lines) from the body; bad YAML is left as text."""
    m = FRONT_MATTER.match(text)
    if not m:
        return text, {}
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return text, {}
    if not isinstance(data, dict):
        return text, {}
    return text[m.end() :], data


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
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SkipFile(f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc
        items = data if isinstance(data, list) else [data]
        records = list(enumerate(items, start=1))
    for n, record in records:
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            skipped.append((f"{path}:{n}", "record has no `text` string"))
            continue
        if not record["text"].strip():
            skipped.append((f"{path}:{n}", "record has empty `text`"))
            continue
        yield Document(str(path), record["text"], "json", record=n, meta={**meta, **_pick_meta(record)})
