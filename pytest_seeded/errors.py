"""The plugin's own exceptions and warnings, so callers can tell its errors from the code under
test's and filter its warnings by class (``-W error::pytest_seeded.FingerprintDriftWarning``)."""

from __future__ import annotations

import pytest


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


class NetworkInReplayError(ConnectionRefusedError):
    """A connection a replayed test tried to open: refused, so the client gives up at once."""


class SeededWarning(pytest.PytestWarning):
    """Base class of every warning pytest-seeded gives."""


class NoCallWarning(SeededWarning):
    """A test asked for the plugin in record or live mode and made no call it could see."""


class SnapshotAgeWarning(SeededWarning):
    """A snapshot was recorded longer ago than ``--llm-max-age`` (with ``--llm-on-old=warn``)."""


class FingerprintDriftWarning(SeededWarning):
    """A live call's fingerprint or model differs from the snapshot's (``--llm-on-drift=warn``)."""
