"""Ask: a question in, a short answer with numbered, cited passages out."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from retrieval.answer.pick import POOL_DEPTH, AnswerPick, candidates, choose, fitted_model, question_features, rerank
from retrieval.embeddings import Embedder, load_embedder, precision
from retrieval.errors import BriefError, ConfigError, UsageError
from retrieval.fitted import AnswerModel
from retrieval.index import catalog
from retrieval.index.backend import check_corpus, open_corpus
from retrieval.index.catalog import RemoveReport, Restored, Shown
from retrieval.index.corpus import LiveCorpus
from retrieval.index.folder import metadata_gaps
from retrieval.index.ingest import IngestReport, display_path, ingest
from retrieval.index.store import ArticleFilter, Gap, StoredArticle
from retrieval.read.dates import DateMention, period_label
from retrieval.search.hybrid import Hit, Mode, Options, Scope, keywords_ahead, search
from retrieval.search.question import Question, read_question
from retrieval.settings import Settings

TEMPORAL_DEPTH = 40  # passages searched when a question orders events in time or keeps to a period

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Citation:
    """A numbered passage in a reply; `answer_span` marks the answering sentence, if it is here."""

    n: int
    doc_id: str
    title: str | None
    outlet: str | None
    published: str | None
    url: str | None
    path: str
    paragraph: int
    text: str
    score: float
    answer_span: tuple[int, int] | None = None
    dates: tuple[DateMention, ...] = ()  # resolved date expressions, passage-relative

    def display_text(self, bold: tuple[str, str] = ("**", "**")) -> str:
        """The passage for reading: the answering sentence between `bold` markers, and each
        relative date followed by its resolution ("on Friday [26 Feb 2021]")."""
        inserts: list[tuple[int, int, str]] = []
        if self.answer_span is not None:
            inserts += [(self.answer_span[0], 0, bold[0]), (self.answer_span[1], 2, bold[1])]
        inserts += [(m.end, 1, f" [{m.label()}]") for m in self.dates if m.relative]
        pieces, last = [], 0
        for pos, _, piece in sorted(inserts):
            pieces += [self.text[last:pos], piece]
            last = pos
        return "".join([*pieces, self.text[last:]])

    def to_dict(self) -> dict[str, Any]:
        """The passage in the `brief ask --json` shape."""
        return {
            "n": self.n,
            "doc_id": self.doc_id,
            "title": self.title,
            "outlet": self.outlet,
            "published": self.published,
            "url": self.url,
            "path": self.path,
            "paragraph": self.paragraph,
            "text": self.text,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Answer:
    """The one-sentence answer and the citation it comes from."""

    text: str
    citation: int
    date: str | None = None
    date_label: str | None = None  # "Friday 26 February 2021", "February 2021", "2021"


@dataclass(frozen=True)
class Result:
    """Everything a reply needs."""

    question: str
    answer: Answer | None
    passages: list[Citation]
    searched: int = 0
    version: str | None = None
    searched_for: str | None = None  # the question as searched, when unknown words were replaced
    confidence: float | None = None  # the fitted probability that the answer line holds the answer

    def to_dict(self) -> dict[str, Any]:
        """Exactly the documented `brief ask --json` object."""
        answer = None
        if self.answer is not None:
            answer = {"text": self.answer.text, "citation": self.answer.citation, "date": self.answer.date}
        out = {"question": self.question, "answer": answer, "passages": [p.to_dict() for p in self.passages]}
        if self.searched_for:
            out["searched_for"] = self.searched_for
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 3)
        return out


@dataclass(frozen=True)
class Stats:
    """Size and freshness of the index."""

    index_dir: str
    version: str
    articles: int
    passages: int
    model: str
    dim: int
    updated_at: str
    untitled: int = 0  # articles without a title
    undated: int = 0  # articles without a publication date


def clean_question(question: str, limit: int) -> str:
    """The question with control characters and extra white space removed; UsageError if unusable."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in question)
    text = " ".join(text.split())
    if not text:
        raise UsageError('the question is empty; ask something like "when did Biden first strike Syria?"')
    if len(text) > limit:
        raise UsageError(f"the question is {len(text):,} characters long; the limit is {limit:,}")
    return text


