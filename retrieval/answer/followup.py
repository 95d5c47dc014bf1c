"""Follow-ups: a short reply in a conversation read against the question before it, without an LLM.

"and the last time?" after "when did the US first strike Syria under Biden?" becomes "when did the
US last strike Syria under Biden?"; "who claimed it?" has its pronoun replaced by the previous
question's topic; "what about 2023?" is the previous question with the year swapped (or added).
A reply that names its own subject is left as it is (with the topic alongside when it also says "it").
"""

from __future__ import annotations

import re

ORDINALS = {"first": "first", "earliest": "first", "last": "last", "latest": "last", "most recent": "last"}
ORDINAL = re.compile(r"\b(first|earliest|last|latest|most recent)\b", re.I)
YEAR = re.compile(r"\b(19[5-9][0-9]|20[0-9][0-9])\b")
MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
PERIOD = re.compile(rf"\b(?:(?:in|on|during)\s+)?(?:{MONTH}\s+)?(?:19[5-9][0-9]|20[0-9][0-9])\b", re.I)
# "and the last time?", "what about the first one?", "the latest?": only an ordinal, nothing else.
ORDINAL_ONLY = re.compile(
    r"^(?:and|but|ok|so|then)?\s*(?:what about|how about|when was)?\s*(?:the\s+)?"
    r"(first|earliest|last|latest|most recent)(?:\s+(?:time|one|strike|attack|occasion))?\s*(?:then)?$",
    re.I,
)
# "what about 2023?", "and in June 2021?", "how about 2024": a period and filler words only.
PERIOD_ONLY = re.compile(rf"^(?:and|but|so)?\s*(?:what about|how about)?\s*((?:in|on|during)\s+)?((?:{MONTH}\s+)?"
                         r"(?:19[5-9][0-9]|20[0-9][0-9]))\s*(?:then)?$", re.I)  # fmt: skip
PRONOUN = re.compile(r"\b(it|that|this|they|them|those|these)\b", re.I)
TIMELINE = re.compile(r"^(?:(?:show|give|draw)\s+(?:me\s+|us\s+)?)?(?:a\s+|the\s+)?timeline(?:\s+please)?$", re.I)
WH = re.compile(r"^(?:when|where|who|whom|what|which|why|how(?:\s+many|\s+much)?)\b\s*", re.I)
AUX = re.compile(r"^(?:did|does|do|was|were|is|are|has|have|had|will|would|could|can)\b\s*", re.I)
# Words that make a reply a question of its own: a capitalised name (not the sentence's first
# word), a number or a year. A reply with one of these is not read against the thread.
OWN_SUBJECT = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][a-zA-Z-]+|\b\d+\b")
SHORT = 7  # words: longer replies without a pronoun are questions of their own


def _clean(text: str) -> str:
    return " ".join(text.split()).strip().rstrip("?.! ").strip()


def topic(question: str) -> str:
    """The subject of a question: its words without the question word and auxiliary
    ("when did the US first strike Syria?" → "the US first strike Syria")."""
    text = _clean(question)
    text = AUX.sub("", WH.sub("", text))
    return text or _clean(question)


def is_timeline(text: str) -> bool:
    """Whether a reply asks for the thread topic's timeline ("timeline", "show me a timeline")."""
    return bool(TIMELINE.match(_clean(text)))


def timeline_topic(question: str) -> str:
    """The topic a timeline of the thread is about: the question's subject, without first/last or years."""
    text = PERIOD.sub("", ORDINAL.sub("", topic(question)))
    return " ".join(text.split()) or topic(question)


def resolve(previous: str, reply: str) -> str:
    """`reply` read as a follow-up of `previous` (both as typed); the reply itself when it stands alone."""
    prev, text = _clean(previous), _clean(reply)
    if not prev or not text:
        return reply.strip()
    ordinal = ORDINAL_ONLY.match(text)
    if ordinal:
        wanted = ORDINALS[ordinal.group(1).lower()]
        if ORDINAL.search(prev):
            return ORDINAL.sub(wanted, prev, count=1) + "?"
        return f"{prev} the {wanted} time?"
    period = PERIOD_ONLY.match(text)
    if period:
        when = period.group(2)
        if PERIOD.search(prev):
            return PERIOD.sub(lambda m: _keep_preposition(m.group(0), when), prev, count=1) + "?"
        return f"{prev} in {when}?"
    own = OWN_SUBJECT.search(text)
    if PRONOUN.search(text):
        if own:  # "what did the Pentagon call it?": "it" may be the reply's own; the topic goes alongside
            return f"{text} ({topic(prev)})?"
        return PRONOUN.sub(topic(prev), text, count=1) + "?"
    if own:
        return reply.strip()
    if len(text.split()) <= SHORT:
        # "who claimed the attack?": a short reply with no subject of its own is about the thread's topic.
        return f"{text} ({topic(prev)})?"
    return reply.strip()


def _keep_preposition(found: str, when: str) -> str:
    head = re.match(r"(?i)(in|on|during)\s+", found)
    return (head.group(0) if head else "") + when
