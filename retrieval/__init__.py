"""Brief's library: from article files to cited answers."""

from retrieval.brief import Answer, Brief, Citation, Result, Stats, ask
from retrieval.errors import BriefError, CorruptIndexError, IndexMismatchError, NoIndexError, UsageError
from retrieval.index.ingest import IngestReport
from retrieval.search.hybrid import Mode, Options
from retrieval.settings import Settings

__all__ = [
    "Answer",
    "Brief",
    "BriefError",
    "Citation",
    "CorruptIndexError",
    "IndexMismatchError",
    "IngestReport",
    "Mode",
    "NoIndexError",
    "Options",
    "Result",
    "Settings",
    "Stats",
    "UsageError",
    "ask",
]
