"""Passages: an article's paragraphs, headings joined to what follows, long ones split to fit."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.read.articles import PARAGRAPH_SEPARATOR, Article
from retrieval.read.cleaning import TERMINAL, words
from retrieval.read.sentences import sentence_spans

TokenCounter = Callable[[Sequence[str]], list[int]]
MIN_WORDS = 8  # a paragraph shorter than this cannot stand alone as a passage
HEADING_WORDS = 16  # a line this short without closing punctuation is a heading


@dataclass(frozen=True)
class Passage:
    """A retrievable span of an article, with its offsets and sentence spans (passage-relative)."""

    id: str
    doc_id: str
    paragraph: int  # 1-based number of the article paragraph it starts in
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]


def rough_token_count(texts: Sequence[str]) -> list[int]:
    """An upper-bound-ish token estimate for tests and tools that run without the tokenizer."""
    return [int(len(t.split()) * 1.6) + 2 for t in texts]


def split_passages(article: Article, count_tokens: TokenCounter, max_tokens: int) -> list[Passage]:
    """Cut an article into passages of at most `max_tokens` tokens, at sentence boundaries."""
    units = _units(article.text)
    counts = count_tokens([article.text[a:b] for _, a, b in units])
    spans: list[tuple[int, int, int]] = []
    for (number, a, b), n in zip(units, counts, strict=True):
        if n <= max_tokens:
            spans.append((number, a, b))
        else:
            spans.extend((number, x, y) for x, y in _split_long(article.text, a, b, n, count_tokens, max_tokens))
    return [_passage(article, number, a, b) for number, a, b in spans]


def _units(text: str) -> list[tuple[int, int, int]]:
    """(paragraph number, start, end) of each paragraph, short fragments merged forward."""
    spans: list[tuple[int, int, int]] = []
    pos = 0
    for number, paragraph in enumerate(text.split(PARAGRAPH_SEPARATOR), start=1):
        spans.append((number, pos, pos + len(paragraph)))
        pos += len(paragraph) + len(PARAGRAPH_SEPARATOR)
    merged: list[tuple[int, int, int]] = []
    pending: tuple[int, int] | None = None  # (number, start) of fragments waiting for a body
    for number, a, b in spans:
        if pending is not None:
            number, a = pending
            pending = None
        if _is_fragment(text[a:b]) and (number, a, b) != spans[-1]:
            pending = (number, a)
            continue
        merged.append((number, a, b))
    if len(merged) >= 2 and _is_fragment(text[merged[-1][1] : merged[-1][2]]):
        # A trailing fragment has nothing to introduce; it closes the previous paragraph.
        number, a, _ = merged[-2]
        merged[-2:] = [(number, a, merged[-1][2])]
    return merged


def _is_fragment(paragraph: str) -> bool:
    n = words(paragraph)
    return n < MIN_WORDS or (n < HEADING_WORDS and not paragraph.rstrip().endswith(TERMINAL))


def _split_long(
    text: str, a: int, b: int, n_tokens: int, count_tokens: TokenCounter, max_tokens: int, depth: int = 0
) -> list[tuple[int, int]]:
    sentences = [(a + x, a + y) for x, y in sentence_spans(text[a:b])]
    sizes = count_tokens([text[x:y] for x, y in sentences])
    pieces: list[tuple[int, int]] = []
    for (x, y), size in zip(sentences, sizes, strict=True):
        if size <= max_tokens:
            pieces.append((x, y))
        else:
            pieces.extend(_split_words(text, x, y, size, max_tokens))
    sizes = count_tokens([text[x:y] for x, y in pieces])
    # Balanced chunks: aim for equal sizes rather than full chunks plus a runt.
    target = n_tokens / math.ceil(n_tokens / max_tokens)
    chunks: list[tuple[int, int]] = []
    start, total = pieces[0][0], 0
    prev_end = pieces[0][1]
    for (x, y), size in zip(pieces, sizes, strict=True):
        if total and (total + size > max_tokens or total >= target):
            chunks.append((start, prev_end))
            start, total = x, 0
        total += size
        prev_end = y
    chunks.append((start, prev_end))
    # Token counts are not additive across sentence joins; re-check and split again if needed.
    checked: list[tuple[int, int]] = []
    for (x, y), size in zip(chunks, count_tokens([text[x:y] for x, y in chunks]), strict=True):
        if size > max_tokens and len(chunks) > 1 and depth < 3:
            checked.extend(_split_long(text, x, y, size, count_tokens, max_tokens, depth + 1))
        elif size > max_tokens:
            checked.extend(_split_words(text, x, y, size, max_tokens))
        else:
            checked.append((x, y))
    return checked


def _split_words(text: str, a: int, b: int, n_tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    """A sentence too long for the window, cut at word boundaries into equal parts."""
    offsets = []
    pos = a
    for word in text[a:b].split():
        start = text.index(word, pos)
        offsets.append((start, start + len(word)))
        pos = start + len(word)
    parts = math.ceil(n_tokens / (max_tokens * 0.8))
    per = math.ceil(len(offsets) / parts)
    return [(offsets[i][0], offsets[min(i + per, len(offsets)) - 1][1]) for i in range(0, len(offsets), per)]


def _passage(article: Article, number: int, a: int, b: int) -> Passage:
    text = article.text[a:b]
    pid = hashlib.sha256(f"{article.doc_id}:{a}:{text}".encode()).hexdigest()[:16]
    return Passage(pid, article.doc_id, number, a, b, text, tuple(sentence_spans(text)))
