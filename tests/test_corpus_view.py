"""The corpus in view (issue 11): brief list / show / rm / export, and the failed questions of brief eval."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval import Brief, Options, Settings
from retrieval.cli import main
from retrieval.embeddings import Embedder
from retrieval.evaluation import EvalReport, evaluate, load_qa
from retrieval.index.ingest import ingest
from retrieval.index.store import ArticleFilter
from tests.conftest import run_cli

# What is cited is under test, not the answer line: the fitted answer model stays out.
CITED_ONLY = Options(coverage=False)
ARTICLES = {
    "bridge.txt": ("Harbor bridge reopens after repairs", "Coast Gazette", "2024-03-05",
                   "The Harbor bridge reopened to traffic on Tuesday after eight months of repairs to its steel deck.\n\n"
                   "Engineers replaced 40 cables and repainted the towers; the work cost 12 million dollars."),
    "apples.txt": ("Orchard growers report record apple harvest", "Valley Times", "2024-06-10",
                   "Apple growers in the valley picked a record 90,000 tonnes this season, helped by a mild spring.\n\n"
                   "Prices for Honeycrisp fell by a fifth as the fruit flooded local markets."),
    "library.txt": ("City council approves new library budget", "Coast Gazette", "2023-11-20",
                    "The city council voted 7 to 2 to fund a new public library in the harbor district.\n\n"
                    "Construction is expected to start next spring and to take two years."),
}  # fmt: skip


@pytest.fixture
def corpus(tmp_path: Path, backend_settings: Settings, embedder: Embedder) -> tuple[Path, Brief]:
    """Three articles with front matter, indexed with the real model (in the index folder, then in Postgres)."""
    settings = backend_settings
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, (title, outlet, published, body) in ARTICLES.items():
        front = f"---\ntitle: {title}\noutlet: {outlet}\npublished: {published}\n---\n"
        (folder / name).write_text(front + body + "\n", encoding="utf-8")
    report = ingest([folder], settings, embedder=embedder)
    assert report.added == 3, report.summary()
    return folder, Brief(settings, embedder)


def test_list_show_export_read_the_index_without_the_model(corpus: tuple[Path, Brief]) -> None:
    folder, brief = corpus
    bridge = brief.articles(ArticleFilter(text="harbor bridge"))[0]
    result = run_cli(
        brief.settings,
        ["list"],
        ["list", "--outlet", "coast gazette", "--json"],
        ["list", "--since", "2024-01-01", "--until", "2024-05-31", "--json"],
        ["list", "--text", "HONEYCRISP", "--json"],
        ["list", "--limit", "1", "--json"],
        ["show", bridge.doc_id[:7]],
        ["show", bridge.doc_id[:7], "--json"],
        ["show", "0000000000"],
        ["export"],
        ["export", "--no-text"],
        ["show", str(folder / "apples.txt"), "--json"],
    )
    assert result["heavy"] == []  # no torch, no sentence-transformers: answers at once
    table, outlet, span, text, limit, shown, shown_json, unknown, export, bare, by_path = result["runs"]
    assert [r["code"] for r in result["runs"]] == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]

    # the table: newest first, id, date, outlet, title, path
    header, *lines = table["out"].splitlines()
    assert header.split() == ["id", "date", "outlet", "title", "path"] and "3 article(s)" in table["err"]
    assert [line.split("  ")[1] for line in lines] == ["2024-06-10", "2024-03-05", "2023-11-20"]
    assert lines[1].startswith(bridge.doc_id) and "Coast Gazette" in lines[1]
    assert "Harbor bridge reopens after repairs" in lines[1] and lines[1].endswith("bridge.txt")

    def titles(run: dict) -> list[str]:
        return [json.loads(line)["title"] for line in run["out"].splitlines()]

    assert titles(outlet) == ["Harbor bridge reopens after repairs", "City council approves new library budget"]
    assert titles(span) == ["Harbor bridge reopens after repairs"]
    assert titles(text) == ["Orchard growers report record apple harvest"]  # found in the text, any case
    assert titles(limit) == ["Orchard growers report record apple harvest"]

    # show: metadata and passages with their paragraph numbers; a 7-character prefix is enough
    assert "Harbor bridge reopens after repairs" in shown["out"] and f"id: {bridge.doc_id}" in shown["out"]
    assert "published: 2024-03-05" in shown["out"] and "[¶1] The Harbor bridge reopened" in shown["out"]
    data = json.loads(shown_json["out"])
    assert data["doc_id"] == bridge.doc_id and data["outlet"] == "Coast Gazette"
    assert data["passages"][0]["paragraph"] == 1 and "steel deck" in data["passages"][0]["text"]
    assert "cost 12 million" in " ".join(p["text"] for p in data["passages"])
    assert unknown["out"] == "" and "no indexed article has the id or path '0000000000'" in unknown["err"]
    assert "brief list" in unknown["err"]
    assert json.loads(by_path["out"])["title"] == "Orchard growers report record apple harvest"

    # export: one JSON object per article with every field; --no-text leaves the text out
    rows = [json.loads(line) for line in export["out"].splitlines()]
    assert len(rows) == 3
    assert list(rows[0]) == ["doc_id", "title", "outlet", "published", "url", "author", "path", "record", "text"]
    assert rows[0]["published"] == "2023-11-20" and "7 to 2" in rows[0]["text"]
    assert all("text" not in json.loads(line) for line in bare["out"].splitlines())


def test_rm_publishes_a_version_without_the_article_and_remembers_it(
    corpus: tuple[Path, Brief], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, brief = corpus
    index = brief.settings.index_dir
    monkeypatch.setenv("BRIEF_DATABASE_URL", brief.settings.database_url or "")  # the same corpus for `brief`
    question = "When did the Harbor bridge reopen after repairs?"
    bridge = brief.articles(ArticleFilter(text="harbor bridge"))[0]
    assert brief.ask(question, options=CITED_ONLY).passages[0].doc_id == bridge.doc_id
    before = brief.stats().version

    assert main(["rm", bridge.doc_id[:8], "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "removed: Harbor bridge reopens after repairs (2024-03-05)" in out and "bridge.txt" in out
    assert "its file is still in the folder" in out and "index now holds 2 articles" in out
    assert brief.stats().version != before  # a new version, published the normal way
    assert all(p.doc_id != bridge.doc_id for p in brief.ask(question, options=CITED_ONLY).passages)  # the bot reloads it
    assert [a.title for a in brief.articles()] == [
        "Orchard growers report record apple harvest", "City council approves new library budget"
    ]  # fmt: skip

    # the file is still there: the next update does not bring it back, not even from a copy
    (folder / "bridge-copy.txt").write_bytes((folder / "bridge.txt").read_bytes())
    again = brief.ingest([folder])
    assert again.added == 0 and brief.stats().articles == 2
    assert any("bridge-copy.txt" in path and "taken out with `brief rm`" in why for path, why in again.skipped)

    # a rebuild keeps it out too; --restore lists removals and undoes one, and the next ingest adds it back
    assert brief.ingest([folder], rebuild=True).articles_total == 2
    assert main(["rm", "--restore", "--index", str(index)]) == 0
    assert capsys.readouterr().out.startswith(f"{bridge.doc_id}  Harbor bridge reopens after repairs")
    assert main(["rm", "--restore", bridge.doc_id[:6], "--index", str(index)]) == 0
    assert "restored: Harbor bridge reopens after repairs" in capsys.readouterr().out
    assert brief.ingest([folder]).articles_total == 3
    assert brief.ask(question, options=CITED_ONLY).passages[0].doc_id == bridge.doc_id

    # by path; an unknown id changes nothing and exits 1
    assert main(["rm", str(folder / "apples.txt"), "--index", str(index)]) == 0
    assert "removed: Orchard growers report record apple harvest" in capsys.readouterr().out
    version = brief.stats().version
    assert main(["rm", "ffffffffff", "--index", str(index)]) == 1
    assert "no indexed article has the id or path 'ffffffffff'" in capsys.readouterr().err
    assert brief.stats().version == version and brief.stats().articles == 2
    assert main(["rm", "--index", str(index)]) == 2  # nothing named: a usage error that says what to name
    assert "brief rm ID|PATH" in capsys.readouterr().err


def test_eval_lists_the_failed_questions(corpus: tuple[Path, Brief], tmp_path: Path) -> None:
    _, brief = corpus
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"id": "found", "question": "How many tonnes of apples were picked?", "answer": "90,000 tonnes",
         "evidence": "picked a record 90,000 tonnes", "kind": "how-many"},
        {"id": "lost", "question": "Who won the chess championship in Oslo?", "answer": "Magnus",
         "evidence": "Magnus won the championship in Oslo", "kind": "who"},
    ]  # fmt: skip
    qa.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = evaluate(brief, load_qa(qa), CITED_ONLY, progress=False)
    (failed,) = report.failures
    assert failed.id == "lost" and failed.question == "Who won the chess championship in Oslo?"
    assert failed.reasons[0].startswith("evidence not in the top")
    assert failed.expected_evidence == "Magnus won the championship in Oslo"
    assert 1 <= len(failed.citations) <= 3 and all(len(c["text"] or "") <= 150 for c in failed.citations)
    assert {c["outlet"] for c in failed.citations} <= {"Coast Gazette", "Valley Times"}

    data = report.to_dict()
    assert list(data) == ["options", "overall", "by_kind", "items", "failures"]  # the old keys unchanged
    assert data["failures"][0]["id"] == "lost" and len(data["items"]) == 2
    text = report.failed_text()
    assert text.startswith("Failed questions: 1") and "expected evidence: Magnus won" in text
    assert "[1] " in text and "found [how-many]" not in text

    many = EvalReport(report.options, report.overall, report.by_kind, report.items,
                      [replace(failed, id=f"q{n}") for n in range(53)])  # fmt: skip
    shown = many.failed_text()
    assert "q49 [who]" in shown and "q50 [who]" not in shown and "... and 3 more" in shown
    assert len(many.to_dict()["failures"]) == 53


def test_stats_missing_names_the_articles_without_a_date(corpus: tuple[Path, Brief]) -> None:
    folder, brief = corpus
    assert brief.missing_metadata() == [] and brief.stats().undated == 0
    (folder / "ferry-note.txt").write_text(
        "Ferry timetable\n\nThe harbor ferry will run every forty minutes through the winter, the operator said.\n",
        encoding="utf-8",
    )
    assert brief.ingest([folder]).added == 1
    (gap,) = brief.missing_metadata()
    assert gap.path.endswith("ferry-note.txt") and gap.published is None and brief.stats().undated == 1
