"""pytest-seeded: snapshot tests for seeded LLM calls, recorded by syrupy and replayed offline."""

from __future__ import annotations

from pytest_seeded.errors import SeededError, SnapshotFormatError
from pytest_seeded.snapshot import LLMCall, RecordedRequest

__version__ = "0.1.0"

__all__ = ["LLMCall", "RecordedRequest", "SeededError", "SnapshotFormatError", "__version__"]
