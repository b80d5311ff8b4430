"""What each mode does, and what each drift policy does: one table each, read by every other
module. Nothing else compares a mode's or a policy's name; adding a mode is a row here.

============  ====================================================================================
replay        answered from the snapshot; a request it does not hold fails the test; nothing
              leaves the process (network guard, placeholder credentials, telemetry answered here)
record        sent; the answers are written as the test's snapshot if the test passes
record-new    answered from the snapshot where it can; the rest is sent, and the test is recorded
              anew if anything was sent or left unused
live          LLM calls sent, each answer judged against the snapshot (live.py); the other HTTP
              answered from the snapshot (ini llm_live_other_http=live sends it); nothing is
              written unless the drift policy says "record"
============  ====================================================================================

Drift (live mode: an answer from an identity the snapshot holds no answer of):

======  ==========================================================================================
skip    the test is skipped, saying what changed (the default)
xfail   the test is xfailed, saying what changed
fail    the test fails, saying what changed
warn    a FingerprintDriftWarning, and the answer is compared with the snapshot's all the same
record  the new identity's answers are written beside the old ones
======  ==========================================================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Mode = Literal["replay", "live", "record", "record-new"]
Outcome = Literal["failed", "skipped", "xfailed"]


@dataclass(frozen=True)
class ModeRules:
    """One row of the mode table."""

    name: Mode
    # A request the snapshot holds is answered from it.
    answers_from_snapshot: bool
    # The test's other HTTP (tools, retrieval) is answered from the snapshot, even where LLM
    # calls are sent: a live run's model then sees the tool results it saw when recorded.
    replays_other_http: bool
    # A request the snapshot does not answer goes to the server; otherwise it fails the test.
    sends: bool
    # Each LLM answer is judged against the snapshot's answer to the same request.
    judges: bool
    # When the test's snapshot is written at teardown (a passing test only): always, when the
    # test made a call the snapshot did not answer or left one unused, or never.
    writes: Literal["always", "if-changed", "never"]
    # The file on disk answers the test (all but record, which only keeps its bytes if unchanged).
    reads_recording: bool
    # Which recorded calls a test must use by its end: all, the LLM calls only (a live run that
    # sends the other HTTP for real), or none (record replaces the file).
    holds_to_snapshot: Literal["all", "llm", "none"]
    # A test that asked for the plugin and made no call it saw is warned about (an uncovered
    # client looks just like that).
    warns_without_calls: bool
    # What became of an answer the server gave, as the report counts it.
    sent_verb: str


MODES: dict[Mode, ModeRules] = {
    "replay": ModeRules(
        "replay",
        replays_other_http=True,
        answers_from_snapshot=True,
        sends=False,
        judges=False,
        writes="never",
        reads_recording=True,
        holds_to_snapshot="all",
        warns_without_calls=False,
        sent_verb="",
    ),
    "live": ModeRules(
        "live",
        replays_other_http=True,
        answers_from_snapshot=False,
        sends=True,
        judges=True,
        writes="never",
        reads_recording=True,
        holds_to_snapshot="all",
        warns_without_calls=True,
        sent_verb="sent",
    ),
    "record": ModeRules(
        "record",
        replays_other_http=False,
        answers_from_snapshot=False,
        sends=True,
        judges=False,
        writes="always",
        reads_recording=False,
        holds_to_snapshot="none",
        warns_without_calls=True,
        sent_verb="recorded",
    ),
    "record-new": ModeRules(
        "record-new",
        replays_other_http=True,
        answers_from_snapshot=True,
        sends=True,
        judges=False,
        writes="if-changed",
        reads_recording=True,
        holds_to_snapshot="all",
        warns_without_calls=False,
        sent_verb="recorded",
    ),
}
MODE_NAMES: tuple[Mode, ...] = tuple(MODES)
DEFAULT_MODE: Mode = "replay"


# The key set where none is (capture/credentials.py): not shaped like a real key, so no
# scanner mistakes it, and a call that carries it is known to have had none.
PLACEHOLDER_KEY = "pytest-seeded-no-key"

# ini llm_live_other_http: a live run's other HTTP answered from the snapshot, or sent.
OTHER_HTTP_CHOICES = ("replay", "live")


def rules(mode: Mode, other_http: str = OTHER_HTTP_CHOICES[0]) -> ModeRules:
    """A mode's row; ``other_http="live"`` (ini llm_live_other_http) sends a live run's other
    HTTP for real, so only its LLM calls are held to the snapshot."""
    found = MODES[mode]
    if other_http == OTHER_HTTP_CHOICES[1] and found.judges:
        return dataclasses.replace(found, replays_other_http=False, holds_to_snapshot="llm")
    return found


@dataclass(frozen=True)
class DriftRule:
    """One row of the drift table."""

    name: str
    # What the test becomes; None: it goes on.
    outcome: Outcome | None
    # The answer is still compared with the snapshot's (of another identity).
    compares: bool
    # The new identity's answers are written beside the old ones at teardown.
    records: bool
    # What the report counts: drifted (and acted on) or re-recorded.
    counted_as: Literal["drifted", "rerecorded"]
    # A FingerprintDriftWarning says what changed.
    warns: bool = False
    # How the terminal summary counts the calls that drifted under it.
    label: str = ""


DRIFT_POLICIES: dict[str, DriftRule] = {
    "skip": DriftRule("skip", "skipped", False, False, "drifted", label="skipped for drift"),
    "xfail": DriftRule("xfail", "xfailed", False, False, "drifted", label="xfail on drift"),
    "fail": DriftRule("fail", "failed", False, False, "drifted", label="fail on drift"),
    "warn": DriftRule("warn", None, True, False, "drifted", warns=True, label="warn on drift"),
    "record": DriftRule("record", None, False, True, "rerecorded", label="record on drift"),
}
DRIFT_NAMES: tuple[str, ...] = tuple(DRIFT_POLICIES)
DEFAULT_DRIFT = "skip"
