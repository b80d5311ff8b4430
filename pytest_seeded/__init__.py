"""pytest-seeded: snapshot tests for seeded LLM calls, recorded by syrupy and replayed offline.

The names here are the public ones: the errors and warnings a user catches or filters, and the
types the hooks receive. Everything else is the plugin's own and may change.
"""

from __future__ import annotations

from pytest_seeded.errors import (
    FingerprintDriftWarning,
    NetworkInReplayError,
    NoCallWarning,
    SeededError,
    SeededWarning,
    SnapshotAgeWarning,
    SnapshotFormatError,
)
from pytest_seeded.storage.snapshot import LLMCall, RecordedRequest

__version__ = "0.1.0"

__all__ = [
    "FingerprintDriftWarning",
    "LLMCall",
    "NetworkInReplayError",
    "NoCallWarning",
    "RecordedRequest",
    "SeededError",
    "SeededWarning",
    "SnapshotAgeWarning",
    "SnapshotFormatError",
    "__version__",
]
