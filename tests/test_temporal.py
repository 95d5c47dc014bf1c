"""Date-aware answers: "when", "first", "last" and years, on the seeds and on held-out text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.index.ingest import ingest
from retrieval.render import render_text
from tests.test_bot import BOT_USER, Harness, mention, start


def test_when_did_biden_first_strike_syria(seed_brief: Brief) -> None:
    result = seed_brief.ask("When did Biden first strike Syria?")
    assert result.answer is not None
    assert (result.answer.date, result.answer.date_label) == ("2021-02-26", "Friday 26 February 2021")
    cited = result.passages[result.answer.citation - 1]
    assert cited.outlet.startswith("BBC News")
    assert "first military action undertaken by the Biden administration" in result.answer.text
    assert result.to_dict()["answer"]["date"] == "2021-02-26"


def test_when_did_biden_last_strike_syria(seed_brief: Brief) -> None:
    result = seed_brief.ask("when did Biden last strike Syria?")
    assert result.answer is not None and result.answer.date == "2024-02-02"
    cited = result.passages[result.answer.citation - 1]
    assert cited.outlet == "Middle East Eye"
    assert "launched its first series of retaliatory strikes" in result.answer.text


def test_a_year_in_the_question_keeps_to_it(seed_brief: Brief) -> None:
    result = seed_brief.ask("When did Biden first strike Syria in 2023?")
    assert result.answer is not None and result.answer.date == "2023-03-24"
    assert result.passages[0].outlet == "Daily Mirror (via inkl)"


def test_when_question_states_the_resolved_date(seed_brief: Brief) -> None:
    result = seed_brief.ask("When did the attack on the US outpost in Jordan take place?")
    assert result.answer is not None and "took place on Sunday" in result.answer.text
    assert result.answer.date == "2024-01-28"  # the Sunday before the 2 Feb 2024 report
    text = render_text(result)
    assert text.startswith("Answer: Sunday 28 January 2024: The attack in Jordan took place on Sunday")
    assert "on Sunday [28 Jan 2024]" in text  # relative dates resolved in the quoted passage


@pytest.mark.xfail(strict=False, reason="issue 9 (open): the learned answer model, better on the dev sets, ranks this seed case lower; see the README Known limits")
def test_non_temporal_questions_carry_no_date(seed_brief: Brief) -> None:
    result = seed_brief.ask("What aircraft carried out the October 2023 precision strikes in Syria?")
    assert result.answer is not None and "F-16" in result.answer.text and result.answer.date is None


@pytest.fixture
def slack_seeds(seed_brief: Brief) -> Iterator[Harness]:
    yield from start(seed_brief.settings, seed_brief)


def test_slack_reply_names_the_date(slack_seeds: Harness) -> None:
    slack_seeds.send.event(mention(f"<@{BOT_USER}> when did Biden first strike Syria?"))
    (post,) = slack_seeds.fake.wait_for("chat.postMessage")
    answer = post["blocks"][0]["text"]["text"]
    assert answer.startswith("*Answer:* *Friday 26 February 2021:* The US military has carried out")
    assert post["text"].startswith("Answer: Friday 26 February 2021: ")


# --- the same reasoning on other text ----------------------------------------------------------
DOCKS = {
    "a.txt": (
        "2022-03-11",
        "Dock workers in Rotterdam walked out on Monday in the first strike at the port in a decade, "
        "halting container traffic at the largest port in Europe.\n\nUnions said the stoppage would last 48 hours.",
    ),
    "b.txt": (
        "2022-09-02",
        "Rotterdam dock workers went on strike again on Tuesday, their second stoppage this year, "
        "after talks on pay with port employers collapsed.\n\nShipping lines diverted vessels to Antwerp.",
    ),
    "c.txt": (
        "2023-01-20",
        "Dockers in Rotterdam staged another strike last week over pay and shift patterns, the union said, "
        "and warned of more walkouts in the spring.",
    ),
    "d.txt": (
        "2023-05-05",
        "Antwerp's port reported record container volumes in April, helped by new berths and a mild winter.",
    ),
}


@pytest.fixture(scope="module")
def docks(tmp_path_factory: pytest.TempPathFactory, settings_base: Settings, embedder: Embedder) -> Brief:
    folder = tmp_path_factory.mktemp("docks")
    rows = []
    for name, (published, text) in DOCKS.items():
        (folder / name).write_text(text, encoding="utf-8")
        rows.append(f'{{"file": "{name}", "title": null, "outlet": "Port Wire", "published": "{published}"}}')
    (folder / "sources.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    settings = settings_base.with_(index_dir=tmp_path_factory.mktemp("docks-index"))
    ingest([folder], settings, embedder=embedder)
    return Brief(settings, embedder)


def test_first_and_last_on_other_text(docks: Brief) -> None:
    first = docks.ask("When did Rotterdam dock workers first strike?")
    assert first.answer is not None and first.answer.date == "2022-03-07"  # the Monday before 11 March
    assert first.answer.date_label == "Monday 7 March 2022"
    last = docks.ask("When did Rotterdam dock workers last strike?")
    assert last.answer is not None and last.answer.date == "2023-01-09"  # "last week" of 20 Jan 2023
    assert last.answer.date_label == "week of 9 January 2023"
    in_2022 = docks.ask("When did Rotterdam dock workers last strike in 2022?")
    assert in_2022.answer is not None and in_2022.answer.date == "2022-08-30"


def test_quotes_carry_resolved_dates(docks: Brief, tmp_path: Path) -> None:
    text = render_text(docks.ask("When did Rotterdam dock workers first strike?"))
    assert "walked out on Monday [7 Mar 2022]" in text


def test_first_that_names_a_thing_does_not_order_events(docks: Brief, tmp_path: Path, settings_base: Settings) -> None:
    # "its first episode" names the thing asked about; it does not ask for the earliest event.
    # (RealTime QA had seven such questions answered with an older dated sentence.)
    folder = tmp_path / "shows"
    folder.mkdir()
    articles = {
        "a.txt": ("2022-08-23", "House of the Dragon brought in nearly 10 million viewers for its first episode on "
                                "Sunday night, HBO said, the biggest premiere for the network in years."),
        "b.txt": ("2019-11-14", "The first episode of the last fantasy hit brought in 8 million viewers, "
                                "Nielsen said."),
        "c.txt": ("2021-05-02", "Streaming services spent heavily on fantasy series in 2021, hoping for a hit."),
    }
    rows = []
    for name, (published, text) in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
        rows.append(f'{{"file": "{name}", "title": null, "outlet": "Screen Wire", "published": "{published}"}}')
    (folder / "sources.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    settings = settings_base.with_(index_dir=tmp_path / "index")
    ingest([folder], settings, embedder=docks.embedder)
    result = Brief(settings, docks.embedder).ask("Which show brought in 10 million viewers for its first episode?")
    assert result.answer is not None and "House of the Dragon" in result.answer.text
