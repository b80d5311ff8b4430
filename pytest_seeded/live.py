"""Where a live answer is judged: whether the model behind it changed (drift, and what the policy
does about it), whether it says what the snapshot says (normalise and compare hooks, then the
compare policy), and how often repeated calls agree (--llm-repeat). Each judgement becomes a
verdict on the test (verdicts.py), reported when pytest reports the test."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from pytest_seeded.compare import Comparison, compare, compare_vectors, unified_diff
from pytest_seeded.determinism import Sample, measure
from pytest_seeded.endpoints import Endpoint, choices_of, identity_of
from pytest_seeded.settings import DRIFT_POLICIES
from pytest_seeded.snapshot import LLMCall, RecordedCall
from pytest_seeded.verdicts import Outcome

if TYPE_CHECKING:
    from pytest_seeded.calls import Prepared, TestCalls


class FingerprintDriftWarning(pytest.PytestWarning):
    """A live call's fingerprint differs from the snapshot's (with ``--llm-on-drift=warn``)."""


def check(calls: TestCalls, prepared: Prepared, number: int, live: RecordedCall) -> None:
    """Judge one live answer against the recorded call for the same request: against the
    answer recorded under the same identity (fingerprint and model), or, for an identity the
    snapshot has never seen, through the drift policy."""
    expected = calls.expected_for(prepared)
    endpoint = prepared.endpoint
    if expected is None or endpoint is None:
        return  # no recorded call: calls.expected_for decided why
    same = next((a for a in expected.answers() if _identity(endpoint, a) == live.identity), None)
    # Ids this answer made stand for the recorded answer's in later requests (ids.py).
    calls.ids.learn((same or expected).response, live.response)
    if calls.rerecord:
        return
    if live.response.status != expected.response.status:
        calls.stats.mismatched += 1
        why = f"HTTP {live.response.status}; the snapshot holds HTTP {expected.response.status}"
        calls.stats.note(number, endpoint.name, "mismatched", live.identity, by="status", why=why)
        calls.decide(
            "failed",
            f"pytest-seeded: call #{number} of {calls.nodeid} was answered with HTTP "
            f"{live.response.status}; the snapshot holds HTTP {expected.response.status} "
            f"(seed {calls.seed}).\nsnapshot: {calls.snapshot_path}\n"
            + unified_diff(expected.output, live.output, "snapshot", "live")
            + f"If the new answer is right, re-record it with: {calls.rerecord_command}",
        )
        return
    if same is None:
        if not drift(calls, expected, live, number, endpoint):
            return
        same = expected
    compared(calls, prepared, endpoint, number, same, live)


def _identity(endpoint: Endpoint, answer: RecordedCall) -> tuple[str | None, str | None]:
    """A recorded answer's identity; files written before the model was stored are read from
    their response."""
    if answer.model is None:
        return identity_of(endpoint, answer.response)
    return answer.identity


def compared(
    calls: TestCalls,
    prepared: Prepared,
    endpoint: Endpoint,
    number: int,
    expected: RecordedCall,
    live: RecordedCall,
) -> None:
    """Whether the live answer says what the recorded one says: the normalize and compare
    hooks, then the compare policy (embeddings: each vector's cosine similarity)."""
    settings = calls.settings
    stats = calls.stats
    stats.compared[endpoint.name] = stats.compared.get(endpoint.name, 0) + 1
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
    if decided is not None:
        verdict = Comparison(bool(decided))
    elif endpoint.vectors is not None and live.response.status == 200:
        vectors = endpoint.vectors
        verdict = compare_vectors(
            vectors(expected.response), vectors(live.response), settings.min_cosine
        )
        how = f"cosine similarity, llm_min_cosine {settings.min_cosine:g}"
    else:
        verdict = compare(
            settings.compare,
            expected_text,
            live_text,
            choices_of(endpoint, expected.response),
            choices_of(endpoint, live.response),
        )
        how = f"compare {settings.compare}"
    stats.note(
        number,
        endpoint.name,
        "matched" if verdict.equal else "mismatched",
        live.identity,
        by=how,
        score=verdict.score,
        why=verdict.problem,
    )
    if verdict.equal:
        stats.matched += 1
        return
    stats.mismatched += 1
    score = "" if verdict.score is None else f", score {verdict.score:.6g}"
    problem = f"{verdict.problem}\n" if verdict.problem else ""
    diff = unified_diff(expected_text, live_text, "snapshot", "live")
    calls.decide(
        "failed",
        f"pytest-seeded: live output of call #{number} differs from the snapshot (seed "
        f"{calls.seed}, {_named(endpoint, live.identity)}, {how}{score}; {endpoint.name})\n"
        f"snapshot: {calls.snapshot_path}\n{problem}{diff}"
        f"If the new output is right, re-record it with: {calls.rerecord_command}",
    )


def _named(endpoint: Endpoint, identity: tuple[str | None, str | None]) -> str:
    fingerprint, model = identity
    named = [] if fingerprint is None and model is not None else [f"fingerprint {fingerprint!r}"]
    if model is not None:
        named.append(f"{endpoint.model_name} {model!r}")
    return ", ".join(named)


def drift(
    calls: TestCalls,
    expected: RecordedCall,
    live: RecordedCall,
    number: int,
    endpoint: Endpoint,
) -> bool:
    """The model behind a call changed (its fingerprint or its model, and the snapshot holds
    no answer of the new identity): apply the drift policy (the hook's choice, or
    --llm-on-drift). True when the outputs should still be compared."""
    (old_fp, old_model), (new_fp, new_model) = _identity(endpoint, expected), live.identity
    what, old, new = (
        ("system_fingerprint", old_fp, new_fp)
        if old_fp != new_fp
        else (endpoint.model_name, old_model, new_model)
    )
    chosen = calls.hook.pytest_seeded_fingerprint_changed(
        old=old, new=new, item=calls.item, what=what
    )
    policy = calls.settings.on_drift if chosen is None else str(chosen)
    if policy not in DRIFT_POLICIES:
        calls.decide(
            "failed",
            f"pytest-seeded: pytest_seeded_fingerprint_changed returned {chosen!r}; it "
            f"should return one of {', '.join(DRIFT_POLICIES)} or None",
        )
        return False
    stats = calls.stats
    stats.drifts.append((what, old, new))
    stats.note(
        number,
        endpoint.name,
        f"drift ({policy})",
        live.identity,
        why=f"{what} changed: recorded {old!r}, live {new!r}",
    )
    known = len(expected.answers())
    also = (
        f" ({endpoint.model_name} changed too: recorded {old_model!r}, live {new_model!r})"
        if what == "system_fingerprint" and old_model != new_model
        else ""
    )
    message = (
        f"pytest-seeded: {what} changed for call #{number} of {calls.nodeid}: recorded "
        f"{old!r}, live {new!r}{also}. "
        "The model or its serving setup changed, and the snapshot holds no answer from it"
        f"{f' (it holds {known}, of other identities)' if known > 1 else ''}, so it cannot be "
        "compared. Keep the snapshot's answers and add this identity's with "
        f"--llm-on-drift=record. {calls.rerecord_hint}"
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


def _near(earlier: Sample, sample: Sample, min_cosine: float) -> bool:
    if earlier.identity != sample.identity or earlier.vectors is None or sample.vectors is None:
        return False
    return compare_vectors(earlier.vectors, sample.vectors, min_cosine).equal


def agreement(calls: TestCalls, number: int, samples: list[Sample]) -> None:
    """--llm-repeat: how often the answers to one request agree, under which fingerprints;
    below --llm-min-agreement the test fails. Embeddings agree when their vectors are within
    llm_min_cosine of an earlier answer's, as a live comparison would judge them."""
    kept: list[Sample] = []
    pairs = []
    for sample in samples:
        output = sample.output
        if sample.vectors is not None:
            near = next((k for k in kept if _near(k, sample, calls.settings.min_cosine)), None)
            if near is None:
                kept.append(sample)
            else:
                output = near.output
        pairs.append((sample.identity, output))
    measures = measure(number, pairs)
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
