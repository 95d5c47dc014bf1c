"""Sentence spans in news prose, aware of abbreviations, initials and quotes."""

from __future__ import annotations

import re

# Words after which a full stop does not end a sentence.
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sen", "rep", "gov", "gen", "col", "lt", "maj", "sgt",
    "capt", "cmdr", "adm", "st", "jr", "sr", "vs", "etc", "inc", "ltd", "co", "corp", "no",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "fig", "approx", "est", "dept", "univ", "rev", "hon", "pres", "ft", "mt",
}  # fmt: skip
# A sentence ends at . ! ? before white space and a capital; or, where a page lost the space
# ("partners.The Pentagon"), between a lower-case word and a capitalised one.
BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])|(?<=[a-z]{3}[.!?])(?=[A-Z][a-z])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences in `text`, covering all its words.

    A line break always ends a sentence (a heading joined to its paragraph stays apart).
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        spans.extend((offset + a, offset + b) for a, b in _line_spans(line))
        offset += len(line) + 1
    return spans


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    for m in BOUNDARY.finditer(text):
        if m.end() <= start or not _is_boundary(text, m.start()):
            continue
        spans.append((start, m.end()))
        start = _skip_space(text, m.end())
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`."""
    return [text[a:b] for a, b in sentence_spans(text)]


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _is_boundary(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return True
    m = re.search(r"([\w.]+)$", text[:dot])
    if not m:
        return True
    word = m.group(1)
    if word.lower() in ABBREVIATIONS:
        return False
    # Initials and dotted acronyms: "J. Smith", "U.S. forces", "a.m. local time".
    if len(word) == 1 and word.isupper():
        return False
    return not ("." in word and all(len(part) <= 2 for part in word.split(".") if part))
