"""What happened to one test's calls, in the one schema both sides of pytest-xdist share: the
counters' names, and how they travel to the report as the test's user properties."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_seeded.live import Judgement

# The prefix of each test's properties (pytest_seeded.replayed, ...): they cross from
# pytest-xdist workers to the controller in the reports, and JUnit XML shows them.
USER_PROPERTY = "pytest_seeded"
COUNT_NAMES = (
    "recorded",
    "replayed",
    "matched",
    "mismatched",
    "drifted",
    "rerecorded",
    "missing",
    "unreadable",
    "http_recorded",
    "http_replayed",
    "http_sent",
    "file_new",
    "file_changed",
    "file_unchanged",
    "file_replayed",
)
# The properties that hold lists or maps, as JSON text.
JSON_PROPERTIES = (
    "recorded_because",
    "drifts",
    "determinism",
    "tokens_spent",
    "tokens_saved",
    "compared",
    "details",
)


def read_properties(properties: list[tuple[str, object]]) -> dict[str, Any] | None:
    """A test's counts from its pytest_seeded.* properties; None if it has none."""
    prefix = f"{USER_PROPERTY}."
    counts: dict[str, Any] = {}
    for name, value in properties:
        if not name.startswith(prefix):
            continue
        key = name[len(prefix) :]
        counts[key] = json.loads(str(value)) if key in JSON_PROPERTIES else value
    return counts or None


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
    # live: other HTTP sent for real and not compared (llm_live_other_http=live, or after drift).
    http_sent: int = 0
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

    def add(self, name: str, amount: int = 1) -> None:
        """Add to one of the COUNT_NAMES counters."""
        setattr(self, name, getattr(self, name) + amount)

    def judged(self, number: int, api: str, judgement: Judgement) -> None:
        """Count what judging one live answer decided (live.py)."""
        if judgement.compared:
            self.compared[api] = self.compared.get(api, 0) + 1
        if judgement.drift is not None:
            self.drifts.append(judgement.drift)
        if judgement.verdict is not None:
            self.note(
                number,
                api,
                judgement.verdict,
                judgement.identity,
                by=judgement.by,
                score=judgement.score,
                why=judgement.why,
            )
        if judgement.count is not None:
            self.add(judgement.count)

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
