"""The terminal summary: what happened to the run's LLM calls, and every fingerprint change seen."""

from __future__ import annotations

from pytest_seeded.session import SeededSession

LABELS = (
    ("recorded", "recorded"),
    ("replayed", "replayed"),
    ("matched", "matched live"),
    ("mismatched", "mismatched live"),
    ("drifted", "skipped for fingerprint drift"),
    ("missing", "missing from snapshots"),
    ("unreadable", "unreadable snapshot file(s)"),
)


def summary_lines(session: SeededSession) -> list[str]:
    settings = session.settings
    counts = ", ".join(
        f"{session.totals[name]} {label}" for name, label in LABELS if session.totals[name]
    )
    lines = [
        f"mode {settings.mode}, seed {settings.seed}; {session.tests} tests used the LLM fixtures",
        f"calls: {counts or 'none'}",
    ]
    for (old, new), tests in session.drifts.items():
        lines.append(f"system_fingerprint changed {old!r} -> {new!r} in {len(tests)} test(s):")
        lines += [f"  {nodeid}" for nodeid in tests]
    if session.drifts:
        lines.append("re-record the affected tests with --llm-mode=record")
    return lines
