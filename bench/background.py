"""Fit the background word statistics: how many passages of general English prose use each word.

    python bench/background.py

A folder of a few articles cannot say which words are rare: on five articles about one strike,
"take" and "place" look as rare as "Jordan". Brief smooths its corpus's document frequencies with
this background (retrieval/fitted/background.json), counted over the SQuAD and TimeQA Wikipedia
paragraphs in ../shared/eval (not the news questions are measured on); see Question.idf.
"""

from __future__ import annotations

import json
from collections import Counter

from devsets import available, squad_articles, timeqa_articles

from retrieval.fitted import FOLDER
from retrieval.read.terms import query_terms

MIN_PASSAGES = 3  # words rarer than this are left out (they count as unseen: rare)


def main() -> None:
    sets = [s for s in ("squad", "timeqa") if available(s)]
    if not sets:
        print("skipped: no dev sets in ../shared/eval")
        return
    texts = [r["text"] for name in sets for r in {"squad": squad_articles, "timeqa": timeqa_articles}[name]()]
    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(query_terms(text)))
    kept = {w: n for w, n in sorted(df.items()) if n >= MIN_PASSAGES}
    out = FOLDER / "background.json"
    out.write_text(json.dumps({"passages": len(texts), "sets": sets, "df": kept}, separators=(",", ":")) + "\n",
                   encoding="utf-8")  # fmt: skip
    print(f"{len(texts)} passages, {len(kept)} words -> {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
