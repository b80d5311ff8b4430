"""The words the three reports (terminal, JSON, Markdown) use for each count, in one place so
they say the same."""

from __future__ import annotations

import re

from pytest_seeded.modes import DRIFT_POLICIES

LABELS = (
    ("recorded", "recorded"),
    ("replayed", "replayed"),
    ("matched", "matched live"),
    ("mismatched", "mismatched live"),
    ("drifted", "skipped for drift"),
    ("rerecorded", "re-recorded after drift"),
    ("missing", "missing from snapshots"),
    ("unreadable", "unreadable snapshot file(s)"),
    ("http_recorded", "other HTTP recorded"),
    ("http_replayed", "other HTTP replayed"),
    ("http_sent", "other HTTP sent, not compared"),
)
FILE_LABELS = (
    ("file_new", "new"),
    ("file_changed", "changed"),
    ("file_unchanged", "unchanged"),
    ("file_replayed", "replayed"),
)


def count_labels(on_drift: str) -> tuple[tuple[str, str], ...]:
    """LABELS, with the drifted calls named by what the run's drift policy did with them."""
    drifted = DRIFT_POLICIES[on_drift].label if on_drift in DRIFT_POLICIES else "drifted"
    return tuple((name, drifted if name == "drifted" else label) for name, label in LABELS)


# What a server or a test id may carry that a report must not pass on as its own syntax:
# line breaks (a Markdown heading, an injected image), other control characters, and lone
# surrogates (which no terminal or file encoding takes).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def plain(value: object) -> str:
    """A value from the run (a model name, a fingerprint, a test id) as one line of plain text:
    control characters and lone surrogates shown as escapes."""
    text = str(value)
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
