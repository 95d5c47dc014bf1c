"""Sentence spans in news prose."""

from __future__ import annotations

from retrieval.read.sentences import sentence_spans, split_sentences


def test_abbreviations_initials_and_acronyms_do_not_split() -> None:
    text = (
        "U.S. President Joe Biden met Mr. Trudeau at 10 a.m. on Friday. "
        'Gen. Kenneth F. McKenzie said the strikes were "proportionate." '
        "Officials in the U.K. declined to comment! Was it 2.5 km away? Nobody knew."
    )
    assert split_sentences(text) == [
        "U.S. President Joe Biden met Mr. Trudeau at 10 a.m. on Friday.",
        'Gen. Kenneth F. McKenzie said the strikes were "proportionate."',
        "Officials in the U.K. declined to comment!",
        "Was it 2.5 km away?",
        "Nobody knew.",
    ]


def test_spans_cover_the_text() -> None:
    text = "  First one.  Second one without a stop"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["First one.", "Second one without a stop"]
