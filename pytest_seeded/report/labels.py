"""The words the three reports (terminal, JSON, Markdown) use for each count, in one place so
they say the same."""

from __future__ import annotations

LABELS = (
    ("recorded", "recorded"),
    ("replayed", "replayed"),
    ("matched", "matched live"),
    ("mismatched", "mismatched live"),
    ("drifted", "skipped for fingerprint drift"),
    ("rerecorded", "re-recorded after fingerprint drift"),
    ("missing", "missing from snapshots"),
    ("unreadable", "unreadable snapshot file(s)"),
    ("http_recorded", "other HTTP recorded"),
    ("http_replayed", "other HTTP replayed"),
)
FILE_LABELS = (
    ("file_new", "new"),
    ("file_changed", "changed"),
    ("file_unchanged", "unchanged"),
    ("file_replayed", "replayed"),
)
