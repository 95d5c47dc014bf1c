"""Passages: headings join what follows, long paragraphs split within the model's window."""

from __future__ import annotations

from retrieval.embeddings import Embedder
from retrieval.read.articles import Article, content_id
from retrieval.read.passages import rough_token_count, split_passages


def article(paragraphs: list[str]) -> Article:
    text = "\n\n".join(paragraphs)
    return Article(content_id(text), "x.txt", None, text, None, None, None, None, None)


def test_heading_joins_the_next_paragraph_and_offsets_hold() -> None:
    a = article([
        "Ministers met in Brussels on Monday to agree a new budget for the coming year after months of talks.",
        "Farmers protest",
        "Thousands of farmers drove tractors into the city centre to protest against cuts to subsidies.",
        "Talks resume in March.",
    ])  # fmt: skip
    passages = split_passages(a, rough_token_count, 254)
    assert [p.paragraph for p in passages] == [1, 2]
    assert passages[1].text.startswith("Farmers protest\n\nThousands of farmers")
    # A trailing fragment closes the paragraph before it.
    assert passages[1].text.endswith("Talks resume in March.")
    for p in passages:
        assert a.text[p.start : p.end] == p.text
        assert all(p.text[x:y].strip() == p.text[x:y] for x, y in p.sentences)


def test_long_paragraph_splits_at_sentences_within_the_window(embedder: Embedder) -> None:
    sentences = [
        f"In district {i}, officials counted {i * 37} damaged homes and said repairs would take until the "
        f"end of the year, while aid groups asked for more tents, water and medical supplies."
        for i in range(40)
    ]
    a = article(["Storm damage.", " ".join(sentences)])
    passages = split_passages(a, embedder.count_tokens, embedder.max_tokens)
    counts = embedder.count_tokens([p.text for p in passages])
    assert len(passages) >= 4
    assert max(counts) <= embedder.max_tokens
    assert max(counts) - min(counts) < embedder.max_tokens / 2  # balanced, no runt
    for p in passages[1:]:
        assert p.text.startswith("In district")  # cut at sentence boundaries
        assert a.text[p.start : p.end] == p.text
    assert len({p.id for p in passages}) == len(passages)


def test_a_single_giant_sentence_is_cut_at_words(embedder: Embedder) -> None:
    a = article(["word " * 900 + "end."])
    passages = split_passages(a, embedder.count_tokens, embedder.max_tokens)
    assert max(embedder.count_tokens([p.text for p in passages])) <= embedder.max_tokens
    assert sum(len(p.text.split()) for p in passages) == 901
