"""Update cost: adding one article to an index of ~20,000 passages against a full rebuild.

    python bench/update.py [--copies 9]

The corpus is the SQuAD dev paragraphs repeated `copies` times (each copy's text tagged so that
content hashes differ), in one JSONL file per copy. The full build is timed; then one new
article is added and the update is timed, split into the embedding of its passages and the rest
(reading and fingerprinting the folder, copying the live version, writing and publishing the
new one). The same is done at one copy, to show the rest does not grow with the index.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import machine, require_squad, setup, squad_paragraphs

from retrieval import Settings
from retrieval.embeddings import Embedder
from retrieval.ingest import ingest

NEW_ARTICLE = (
    "Engineers in Rotterdam completed the world's largest floating solar farm on Wednesday, the port "
    "authority said, adding that the panels would power 4,000 homes from next spring.\n\n"
    "The farm covers 40 hectares of a former dock and cost 55 million euros, officials said. Work on "
    "a second phase, twice the size, is due to start next year if the city council approves it."
)


def build(folder: Path, copies: int) -> None:
    paragraphs = squad_paragraphs()
    folder.mkdir(parents=True)
    for c in range(copies):
        with (folder / f"squad-{c}.jsonl").open("w", encoding="utf-8") as f:
            for p in paragraphs:
                text = p["text"] if c == 0 else f"{p['text']} (Archive copy {c}.)"
                f.write(json.dumps({"text": text, "title": p["title"]}) + "\n")


def measure(copies: int, settings: Settings, embedder: Embedder, tmp: Path) -> tuple[int, float, float, float]:
    """(passages, full build s, update s, embedding part of the update s)."""
    folder = tmp / f"corpus-{copies}"
    build(folder, copies)
    s = settings.with_(index_dir=tmp / f"index-{copies}")
    t = time.perf_counter()
    report = ingest([folder], s, embedder=embedder)
    full = time.perf_counter() - t
    (folder / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    t = time.perf_counter()
    update = ingest([folder], s, embedder=embedder)
    update_s = time.perf_counter() - t
    assert update.added == 1
    t = time.perf_counter()
    embedder.encode_passages(NEW_ARTICLE.split("\n\n"), [[(0, 10)], [(0, 10)]])
    embed_s = time.perf_counter() - t
    return report.passages_total, full, update_s, embed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=9, help="SQuAD repeats for the large index (9 = ~20k passages)")
    args = parser.parse_args()
    require_squad()
    settings, embedder = setup()
    embedder.encode_queries(["warm up"] * 8)
    print(f"# bench/update.py — {machine()}")
    print(f"{'passages':>9} {'full build s':>12} {'add one s':>10} {'of which embed s':>16} {'rest s':>7} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for copies in sorted({1, args.copies}):
            n, full, update_s, embed_s = measure(copies, settings, embedder, Path(tmp))
            print(
                f"{n:>9,} {full:12.1f} {update_s:10.2f} {embed_s:16.2f} {update_s - embed_s:7.2f} {full / update_s:6.0f}x"
            )
    print("target: adding one article costs its embedding plus under 2 s, whatever the index size")


if __name__ == "__main__":
    main()
