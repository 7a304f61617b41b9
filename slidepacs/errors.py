"""The package's one exception tree.

Errors state facts (what is wrong with what); each front (DIMSE, web, CLI) translates them
once into its own status codes.
"""

from __future__ import annotations


class SlidepacsError(Exception):
    """Root of every error raised on purpose by slidepacs."""


class ConfigError(SlidepacsError):
    """A setting is missing, malformed or unusable; the message names the setting."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class InvalidInput(SlidepacsError):
    """Input (a file, a query, a parameter) is malformed or lacks what is required."""


class Mismatch(InvalidInput):
    """Two parts of one input contradict each other (e.g. a C-STORE request names another
    SOP instance than its data set)."""


class NotFound(SlidepacsError):
    """The thing asked for does not exist."""


class Conflict(SlidepacsError):
    """The request contradicts what is already stored (e.g. a duplicate with other bytes)."""


class Unsupported(SlidepacsError):
    """The input is valid but uses something slidepacs does not handle."""


class StorageFailure(SlidepacsError):
    """A file could not be written, read or verified in a storage location."""


class IndexFailure(SlidepacsError):
    """The index database cannot be used (unreachable, wrong revision, corrupt)."""


class MigrationRequired(IndexFailure):
    """The index schema is older than this version of slidepacs."""


class AccessDenied(SlidepacsError):
    """Who is asking may not do this: wrong credentials, a locked account, a missing role."""


class NotAuthenticated(AccessDenied):
    """No credentials, or credentials that identify no one (a missing or wrong token)."""
