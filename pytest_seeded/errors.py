"""The plugin's own exception types, so callers can tell its errors from the code under test's."""

from __future__ import annotations


class SeededError(Exception):
    """Base class of every error pytest-seeded raises on purpose."""


class SnapshotFormatError(SeededError):
    """A snapshot file exists but cannot be used: unreadable, not JSON, or the wrong shape."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"pytest-seeded: cannot read snapshot {path}: {problem}\n"
            "Fix or delete the file, or re-record it with --llm-mode=record."
        )
