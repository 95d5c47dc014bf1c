"""Ingest: article files into a new index version, embedding only what changed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from retrieval.embeddings import Embedder, model_id
from retrieval.embeddings import load_embedder as configured_embedder
from retrieval.index.backend import open_writer
from retrieval.index.corpus import Changes, FileLink, NewArticle
from retrieval.index.folder import checkpoint_hook
from retrieval.read.articles import Article, build_article
from retrieval.read.documents import SOURCES_FILE, SkipFile, discover, load_sidecar, read_file
from retrieval.read.passages import Passage, split_passages
from retrieval.settings import Settings

Log = Callable[[str], None]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did."""

    files_seen: int
    added: int
    updated: int
    unchanged: int
    removed: int
    passages_embedded: int
    articles_total: int
    passages_total: int
    seconds: float
    version: str | None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    new_articles: list[dict[str, str | None]] = field(default_factory=list)  # title, outlet, published, path

    def summary(self) -> str:
        """A few human lines: counts, skips with reasons, and time."""
        lines = [
            f"files seen: {self.files_seen}; articles added: {self.added}, updated: {self.updated}, "
            f"unchanged: {self.unchanged}, removed: {self.removed}, skipped: {len(self.skipped)}",
            f"passages embedded: {self.passages_embedded}; index now holds {self.articles_total} articles, "
            f"{self.passages_total} passages" + (f" (version {self.version})" if self.version else " (unchanged)"),
        ]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        if self.gone:
            lines.append(f"  {len(self.gone)} indexed file(s) no longer exist; run with --prune to drop them")
        lines.append(f"took {self.seconds:.1f} s")
        return "\n".join(lines)


def display_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies under it."""
    p = Path(path)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def ingest(
    paths: Sequence[Path],
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    log: Log | None = None,
    load_embedder: Callable[[], Embedder] | None = None,
) -> IngestReport:
    """Bring the index up to date with the article files under `paths`.

    The model is loaded (by `load_embedder`, or from the settings) only if something needs embedding.
    """
    started = time.perf_counter()
    say = log or (lambda _msg: None)
    files, skipped = discover(paths, settings.follow_symlinks)
    skipped = [(display_path(p), r) for p, r in skipped]
    mid = embedder.model_id if embedder else model_id(settings.embed_model)
    dim = embedder.dim if embedder else None
    counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0}
    gone: list[str] = []
    embedded = 0
    checkpoint = checkpoint_hook(settings.crash_checkpoint)
    backend = embedder.backend if embedder else settings.embed_backend
    with open_writer(settings, settings.embed_model, mid, dim, rebuild, say, backend) as writer:
        known = writer.fingerprints()
        sidecars: dict[Path, dict] = {}
        pending: dict[str, Article] = {}  # new article texts, by content id
        indexed: dict[str, Article] = {}  # already indexed texts, their metadata perhaps changed
        links: list[FileLink] = []
        for path in files:
            if path.parent not in sidecars:
                sidecars[path.parent] = _sidecar(path.parent, skipped)
            try:
                read = read_file(path, settings.max_file_bytes, sidecars[path.parent].get(path.name))
            except SkipFile as exc:
                skipped.append((display_path(path), str(exc)))
                continue
            except Exception as exc:  # one bad file never stops the others
                skipped.append((display_path(path), unexpected(exc)))
                continue
            skipped.extend((display_path(p), r) for p, r in read.skipped)
            if known.get(read.path) == read.fingerprint:
                counts["unchanged"] += len(read.documents)
                continue
            doc_ids: list[str] = []
            kept_out = False  # an article taken out with `brief rm`
            kind = "updated" if read.path in known else "added"
            for doc in read.documents:
                where = f"{display_path(doc.path)}" + (f":{doc.record}" if doc.record else "")
                try:
                    article = build_article(doc)
                except SkipFile as exc:
                    skipped.append((where, str(exc)))
                    continue
                except Exception as exc:  # e.g. HTML nested too deeply for the extractor
                    skipped.append((where, unexpected(exc)))
                    continue
                if writer.is_removed(article.doc_id):
                    kept_out = True
                    skipped.append((where, "taken out with `brief rm`; it stays out (brief rm --restore brings it back)"))
                    continue
                doc_ids.append(article.doc_id)
                if article.doc_id in pending or article.doc_id in indexed:
                    continue  # the same text twice in this run is stored once
                if writer.has_article(article.doc_id):
                    indexed[article.doc_id] = article
                else:
                    pending[article.doc_id] = article
                    counts[kind] += 1
            # A changed file whose every article failed keeps what was indexed before: no link.
            if doc_ids or kept_out or not read.documents:
                links.append(FileLink(read.path, read.fingerprint, tuple(doc_ids)))
        added: list[NewArticle] = []
        if pending:
            if embedder is None:
                embedder = load_embedder() if load_embedder else configured_embedder(settings)
            added = _embed(embedder, list(pending.values()), settings.show_progress)
            embedded = sum(len(a.passages) for a in added)
            checkpoint("embedded")
        present = {str(p) for p in files}
        dropped: list[str] = []
        for path in known:
            if path not in present and not Path(path).exists():
                if prune:
                    dropped.append(path)
                else:
                    gone.append(display_path(path))
        applied = writer.apply(Changes(tuple(added), tuple(indexed.values()), tuple(links), tuple(dropped)))
        counts["updated"] += len(applied.updated)
        counts["unchanged"] += len(indexed) - len(applied.updated)
        if applied.deleted:
            counts["removed"] = max(0, len(applied.deleted) - counts["updated"])
        articles_total, passages_total = applied.articles, applied.passages
    return IngestReport(
        files_seen=len(files),
        passages_embedded=embedded,
        articles_total=articles_total,
        passages_total=passages_total,
        seconds=time.perf_counter() - started,
        version=writer.published_version,
        skipped=skipped,
        gone=gone,
        new_articles=[
            {"title": a.title, "outlet": a.outlet, "published": a.published.isoformat() if a.published else None,
             "path": display_path(a.path), "url": a.url}
            for a in pending.values()
        ],
        **counts,
    )  # fmt: skip


def unexpected(exc: BaseException) -> str:
    """A skip reason for an error no rule foresaw (the file is passed over, the run goes on)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    message = " ".join(str(exc).split())[:160]
    return f"could not be read ({type(exc).__name__}{': ' + message if message else ''})"


def _sidecar(folder: Path, skipped: list[tuple[str, str]]) -> dict[str, dict]:
    try:
        return load_sidecar(folder)
    except SkipFile as exc:
        skipped.append((display_path(folder / SOURCES_FILE), f"{exc}; its files are read without it"))
        return {}


def _embed(embedder: Embedder, articles: list[Article], progress: bool) -> list[NewArticle]:
    per_article: list[list[Passage]] = [split_passages(a, embedder.count_tokens, embedder.max_tokens) for a in articles]
    flat = [p for ps in per_article for p in ps]
    with tqdm(total=len(flat), desc="embedding", unit="passage", disable=not progress or not flat) as bar:
        encoded = embedder.encode_passages([p.text for p in flat], [p.sentences for p in flat], progress=bar)
    out: list[NewArticle] = []
    i = 0
    for article, passages in zip(articles, per_article, strict=True):
        n = len(passages)
        out.append(NewArticle(article, tuple(passages), encoded.vectors[i : i + n],
                              tuple(encoded.sentence_vectors[i : i + n])))  # fmt: skip
        i += n
    return out
