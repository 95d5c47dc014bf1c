"""Update cost: adding one article to an index of 2,000, 20,000 and 200,000 passages.

    python bench/update.py [--sizes 2000,20000,200000] [--updates 12]

Each index is filled with the SQuAD dev passages, their texts, sentence vectors and passage
vectors as Brief embedded them, copied under new ids until it has the size asked for (written
through the index writer in one transaction, as an ingest would, without embedding again). Then
`--updates` new one-paragraph articles are added one at a time, each as an ingest adds it: read
and embedded, then one index update through the writer (lock, SQLite transaction, the new
vector segment and any merge of segments, commit). The update is timed apart from the reading
and embedding. (A whole `brief ingest FOLDER` also scans the folder, which costs per file in it;
that is not the index's cost and is left out.) Target: the update under 0.1 s at every size,
and at 200k no more than 1.5 times what it is at 2k.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import machine, require_squad, setup, squad_brief

from retrieval.index.backend import index_writer
from retrieval.index.corpus import Changes, FileLink, NewArticle
from retrieval.index.folder import Manifest
from retrieval.index.ingest import _embed
from retrieval.read.articles import build_article
from retrieval.read.documents import read_file


def copies_of(articles: list[NewArticle], n: int) -> list[list[NewArticle]]:
    """Batches of the articles, copied under new ids (content-hash-like) until `n` passages."""
    batches: list[list[NewArticle]] = []
    total, copy = 0, 0
    while total < n:
        batch = []
        for a in articles:
            if total >= n:
                break
            doc_id = hashlib.sha256(f"{a.article.doc_id}:{copy}".encode()).hexdigest()[:16]
            passages = tuple(replace(p, id=f"{doc_id}:{i}", doc_id=doc_id) for i, p in enumerate(a.passages))
            batch.append(NewArticle(replace(a.article, doc_id=doc_id, path=f"/bench/copy-{copy}/{doc_id}.txt"),
                                    passages, a.vectors, a.sentence_vectors))  # fmt: skip
            total += len(passages)
        batches.append(batch)
        copy += 1
    return batches


def fill(settings: object, articles: list[NewArticle], n: int, model: tuple[str, str, int, str]) -> float:
    """Seconds to write an index of about `n` passages from copies of the articles."""
    name, mid, dim, backend = model
    started = time.perf_counter()
    with index_writer(settings, name, mid, dim, False, lambda _m: None, backend) as writer:  # type: ignore[arg-type]
        for batch in copies_of(articles, n):
            links = tuple(FileLink(a.article.path, "bench", (a.article.doc_id,)) for a in batch)
            writer.apply(Changes(added=tuple(batch), files=links))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2000,20000,200000")
    parser.add_argument("--updates", type=int, default=12, help="articles added one at a time at each size")
    args = parser.parse_args()
    require_squad()
    settings, embedder = setup()
    brief, _, _ = squad_brief(settings, embedder)
    reader = brief.reader()
    articles = [a for batch in reader.copy_out() for a in batch]
    model = (reader.manifest.model, reader.manifest.model_id, reader.manifest.dim, reader.manifest.backend)
    embedder.encode_queries(["warm up"] * 8)
    print(f"# bench/update.py — {machine()}")
    print(f"{'passages':>9} {'fill s':>7} {'read+embed s':>14} {'update p50 s':>12} {'max s':>8} {'segments':>8}")
    rests = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            s = settings.with_(index_dir=Path(tmp) / f"index-{n}")
            filled = fill(s, articles, n, model)
            folder = Path(tmp) / f"new-{n}"
            folder.mkdir()
            updates, embeds = [], []
            for u in range(args.updates):
                path = folder / f"new-{u}.txt"
                path.write_text(f"Engineers in harbour {u} completed a floating solar farm on Wednesday, the port "
                                f"authority said, adding that its {u + 2},000 panels would power homes.", encoding="utf-8")  # fmt: skip
                t = time.perf_counter()
                read = read_file(path, s.max_file_bytes, None)
                added = _embed(embedder, [build_article(d) for d in read.documents], False)
                embeds.append(time.perf_counter() - t)
                t = time.perf_counter()
                with index_writer(s, *model[:3], False, lambda _m: None, model[3]) as writer:
                    applied = writer.apply(Changes(added=tuple(added),
                                                   files=(FileLink(read.path, read.fingerprint, (added[0].article.doc_id,)),)))  # fmt: skip
                updates.append(time.perf_counter() - t)
            rests[n] = statistics.median(updates)
            segments = len(Manifest.read(s.index_dir).segments)
            print(f"{applied.passages:>9,} {filled:7.1f} {statistics.median(embeds):14.3f} {rests[n]:12.3f} "
                  f"{max(updates):8.3f} {segments:>8}", flush=True)
    small, large = min(rests), max(rests)
    print(f"update p50 at {large:,} / at {small:,}: {rests[large] / rests[small]:.2f} (target ≤ 1.5; each under 0.1 s)")


if __name__ == "__main__":
    main()
