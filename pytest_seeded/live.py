"""Where a live answer is judged: whether the model behind it changed (drift, and what the policy
does about it), whether it says what the snapshot says (normalise and compare hooks, then the
compare policy), and how often repeated calls agree (--llm-repeat). Each judgement becomes a
verdict on the test (verdicts.py), reported when pytest reports the test."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from pytest_seeded.compare import Comparison, compare, unified_diff
from pytest_seeded.determinism import measure
from pytest_seeded.endpoints import choices_of
from pytest_seeded.settings import DRIFT_POLICIES
from pytest_seeded.snapshot import LLMCall, RecordedCall
from pytest_seeded.verdicts import Outcome

if TYPE_CHECKING:
    from pytest_seeded.calls import Prepared, TestCalls


class FingerprintDriftWarning(pytest.PytestWarning):
    """A live call's fingerprint differs from the snapshot's (with ``--llm-on-drift=warn``)."""


def check(calls: TestCalls, prepared: Prepared, number: int, live: RecordedCall) -> None:
    """Judge one live answer against the recorded call for the same request."""
    expected = calls.expected_for(prepared)
    if expected is None:
        return  # no recorded call: calls.expected_for decided why
    if calls.rerecord:
        return
    if prepared.endpoint is None or not prepared.endpoint.compared:
        # An API shape whose output this version cannot read: counted, never called equal.
        calls.stats.uncompared += 1
        return
    endpoint = prepared.endpoint
    if expected.fingerprint != live.fingerprint and not drift(
        calls, expected, live, number, endpoint.identity_name
    ):
        return
    settings = calls.settings
    info = LLMCall(
        nodeid=calls.nodeid,
        seed=calls.seed,
        number=number,
        request=prepared.recorded,
        fingerprint=live.fingerprint,
        policy=str(settings.compare),
    )
    hook = calls.hook
    before = hook.pytest_seeded_normalize(text=expected.output, call=info)
    after = hook.pytest_seeded_normalize(text=live.output, call=info)
    expected_text = expected.output if before is None else str(before)
    live_text = live.output if after is None else str(after)
    decided = hook.pytest_seeded_compare(expected=expected_text, actual=live_text, call=info)
    how = "pytest_seeded_compare hook"
    if decided is None:
        verdict = compare(
            settings.compare,
            expected_text,
            live_text,
            choices_of(endpoint, expected.response),
            choices_of(endpoint, live.response),
        )
        how = f"compare {settings.compare}"
    else:
        verdict = Comparison(bool(decided))
    if verdict.equal:
        calls.stats.matched += 1
        return
    calls.stats.mismatched += 1
    score = "" if verdict.score is None else f", score {verdict.score:.3f}"
    problem = f"{verdict.problem}\n" if verdict.problem else ""
    diff = unified_diff(expected_text, live_text, "snapshot", "live")
    calls.decide(
        "failed",
        f"pytest-seeded: live output of call #{number} differs from the snapshot "
        f"(seed {calls.seed}, fingerprint {live.fingerprint!r}, {how}{score})\n"
        f"snapshot: {calls.snapshot_path}\n{problem}{diff}"
        f"If the new output is right, re-record it with: {calls.rerecord_command}",
    )


def drift(
    calls: TestCalls,
    expected: RecordedCall,
    live: RecordedCall,
    number: int,
    identity: str = "system_fingerprint",
) -> bool:
    """The model behind a call changed: apply the drift policy (the hook's choice, or
    --llm-on-drift). True when the outputs should still be compared."""
    old, new = expected.fingerprint, live.fingerprint
    chosen = calls.hook.pytest_seeded_fingerprint_changed(old=old, new=new, item=calls.item)
    policy = calls.settings.on_drift if chosen is None else str(chosen)
    if policy not in DRIFT_POLICIES:
        calls.decide(
            "failed",
            f"pytest-seeded: pytest_seeded_fingerprint_changed returned {chosen!r}; it "
            f"should return one of {', '.join(DRIFT_POLICIES)} or None",
        )
        return False
    stats = calls.stats
    stats.drifts.append((old, new))
    message = (
        f"pytest-seeded: {identity} changed for call #{number} of "
        f"{calls.nodeid}: recorded {old!r}, live {new!r}. "
        "The model or its serving setup changed, so the snapshot cannot be compared. "
        f"{calls.rerecord_hint}"
    )
    if policy == "warn":
        stats.drifted += 1
        warnings.warn(FingerprintDriftWarning(message), stacklevel=1)
        return True
    if policy == "record":
        stats.rerecorded += 1
        calls.rerecord = True
        return False
    stats.drifted += 1
    outcome: Outcome = (
        "xfailed" if policy == "xfail" else "failed" if policy == "fail" else "skipped"
    )
    calls.decide(outcome, message)
    return False


def agreement(calls: TestCalls, number: int, samples: list[tuple[str | None, str]]) -> None:
    """--llm-repeat: how often the answers to one request agree, under which fingerprints;
    below --llm-min-agreement the test fails."""
    measures = measure(number, samples)
    calls.stats.determinism += [{"nodeid": calls.nodeid, **m.to_json()} for m in measures]
    worst = min(measures, key=lambda m: m.agreement)
    if worst.agreement < calls.min_agreement:
        calls.decide(
            "failed",
            f"pytest-seeded: call #{number} of {calls.nodeid} agreed with itself in "
            f"{worst.agreement:.0%} of {worst.responses} answers (seed {calls.seed}, "
            f"fingerprint {worst.fingerprint!r}, {worst.distinct} distinct), below "
            f"--llm-min-agreement {calls.min_agreement:g}; first divergence at character "
            f"{worst.divergence_char}, token {worst.divergence_token}",
        )
