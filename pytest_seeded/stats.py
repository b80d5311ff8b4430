"""What happened to one test's calls, carried to the report through its user properties."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pytest_seeded.session import COUNT_NAMES, JSON_PROPERTIES, USER_PROPERTY


@dataclass
class CallStats:
    recorded: int = 0
    replayed: int = 0
    matched: int = 0
    mismatched: int = 0
    drifted: int = 0
    rerecorded: int = 0
    missing: int = 0
    unreadable: int = 0
    # The test's other HTTP (tools, retrieval): recorded, and answered from the recording.
    http_recorded: int = 0
    http_replayed: int = 0
    # What happened to the test's snapshot file (at most one of these is 1).
    file_new: int = 0
    file_changed: int = 0
    file_unchanged: int = 0
    file_replayed: int = 0
    # --llm-mode=record-new: why this test was (re-)recorded.
    recorded_because: list[str] = field(default_factory=list)
    # (what changed: system_fingerprint or the model, recorded, live)
    drifts: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    determinism: list[dict[str, Any]] = field(default_factory=list)
    tokens_spent: dict[str, int] = field(default_factory=dict)
    tokens_saved: dict[str, int] = field(default_factory=dict)
    # Live answers compared with the snapshot, per API shape: the report shows what was
    # compared, so an API whose answers were not cannot hide.
    compared: dict[str, int] = field(default_factory=dict)
    # One entry per call, for the HTML report: what it was, what served it, what became of it.
    details: list[dict[str, Any]] = field(default_factory=list)

    def note(
        self,
        number: int,
        api: str,
        verdict: str,
        identity: tuple[str | None, str | None] = (None, None),
        *,
        by: str = "",
        score: float | None = None,
        why: str = "",
    ) -> None:
        entry: dict[str, Any] = {"call": number, "api": api, "verdict": verdict}
        if identity != (None, None):
            entry["fingerprint"], entry["model"] = identity
        if by:
            entry["by"] = by
        if score is not None:
            entry["score"] = round(score, 6)
        if why:
            entry["why"] = why.split("\n", 1)[0][:300]
        self.details.append(entry)

    def as_properties(self, mode: str, seed: int) -> list[tuple[str, int | str]]:
        """The test's user properties: one plain name/value pair each, as JUnit XML and CI
        tools show them (numbers, or JSON text for lists and maps), and as they cross from
        pytest-xdist workers to the controller. Only what happened: pytest keeps every
        report until the run ends."""
        pairs: list[tuple[str, int | str]] = [
            (f"{USER_PROPERTY}.mode", mode),
            (f"{USER_PROPERTY}.seed", seed),
        ]
        for name in COUNT_NAMES:
            value = getattr(self, name)
            if value:
                pairs.append((f"{USER_PROPERTY}.{name}", value))
        identities = sorted(
            {
                " / ".join(str(d.get(k)) for k in ("fingerprint", "model") if d.get(k))
                for d in self.details
                if d.get("fingerprint") or d.get("model")
            }
        )
        if identities:
            pairs.append((f"{USER_PROPERTY}.identities", ", ".join(identities)))
        if self.details:
            pairs.append((f"{USER_PROPERTY}.calls", len(self.details)))
        if self.determinism:
            worst = min(float(m["agreement"]) for m in self.determinism)
            pairs.append((f"{USER_PROPERTY}.agreement", f"{worst:g}"))
        for name in JSON_PROPERTIES:
            value = getattr(self, name)
            if value:
                # drifts are tuples: JSON makes them lists, as the session reads them.
                pairs.append((f"{USER_PROPERTY}.{name}", json.dumps(value)))
        return pairs
