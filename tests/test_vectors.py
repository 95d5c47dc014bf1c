"""The vector index: exact while small, IVF past the threshold, still finding exact neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval import Brief, Settings
from retrieval.embeddings import Embedder
from retrieval.index.folder import Manifest, live_version
from retrieval.index.ingest import ingest
from retrieval.index.vectors import VectorIndex


def random_unit(n: int, dim: int, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_index_stays_exact() -> None:
    index = VectorIndex.create(16)
    index.add(np.arange(100), random_unit(100, 16))
    assert index.restructured(exact_limit=1000).structure.kind == "flat"


def test_past_the_threshold_ivf_finds_the_exact_neighbours(tmp_path: Path) -> None:
    n, dim = 6000, 48
    vectors = random_unit(n, dim)
    ids = np.arange(1000, 1000 + n)
    flat = VectorIndex.create(dim)
    flat.add(ids, vectors)
    ivf = flat.restructured(exact_limit=2000)
    assert ivf.structure.kind == "ivf" and ivf.structure.recall_at_10 >= 0.95
    assert 1 <= ivf.structure.nprobe < ivf.structure.nlist  # approximate, not a disguised full scan
    probes = np.random.default_rng(1).choice(n, 200, replace=False)
    hits = sum(ivf.search(vectors[p], 1)[0] == [ids[p]] for p in probes)
    assert hits / len(probes) >= 0.95  # a stored vector finds itself
    recall = []
    for p in probes[:50]:
        truth = set(flat.search(vectors[p], 10)[0])
        recall.append(len(truth & set(ivf.search(vectors[p], 10)[0])) / 10)
    assert np.mean(recall) >= 0.95
    # Updates keep working on the IVF structure, and the tuning survives a save.
    ivf.remove(ids[:10])
    ivf.add(np.array([99]), vectors[:1])
    assert len(ivf) == n - 9 and ivf.search(vectors[0], 1)[0] == [99]
    assert np.allclose(ivf.reconstruct([99])[0], vectors[0])
    ivf.save(tmp_path / "v.faiss")
    again = VectorIndex.load(tmp_path / "v.faiss")
    assert again.structure.kind == "ivf" and again.structure.nprobe == ivf.structure.nprobe
    # Shrinking far below the threshold goes back to exact search.
    ids_left, _ = again.contents()
    again.remove(ids_left[: n - 500])
    assert again.restructured(exact_limit=2000).structure.kind == "flat"


def test_ingest_switches_structure_and_answers_still(settings: Settings, embedder: Embedder, seeds_copy: Path) -> None:
    settings = settings.with_(exact_limit=40)
    ingest([seeds_copy], settings, embedder=embedder)
    manifest = Manifest.read(live_version(settings.index_dir)).to_dict()
    assert manifest["vectors"]["kind"] == "ivf" and manifest["vectors"]["recall_at_10"] >= 0.95
    brief = Brief(settings, embedder)
    result = brief.ask("Which town on the Iraq border was hit by the US strikes on weapons stores in October 2023?")
    assert result.answer is not None and "Abu Kamal" in result.answer.text
    path = seeds_copy / "000_25e66b6cc12ca714.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Abu Kamal", "Deir Hafer"), encoding="utf-8")
    ingest([seeds_copy], settings, embedder=embedder)  # remove + add on the IVF index
    result = brief.ask("Which town on the Iraq border was hit by the US strikes on weapons stores in October 2023?")
    assert result.answer is not None and "Deir Hafer" in result.answer.text
