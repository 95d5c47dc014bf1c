"""Fit how hard the probe queries that tune Postgres's HNSW search are: as hard as real questions.

    python bench/fit_search.py

Past BRIEF_EXACT_LIMIT the Postgres writer picks HNSW's `ef_search` on probe queries: stored
vectors moved to a cosine c from where they were (retrieval/index/vectors.py, probe_queries). The
lower c, the farther a probe from every passage and the larger the search it needs. HNSW's
recall on a query follows how close its nearest passage is (bench/scale.py --base news prints
real questions' recall by ef_search), so c is fitted to real questions: the 10th percentile of
the cosine between a dev-set question and its nearest passage, on the half of each set's
articles (or weeks) used for fitting, taking the lowest of the sets. The other half is printed
for comparison. Written to retrieval/fitted/search-MODEL.json; re-run it for another model.
"""

from __future__ import annotations

import json

import numpy as np
from devsets import available, build, load_embedder, rtqa_questions, squad_questions, timeqa_questions
from train_answer import held_out

from retrieval.fitted import path_for

PERCENTILE = 10  # probes as hard as the hardest tenth of real questions
QUESTIONS = {"rtqa": rtqa_questions, "squad": squad_questions, "timeqa": timeqa_questions}


def main() -> None:
    sets = [name for name in QUESTIONS if available(name)]
    if not sets:
        print("skipped: no dev sets in ../shared/eval")
        return
    embedder = load_embedder()
    fitted: dict[str, float] = {}
    info: dict[str, dict[str, float | int]] = {}
    for name in sets:
        brief, _ = build(name, embedder)
        vectors = brief.reader().vectors
        questions = QUESTIONS[name]()
        nearest = np.array([vectors.search(v, 1)[1][0] for v in embedder.encode_queries([q.question for q in questions])])
        halves = np.array([held_out(q.group) for q in questions])
        fit, check = nearest[~halves], nearest[halves]
        fitted[name] = float(np.percentile(fit, PERCENTILE))
        info[name] = {"questions": len(questions), f"p{PERCENTILE} fitted half": round(fitted[name], 4),
                      f"p{PERCENTILE} held-out half": round(float(np.percentile(check, PERCENTILE)), 4),
                      "median": round(float(np.median(nearest)), 4)}  # fmt: skip
        print(f"{name}: {len(questions)} questions; cosine to the nearest passage, p{PERCENTILE}: fitted half "
              f"{fitted[name]:.3f}, held-out half {np.percentile(check, PERCENTILE):.3f}; median {np.median(nearest):.3f}")
    cosine = round(min(fitted.values()), 3)
    path = path_for("search", embedder.model_id)  # cosines to the nearest passage: the same in fp32 and bf16
    path.write_text(json.dumps({"probe_cosine": cosine, "percentile": PERCENTILE, "sets": info}, indent=1) + "\n")
    print(f"probe cosine {cosine} (the lowest set's p{PERCENTILE}) -> {path}")


if __name__ == "__main__":
    main()
