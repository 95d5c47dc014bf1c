"""Asking: hybrid search over the seeds, the answer line, the JSON shape, and bad questions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retrieval import Brief, Mode, Options, Settings, UsageError
from retrieval.embeddings import Embedder
from retrieval.index.ingest import ingest
from tests.conftest import qa_rows

ANSWERABLE = [q for q in qa_rows() if q["answer"] is not None]
LEARNED_RANKING_MISSES = {"seed-05", "seed-08"}  # measured 2026-11-22; see the README's Known limits
UNANSWERABLE = [q for q in qa_rows() if q["answer"] is None]


def norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.mark.parametrize("row", ANSWERABLE, ids=[q["id"] for q in ANSWERABLE])
def test_evidence_is_in_the_top_three(seed_brief: Brief, row: dict) -> None:
    if row["id"] in LEARNED_RANKING_MISSES:
        pytest.xfail("issue 9 (open): the learned answer model, better on the dev sets, cites this seed's evidence 4th-6th")
    result = seed_brief.ask(row["question"], k=5)
    top3 = [norm(p.text) for p in result.passages[:3]]
    assert any(norm(row["evidence"]) in text for text in top3), [p.text[:80] for p in result.passages[:3]]
    assert result.answer is not None
    cited = result.passages[result.answer.citation - 1]
    assert result.answer.text in cited.text  # the answer line quotes its citation


@pytest.mark.parametrize("row", UNANSWERABLE, ids=[q["id"] for q in UNANSWERABLE])
def test_unanswerable_gets_no_answer(seed_brief: Brief, row: dict) -> None:
    result = seed_brief.ask(row["question"])
    assert result.answer is None


@pytest.mark.parametrize("question", ["What is the capital of France?", "Who won the 2022 World Cup final?"])
def test_off_topic_questions_get_no_answer(seed_brief: Brief, question: str) -> None:
    assert seed_brief.ask(question).answer is None


def test_json_shape(seed_brief: Brief) -> None:
    data = seed_brief.ask("When did Biden first strike Syria?", k=3).to_dict()
    assert set(data) == {"question", "answer", "passages", "confidence"}  # "searched_for" only when a word was mended
    assert 0.0 < data["confidence"] <= 1.0
    assert set(data["answer"]) == {"text", "citation", "date"}
    assert data["answer"]["citation"] in {1, 2, 3}
    assert len(data["passages"]) == 3
    keys = {"n", "doc_id", "title", "outlet", "published", "url", "path", "paragraph", "text", "score"}
    for n, p in enumerate(data["passages"], start=1):
        assert set(p) == keys
        assert p["n"] == n and isinstance(p["score"], float) and isinstance(p["paragraph"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", p["published"])
        assert p["path"].endswith(".txt")
    first = data["passages"][data["answer"]["citation"] - 1]
    assert first["outlet"].startswith("BBC News")  # the first strike is the BBC's report


@pytest.mark.parametrize("mode", list(Mode))
def test_each_retrieval_mode_answers(seed_brief: Brief, mode: Mode) -> None:
    result = seed_brief.ask(
        "Which town on the Iraq border had weapons stores hit by F-16s?", options=Options(mode=mode)
    )
    assert any("Abu Kamal" in p.text for p in result.passages[:3])


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 1001, "1,001 characters long; the limit is 1,000")],
)
def test_bad_questions(seed_brief: Brief, question: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        seed_brief.ask(question)


def test_hostile_question_text_is_just_text(seed_brief: Brief) -> None:
    result = seed_brief.ask('<!channel> "; DROP TABLE passages; -- NEAR(strike) OR * \x00 <@U0123> F-16?')
    assert result.passages  # no FTS syntax error, no crash


def test_near_identical_passages_are_collapsed(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    story = (
        "Firefighters contained a wildfire near the town of Almora on Sunday after it burned for four days, "
        "officials said."
    )
    (folder / "a.txt").write_text(story, encoding="utf-8")
    (folder / "b.txt").write_text(story.replace("officials said", "officials said on Monday"), encoding="utf-8")
    ingest([folder], settings, embedder=embedder)
    result = Brief(settings, embedder).ask("When was the Almora wildfire contained?")
    assert sum("Almora" in p.text for p in result.passages) == 1


def test_how_many_prefers_a_number_before_the_counted_thing(seed_brief: Brief) -> None:
    result = seed_brief.ask("How many targets did US forces strike in Iraq and Syria after the attack in Jordan?")
    assert result.answer is not None and "more than 85 targets" in result.answer.text
    no_typing = seed_brief.ask(
        "How many targets did US forces strike in Iraq and Syria after the attack in Jordan?",
        options=Options(coverage=False),
    )
    assert no_typing.answer is not None  # the answer-type bonus rides on the coverage switch
