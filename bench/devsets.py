"""The public dev sets in ../shared/eval as Brief corpora and questions, indexed once and cached.

RealTime QA (real news), SQuAD dev and TimeQA are read from ../shared and never committed.
Indexes live in bench/results/ (ignored by git). Embeddings are cached by passage text in
bench/results/embeddings.sqlite, so re-indexing after a cleaning change embeds only what changed;
timing benchmarks do not use the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
RTQA = EVAL / "realtimeqa_dev"
SQUAD = EVAL / "squad_dev"
TIMEQA = EVAL / "timeqa_dev"
CACHE = ROOT / "bench" / "results"


@dataclass(frozen=True)
class DevQuestion:
    """A dev-set question with what counts as right: answer strings and gold articles/records."""

    qid: str
    question: str
    answers: tuple[str, ...]
    gold: tuple[str, ...]  # RealTime QA doc ids, SQuAD pids or TimeQA pids
    as_of: str | None = None  # ISO date the question was asked
    group: str = ""  # the article (SQuAD title, TimeQA page) or week it belongs to, for splits


def available(name: str) -> bool:
    """True when the dev set's files are present in ../shared/eval."""
    folder = {"rtqa": RTQA, "squad": SQUAD, "timeqa": TIMEQA}[name]
    return folder.is_dir() and any(folder.iterdir())


def _iso(value: str | None) -> str | None:
    return value.replace("/", "-")[:10] if value else None