class Brief:
    """A loaded model and index that answer questions; reloads the index when it is updated."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, model: AnswerModel | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self.answer_model = model
        self._reader: LiveCorpus | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        with self._lock:
            if self._embedder is None:
                s = self.settings
                try:
                    self._embedder = load_embedder(s)
                except OSError as exc:
                    raise ConfigError(model_error(s.embed_model, s.hf_offline, exc)) from exc
            return self._embedder

    def reader(self) -> LiveCorpus:
        """The live corpus version, reopened when a newer one has been published."""
        with self._lock:
            current = self._reader
        if current is None or current.is_stale():
            if current is None:
                check_corpus(self.settings)  # no index: say so before loading the model
            try:
                fresh = self._open()
            except BriefError as exc:
                if current is None:
                    raise
                # A bad new version must not take down a bot that still has a good one.
                log.warning("%s; still answering from version %s", exc, current.version)
                return current
            with self._lock:
                # Questions in flight keep their reference to the old version until they finish.
                self._reader = current = fresh
        return current

    def _open(self) -> LiveCorpus:
        """The live corpus version, opened while the model loads in a second thread (on a cold start
        each takes seconds), then checked against the model."""
        loading = None
        if self._embedder is None:
            loading = threading.Thread(target=self._load_model_quietly, name="brief-model-load", daemon=True)
            loading.start()
        try:
            fresh = open_corpus(self.settings)
        finally:
            if loading is not None:
                loading.join()
        try:
            embedder = self.embedder  # a model that failed to load raises its error here
            fresh.expect(embedder.model_id, embedder.dim, embedder.backend)
        except BaseException:
            fresh.close()
            raise
        return fresh

    def _load_model_quietly(self) -> None:
        with contextlib.suppress(BriefError):  # reported by the caller, which asks for the model again
            _ = self.embedder

    def model(self, reader: LiveCorpus) -> AnswerModel | None:
        """The fitted answer model for the index's embedding model and precision (or the one given, when fitting)."""
        return self.answer_model or fitted_model(reader.model_id, precision(self.embedder.backend))

    def ask(
        self,
        question: str,
        k: int | None = None,
        options: Options | None = None,
        as_of: date | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> Result:
        """Answer a question as asked on `as_of` (default today); `options` turn stages off, for ablations.

        `hidden` leaves articles out, as if they were not in the corpus (evaluation's drop-gold variants).
        """
        o = options or Options()
        text = clean_question(question, self.settings.max_question_chars)
        k = k or self.settings.top_k
        if not 1 <= k <= 50:
            raise UsageError("k must be between 1 and 50")
        reader = self.reader()
        q = read_question(reader, text, as_of or date.today(), o.dates)
        # Only a day given by the caller narrows the search: "nothing after today" leaves nothing out,
        # and a narrowed search has to look four times as deep.
        hits, picks, model = self.find(reader, q, max(k, POOL_DEPTH), o, Scope(as_of, hidden))
        answerable = model.answerable(question_features(picks)) if model is not None and picks else None
        threshold = model.threshold_for(self.settings.answer_precision) if model is not None and o.floor else 0.0
        share = model.range_share if model is not None else None
        pick = choose(picks, q, 1.0 if answerable is None else answerable, threshold, share)
        dated = q.time.asks_when or q.time.order is not None
        result = build_result(text, hits, pick, k, reader.passage_count(), reader.version, dated)
        searched_for = q.search if q.corrections else None
        confidence = answerable
        return Result(result.question, result.answer, result.passages, result.searched, result.version, searched_for,
                      confidence)  # fmt: skip

    def find(
        self, reader: LiveCorpus, q: Question, depth: int, o: Options, scope: Scope
    ) -> tuple[list[Hit], list[AnswerPick], AnswerModel | None]:
        """Search and score: passages ordered by their best sentence, and every sentence, most likely first."""
        ordering = bool(q.time.order or q.time.after or q.time.before)
        depth = max(depth, TEMPORAL_DEPTH) if ordering else depth
        ahead = keywords_ahead(reader, q.terms, q.df, scope) if o.mode is not Mode.DENSE else None
        vector = self.embedder.encode_queries([q.topic])[0]
        hits = search(reader, q.terms, vector, depth, o.mode, dedupe=o.dedupe, df=q.df, scope=scope, keywords=ahead)
        model = self.model(reader) if o.coverage else None
        picks = candidates(reader, vector, hits, q, model, depth, o.sentences)
        if model is not None:
            hits, picks = rerank(hits, picks, model.passage_blend)
        return hits, picks, model

    def ingest(self, paths: Sequence[Path], prune: bool = False, rebuild: bool = False) -> IngestReport:
        """Update the index from article files, reusing the loaded model."""
        return ingest(
            paths, self.settings, prune=prune, rebuild=rebuild, embedder=self._embedder,
            load_embedder=lambda: self.embedder,
        )  # fmt: skip

    def stats(self) -> Stats:
        """Articles, passages, model, last update and metadata gaps of the live index, read from
        its manifest and database without loading the model."""
        if self.settings.database_url:
            from retrieval.index.postgres import summary

            got = summary(self.settings.database_url)
            return Stats(got.where, got.version, got.articles, got.passages, got.model_id, got.dim, got.updated_at,
                         untitled=got.untitled, undated=got.undated)  # fmt: skip
        m, gaps = metadata_gaps(self.settings.index_dir)
        return Stats(
            str(self.settings.index_dir), m.version, m.articles, m.passages, m.model_id, m.dim, m.updated_at,
            untitled=sum(g.title is None for g in gaps), undated=sum(g.published is None for g in gaps),
        )  # fmt: skip

    def missing_metadata(self) -> list[Gap]:
        """Indexed articles without a title or a date (path, title, date), to fix at the source."""
        return [replace(g, path=display_path(g.path)) for g in catalog.gaps(self.settings)]

    # --- the corpus in view: manifest and SQLite only, never the model ----------------------------
    def articles(self, kept: ArticleFilter | None = None) -> list[StoredArticle]:
        """Indexed articles newest first, kept to an outlet, a span of dates and a substring."""
        return catalog.list_articles(self.settings, kept or ArticleFilter())

    def show(self, target: str) -> list[Shown]:
        """The article(s) an id, id prefix or file path names, with their passages."""
        return catalog.show(self.settings, target)

    def export(self, text: bool = True) -> Iterator[dict[str, Any]]:
        """Every indexed article's metadata (and text), oldest first."""
        return catalog.export(self.settings, text)

    def remove(self, targets: Sequence[str]) -> RemoveReport:
        """Take articles out of the index (a new version); their files do not bring them back."""
        return catalog.remove(targets, self.settings)

    def restore(self, targets: Sequence[str]) -> list[Restored]:
        """Undo `remove`: the next ingest adds these articles back from their files."""
        return catalog.restore(targets, self.settings)

    def removed(self) -> list[Restored]:
        """The articles taken out with `remove` and not restored."""
        return catalog.removed(self.settings)



def warm_up(brief: Brief) -> dict[str, float]:
    """Load the model and open the index side by side, then answer one throwaway question, so the
    first real question finds everything loaded; returns the seconds each step took."""
    started = time.perf_counter()
    brief.reader()
    loaded = time.perf_counter()
    brief.ask("warm up")
    return {"model + index": loaded - started, "warm-up question": time.perf_counter() - loaded}


def model_error(model: str, offline: bool, exc: Exception) -> str:
    """One line for a model that cannot be loaded, naming the setting to change."""
    if offline:
        return (
            f"cannot load the embedding model {model!r} offline (not a local folder, not in the Hugging Face "
            "cache); set HF_HUB_OFFLINE=0 to download it, or point BRIEF_EMBED_MODEL at a local model folder"
        )
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot load the embedding model {model!r} ({reason}); check BRIEF_EMBED_MODEL (a local folder or a hub id)"


def citation(n: int, hit: Hit, answer_span: tuple[int, int] | None = None) -> Citation:
    """A hit as citation number `n`, with the answering sentence's span if it holds one."""
    p = hit.passage
    return Citation(
        n=n,
        doc_id=p.doc_id,
        title=p.title,
        outlet=p.outlet,
        published=p.published,
        url=p.url,
        path=display_path(p.path) + (f"#{p.record}" if p.record else ""),
        paragraph=p.paragraph,
        text=p.text,
        score=hit.score,
        answer_span=answer_span,
        dates=tuple(p.dates()),
    )


def build_result(
    question: str,
    hits: Sequence[Hit],
    pick: AnswerPick | None,
    k: int,
    searched: int,
    version: str,
    dated: bool = False,
) -> Result:
    """The top `k` hits as numbered citations, the answer's own passage first."""
    order = list(range(len(hits)))
    if pick is not None:
        order.remove(pick.hit)
        order.insert(0, pick.hit)
    citations = [
        citation(n, hits[i], (pick.start, pick.end) if pick and pick.hit == i else None)
        for n, i in enumerate(order[:k], start=1)
    ]
    answer = None
    if pick is not None:
        when = pick.when if dated else None
        answer = Answer(
            pick.text,
            1,
            date=when.first.isoformat() if when else None,
            date_label=period_label(when.first, when.precision, weekday=True, long=True) if when else None,
        )
    return Result(question, answer, citations, searched, version)


_default: dict[tuple[Path, str], Brief] = {}
_default_lock = threading.Lock()


def ask(question: str, k: int | None = None, *, settings: Settings | None = None, brief: Brief | None = None,
        options: Options | None = None, as_of: date | None = None) -> Result:  # fmt: skip
    """Answer `question` from the configured index (model and index are loaded once per process)."""
    if brief is None:
        settings = settings or Settings.from_env()
        with _default_lock:
            brief = _default.setdefault((settings.index_dir, settings.embed_model), Brief(settings))
    return brief.ask(question, k, options, as_of)
