"""Errors a user can act on; the CLI and the bot turn them into one clean line."""

from __future__ import annotations


class BriefError(Exception):
    """Base class: the message is written for the user."""

    exit_code = 1


class ConfigError(BriefError):
    """A setting is missing or malformed."""


class UsageError(BriefError):
    """The request itself is invalid (empty or over-long question, bad argument)."""

    exit_code = 2


class NoIndexError(BriefError):
    """No index has been built yet."""


class IndexMismatchError(BriefError):
    """The index was built with another model or an unknown format."""


class CorruptIndexError(BriefError):
    """The index folder is damaged or incomplete."""


class LockTimeoutError(BriefError):
    """Another writer holds the index lock."""


class IndexWriteError(BriefError):
    """The next index version could not be written (disk full, read-only, I/O error)."""