def rtqa_articles() -> list[dict[str, Any]]:
    """RealTime QA articles as Brief JSONL records; titles blanked, as every evaluation of Brief does."""
    with gzip.open(RTQA / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [
        {"text": r["text"], "title": None, "published": _iso(r.get("publish_date")), "url": r.get("url"),
         "doc_key": r["doc_id"]}
        for r in rows
    ]  # fmt: skip


def rtqa_questions() -> list[DevQuestion]:
    """RealTime QA questions with their question date as as-of, grouped by week (the qid's date)."""
    out = []
    for line in (RTQA / "questions.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        out.append(
            DevQuestion(q["qid"], q["question"], tuple(q["answer"]), tuple(q["gold_doc_ids"]),
                        _iso(q.get("question_date")), q["qid"].split("_")[0])
        )  # fmt: skip
    return out


def squad_articles() -> list[dict[str, Any]]:
    """SQuAD dev paragraphs, one record each (doc_key = pid)."""
    rows = [json.loads(line) for line in (SQUAD / "paragraphs.jsonl").open(encoding="utf-8")]
    return [{"text": p["text"], "title": p["title"], "doc_key": p["pid"]} for p in rows]


def squad_questions() -> list[DevQuestion]:
    """SQuAD dev questions, grouped by article title."""
    titles = {json.loads(line)["pid"]: json.loads(line)["title"] for line in (SQUAD / "paragraphs.jsonl").open()}
    out = []
    for line in (SQUAD / "questions.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        answers = tuple(a if isinstance(a, str) else a.get("text", "") for a in q["answers"])
        out.append(DevQuestion(q["qid"], q["question"], answers, (q["gold_pid"],), None, titles[q["gold_pid"]]))
    return out


def timeqa_articles() -> list[dict[str, Any]]:
    """TimeQA Wikipedia paragraphs, one record each (doc_key = pid)."""
    rows = [json.loads(line) for line in (TIMEQA / "paragraphs.jsonl").open(encoding="utf-8")]
    return [{"text": p["text"], "title": None, "doc_key": p["pid"]} for p in rows]


def timeqa_questions() -> list[DevQuestion]:
    """TimeQA questions, grouped by page."""
    out = []
    for line in (TIMEQA / "questions.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        out.append(DevQuestion(q["qid"], q["question"], tuple(q["answers"]), tuple(q["gold_pids"]), None,
                               q["qid"].split("#")[0]))  # fmt: skip
    return out


class CachedEmbedder:
    """An Embedder whose passage encodings are cached on disk by passage text and sentence spans."""

    def __init__(self, embedder: Any, path: Path = CACHE / "embeddings.sqlite") -> None:
        self._e = embedder
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS enc(key TEXT PRIMARY KEY, vec BLOB, sents BLOB, n INTEGER)")
        from retrieval.embeddings import precision

        self.model_id, self.dim, self.backend = embedder.model_id, embedder.dim, embedder.backend
        # torch and onnx compute the same fp32 vectors and share entries; int8 ones are kept apart.
        self._key = self.model_id + ("" if precision(self.backend) == "fp32" else "#" + precision(self.backend))
        self._queries: dict[str, np.ndarray] = {}  # questions encoded in one batch up front
        self.max_tokens, self.batch_size = embedder.max_tokens, embedder.batch_size

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._e.count_tokens(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._queries]
        if missing:
            self._queries.update(zip(missing, self._e.encode_queries(missing), strict=True))
        return np.stack([self._queries[t] for t in texts])

    def encode_passages(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress: Any = None):
        from retrieval.embeddings import EncodedPassages

        keys = [hashlib.sha1((self._key + json.dumps([t, list(map(list, s))])).encode()).hexdigest()
                for t, s in zip(texts, spans, strict=True)]  # fmt: skip
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for lo in range(0, len(keys), 500):
            part = keys[lo : lo + 500]
            rows = self._db.execute(f"SELECT key, vec, sents, n FROM enc WHERE key IN ({','.join('?' * len(part))})", part)
            for key, vec, sents, n in rows:
                found[key] = (np.frombuffer(vec, np.float32), np.frombuffer(sents, np.float32).reshape(n, self.dim))
        todo = [i for i, k in enumerate(keys) if k not in found]
        if progress is not None:
            progress.update(len(texts) - len(todo))
        for lo in range(0, len(todo), 2048):
            chunk = todo[lo : lo + 2048]
            enc = self._e.encode_passages([texts[i] for i in chunk], [spans[i] for i in chunk], progress)
            for j, i in enumerate(chunk):
                found[keys[i]] = (enc.vectors[j], enc.sentence_vectors[j])
                self._db.execute("INSERT OR REPLACE INTO enc VALUES (?, ?, ?, ?)", (keys[i], enc.vectors[j].tobytes(),
                                 enc.sentence_vectors[j].astype(np.float32).tobytes(), len(enc.sentence_vectors[j])))  # fmt: skip
            self._db.commit()
        vectors = np.stack([found[k][0] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)
        return EncodedPassages(vectors.astype(np.float32), [found[k][1].copy() for k in keys])


def load_embedder() -> Any:
    """The configured model (bundled MiniLM unless BRIEF_EMBED_MODEL says otherwise), with the disk cache."""
    from retrieval import Settings
    from retrieval.embeddings import load_embedder as configured

    # Questions run on one thread (retrieval/embeddings.py); BRIEF_EMBED_BACKEND picks torch or ONNX.
    return CachedEmbedder(configured(Settings.from_env(dotenv_path=None)))


def build(name: str, embedder: Any, records: list[dict[str, Any]] | None = None, tag: str = "",
          rebuild: bool = False) -> tuple[Any, dict[str, set[str]]]:  # fmt: skip
    """A Brief over a dev corpus, and Brief's article id -> dev doc keys; `rebuild` after a cleaning change."""
    from retrieval import Brief, IndexMismatchError, Settings
    from retrieval.index.ingest import ingest

    records = records if records is not None else {"rtqa": rtqa_articles, "squad": squad_articles,
                                                   "timeqa": timeqa_articles}[name]()  # fmt: skip
    folder = CACHE / f"{name}{tag}-articles"
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / f"{name}.jsonl"
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not corpus.is_file() or corpus.read_text(encoding="utf-8") != body:
        corpus.write_text(body, encoding="utf-8")
    settings = Settings.from_env(env={}, dotenv_path=None).with_(
        index_dir=index_dir(name, embedder.backend, tag), show_progress=sys.stderr.isatty(), exact_limit=10**9,
        max_file_mb=1000.0,
    )
    try:
        ingest([corpus], settings, embedder=embedder, rebuild=rebuild)
    except IndexMismatchError:
        ingest([corpus], settings, embedder=embedder, rebuild=True)
    return Brief(settings, embedder), doc_keys(corpus, records)


def index_dir(name: str, backend: str, tag: str = "") -> Path:
    """Where a dev set's index is kept: one per precision of the vectors (int8 apart from fp32)."""
    from retrieval.embeddings import precision
    from retrieval.fitted import precision_suffix

    return CACHE / f"{name}{tag}{precision_suffix(precision(backend))}-index"


def doc_keys(corpus: Path, records: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Brief's article id -> the dev set's keys of the records with that text (duplicates share one id)."""
    from retrieval.read.articles import build_article
    from retrieval.read.documents import SkipFile, read_file

    keys: dict[str, set[str]] = {}
    for doc in read_file(corpus, 10**10).documents:
        try:
            article = build_article(doc)
        except SkipFile:
            continue
        keys.setdefault(article.doc_id, set()).add(records[doc.record - 1]["doc_key"])
    return keys


if __name__ == "__main__":
    # python bench/devsets.py [--rebuild] [rtqa squad timeqa]: index the dev sets (embeddings cached)
    emb = load_embedder()
    rebuild = "--rebuild" in sys.argv
    for dev in [a for a in sys.argv[1:] if not a.startswith("--")] or ["squad", "timeqa", "rtqa"]:
        if available(dev):
            b, k = build(dev, emb, rebuild=rebuild)
            print(dev, b.stats())
