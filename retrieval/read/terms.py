"""Words: the one tokenizer for questions and sentences (stop words, light stems, query terms)."""

from __future__ import annotations

import re
from functools import lru_cache

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not of off on once only or other our out over own same she should so some
    such than that the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    according said says tell told much many
    """.split()  # noqa: SIM905
)
# Words that ask about time rather than name the topic ("recently", "this week"): not search terms.
TIME_WORDS = frozenset(
    """
    recently recent lately latest newest earliest first last initial initially today yesterday
    tonight week weeks month months year years ago now currently soon new
    """.split()  # noqa: SIM905
)


def words(text: str) -> list[str]:
    """The words of a text, in order, as written."""
    return WORD.findall(text)


def normalize(word: str) -> str:
    """A word in lower case with typographic apostrophes straightened."""
    return word.lower().replace("’", "'")


def query_terms(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Distinct lower-case words of a question worth matching (stop words dropped)."""
    seen: dict[str, None] = {}
    for word in WORD.findall(text.lower()):
        word = word.replace("’", "'")
        if word not in stopwords and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix-stripping stem, enough to match "strikes" with "strike" and "Biden's" with "Biden"."""
    word = normalize(word)
    for suffix in ("'s", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    """The stems of every word of a text."""
    return {stem(w) for w in WORD.findall(text)}
