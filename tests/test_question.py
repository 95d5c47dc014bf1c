"""Questions as people type them, on articles written for these tests (not the seeds).

Lower case, typos, the question's own date ("this week"), years that only name a thing, and
"I don't know" when the article that would answer is not in the corpus.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.index.ingest import ingest
from retrieval.read.dates import primary, resolve
from retrieval.read.temporal import parse_question
from retrieval.render import render_text
from retrieval.search.question import read_question

NEWSROOM = Path(__file__).resolve().parent / "data" / "newsroom"


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory, settings_base: Settings, embedder: Embedder) -> Brief:
    """A Brief over five short articles written for these tests."""
    settings = settings_base.with_(index_dir=tmp_path_factory.mktemp("newsroom-index"))
    ingest([NEWSROOM], settings, embedder=embedder)
    return Brief(settings, embedder)


def test_lower_case_gives_the_same_answer(newsroom: Brief) -> None:
    asked = "How many residents left their homes when Monte Alto erupted?"
    upper, lower = newsroom.ask(asked), newsroom.ask(asked.lower())
    assert upper.answer is not None and "3,200 residents" in upper.answer.text
    assert lower.answer == upper.answer
    assert [c.doc_id for c in lower.passages] == [c.doc_id for c in upper.passages]


def test_a_greeting_is_not_part_of_the_question(newsroom: Brief) -> None:
    asked = "How many residents left their homes when Monte Alto erupted?"
    plain, greeted = newsroom.ask(asked), newsroom.ask(f"Hello, {asked.lower()}")
    assert greeted.answer == plain.answer and greeted.searched_for is None  # "hello" is not mended to a corpus word


def test_the_answer_line_shows_only_when_the_fitted_precision_allows(newsroom: Brief) -> None:
    asked = "How many residents left their homes when Monte Alto erupted?"
    result = newsroom.ask(asked)
    assert result.answer is not None and result.confidence is not None
    strict = Brief(newsroom.settings.with_(answer_precision=1.0), newsroom.embedder)
    withheld = strict.ask(asked)
    assert withheld.answer is None and withheld.passages  # the same passages, listed as related
    assert render_text(withheld).startswith("The corpus holds no answer")


def test_a_typo_is_searched_as_the_corpus_word_and_the_reply_says_so(newsroom: Brief) -> None:
    result = newsroom.ask("When did the libary reopen?")
    assert result.searched_for == "When did the library reopen?"
    assert result.answer is not None and "reopened on Saturday" in result.answer.text
    assert render_text(result).startswith("Searched for: When did the library reopen?")
    assert result.to_dict()["searched_for"] == "When did the library reopen?"


def test_known_words_are_never_corrected(newsroom: Brief) -> None:
    reader = newsroom.reader()
    q = read_question(reader, "How much will the tram line cost?")
    assert q.corrections == () and q.search == q.text


def test_as_of_reads_recent_questions_against_the_day_asked() -> None:
    q = parse_question("Which volcano erupted this week?", date(2023, 3, 16))
    assert q.recent and q.as_of == date(2023, 3, 16) and q.order is None
    assert not parse_question("Which volcano erupted in 1987?", date(2023, 3, 16)).recent
    # News reports plans on the day it is asked: "soon", "next month", "later this year" are recent too.
    for planned in ("Which city will soon ban diesel buses?", "What will the museum open next month?",
                    "Which singer will tour later this year?", "Which upcoming film broke presale records?"):
        assert parse_question(planned, date(2023, 3, 16)).recent, planned
    assert not parse_question("Who will host the next World Cup?", date(2023, 3, 16)).recent
    # "last week" asks about a time, it does not ask for the latest event.
    assert parse_question("What did the council vote last week?", date(2023, 5, 8)).order is None
    assert parse_question("When did Monte Alto last erupt?").order == "last"


def test_only_a_first_or_last_that_modifies_the_verb_orders_events() -> None:
    orders = {
        "When did Monte Alto first erupt?": "first",
        "When was the dam last inspected?": "last",
        "When was the last time the ferry sank?": "last",
        "Which strike came first?": "first",
        "Which show drew 10 million viewers for its first episode?": None,  # names a thing
        "Who met the first lady of which country?": None,
        "What was the first vaccine approved for children?": None,
        "How much have prices risen over the last 12 months?": None,
        "How much aid has been sent since the beginning of the war?": None,
        "Vaccinations began for which age group this week?": None,
    }
    assert {q: parse_question(q).order for q in orders} == orders


def test_nothing_published_after_the_as_of_day_is_cited(newsroom: Brief) -> None:
    result = newsroom.ask("What happened under Monte Alto recently?", as_of=date(2023, 6, 1))
    assert result.passages and all(c.published <= "2023-06-01" for c in result.passages)
    later = newsroom.ask("What happened under Monte Alto recently?", as_of=date(2024, 1, 12))
    assert later.passages[0].published == "2024-01-09"  # the tremors, three days before the question


def test_a_year_that_names_a_thing_does_not_date_the_sentence() -> None:
    text = "The regional government cut sardine quotas on Friday, the third cut under a fisheries law passed in 1991."
    chosen = primary(resolve(text, date(2023, 5, 20)), text)
    assert chosen is not None and chosen.text == "Friday" and chosen.value == date(2023, 5, 19)
    for named in ("The 1991 law still applies.", "Rome's 2019 budget was late.", "An accord from 2015 was dropped."):
        assert primary(resolve(named, date(2023, 5, 20)), named) is None, named
    for dated in ("Congress passed the law in 1991.", "The deal was signed in 2015.", "In the summer of 2015 it rained."):
        found = primary(resolve(dated, date(2023, 5, 20)), dated)
        assert found is not None and found.precision == "year", dated


def test_first_is_the_event_date_not_a_year_mentioned(newsroom: Brief) -> None:
    result = newsroom.ask("When did fishermen first protest against the quotas?")
    assert result.answer is not None and result.answer.date == "2019-03-01", result.answer
    assert "first protest" in result.answer.text


def test_no_answer_when_the_answering_article_is_missing(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    folder = tmp_path / "articles"
    shutil.copytree(NEWSROOM, folder)
    (folder / "2023-03-14-alto-eruption.md").unlink()  # drop the gold article; the tremors article stays
    ingest([folder], settings, embedder=embedder)
    brief = Brief(settings, embedder)
    result = brief.ask("How many residents of Vessa were evacuated when Monte Alto erupted?")
    assert result.answer is None
    assert result.passages  # the nearest passages are still listed, as related
    assert render_text(result).startswith("The corpus holds no answer")


def test_hidden_articles_are_left_out_as_if_absent(newsroom: Brief) -> None:
    full = newsroom.ask("How many residents were evacuated when Monte Alto erupted?")
    assert full.answer is not None
    gold = frozenset({full.passages[0].doc_id})
    hidden = newsroom.ask("How many residents were evacuated when Monte Alto erupted?", hidden=gold)
    assert all(c.doc_id not in gold for c in hidden.passages)


def test_a_question_about_plans_cites_the_article_of_the_week_not_an_old_one(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "tech"
    folder.mkdir()
    (folder / "2013-08-11-phone.txt").write_text(
        "Phone maker sets its autumn event\n\n2013-08-11\n\n"
        "Lumen is widely expected to unveil its next-generation Lumen Phone 5 at an event on Sept. 10, "
        "people familiar with the plans said.\n",
        encoding="utf-8",
    )
    (folder / "2022-08-20-phone.txt").write_text(
        "Lumen invites press to September launch\n\n2022-08-20\n\n"
        "Lumen is expected to unveil the Lumen Phone 14 at an event on Sept. 7, according to invitations "
        "sent to reporters on Friday.\n",
        encoding="utf-8",
    )
    ingest([folder], settings, embedder=embedder)
    result = Brief(settings, embedder).ask(
        "Lumen is expected to unveil which new phone early next month?", as_of=date(2022, 8, 25)
    )
    assert result.passages[0].published == "2022-08-20"
    assert result.answer is not None and "Phone 14" in result.answer.text
