"""Where drift is decided, and where a live answer is judged: whether the model behind it
changed (and what the drift policy does about it), whether it says what the snapshot says
(normalize and compare hooks, then the compare policy), and how often repeated calls agree
(--llm-repeat).

Judging returns judgements; it changes nothing. The test's calls (calls.py) apply them: the
report's line for the call, its counts, and the verdict the test gets (verdicts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_seeded.apis.endpoints import (
    Endpoint,
    choices_of,
    identity_of,
    output_of,
    vectors_of,
)
from pytest_seeded.compare import Comparison, compare, compare_vectors, unified_diff
from pytest_seeded.determinism import Sample, measure
from pytest_seeded.errors import FingerprintDriftWarning
from pytest_seeded.messages import TestContext
from pytest_seeded.modes import DRIFT_NAMES, DRIFT_POLICIES, DriftRule
from pytest_seeded.storage.snapshot import LLMCall, RecordedCall, RecordedResponse
from pytest_seeded.verdicts import Verdict

Identity = tuple[str | None, str | None]


@dataclass(frozen=True)
class Judgement:
    """What judging one live answer decided."""

    # The call's verdict as the report lists it (matched, mismatched, drift (skip), ...);
    # None adds no line.
    verdict: str | None
    identity: Identity = (None, None)
    by: str = ""
    score: float | None = None
    why: str = ""
    # The per-test counter it adds one to (stats.COUNT_NAMES).
    count: str | None = None
    # The answer was compared with the snapshot's (counted per API).
    compared: bool = False
    # (what changed, recorded, live) for the report's drift table.
    drift: tuple[str, str | None, str | None] | None = None
    # What the test becomes because of it.
    outcome: Verdict | None = None
    warning: Warning | None = None
    # The drift policy asks for this identity's answers to be written beside the old ones.
    rerecord: bool = False


def answer_of_identity(
    endpoint: Endpoint, expected: RecordedCall, live: RecordedCall
) -> RecordedCall | None:
    """The recorded answer (the call's own, or an earlier identity's) that the live answer's
    identity gave; None for an identity the snapshot has never seen."""
    return next(
        (a for a in expected.answers() if _same(endpoint, _identity(endpoint, a), live)), None
    )


def _same(endpoint: Endpoint, recorded: Identity, live: RecordedCall) -> bool:
    """Whether a recorded identity is the live one's. A file recorded before its server was
    asked what it serves (capture/probes.py) has no fingerprint there: its model decides."""
    if recorded == live.identity:
        return True
    return endpoint.probe is not None and recorded[0] is None and recorded[1] == live.model


def judge(
    test: TestContext,
    endpoint: Endpoint,
    number: int,
    request: Any,
    expected: RecordedCall,
    same: RecordedCall | None,
    live: RecordedCall,
    seed: Any = None,
) -> list[Judgement]:
    """Judge one live answer against the recorded call for the same request: against the answer
    recorded under the same identity (fingerprint and model), or, for an identity the snapshot
    has never seen, through the drift policy."""
    if live.response.status != expected.response.status:
        why = f"HTTP {live.response.status}; the snapshot holds HTTP {expected.response.status}"
        message = (
            f"pytest-seeded: call #{number} of {test.nodeid} was answered with HTTP "
            f"{live.response.status}; the snapshot holds HTTP {expected.response.status} "
            f"({_seeded(seed)}).\nsnapshot: {test.snapshot_path}\n"
            + unified_diff(expected.output, live.output, "snapshot", "live")
            + f"If the new answer is right, re-record it with: {test.rerecord_command}"
        )
        return [
            Judgement(
                "mismatched",
                live.identity,
                by="status",
                why=why,
                count="mismatched",
                outcome=Verdict("failed", message),
            )
        ]
    if same is not None:
        return [_compared(test, endpoint, number, request, same, live, seed)]
    drifted, policy = _drift(test, expected, live, number, endpoint)
    if policy is None or not policy.compares:
        return [drifted]
    return [drifted, _compared(test, endpoint, number, request, expected, live, seed)]


def _seeded(seed: Any) -> str:
    return "unseeded: its API takes no seed" if seed is None else f"seed {seed}"


# What an unseeded call's failure adds: its answers may differ with no change at all.
UNSEEDED_HINT = (
    "This call went unseeded, so the model may answer it differently on any run. For such "
    "a call, a looser comparison fits (@pytest.mark.llm(compare='similar:0.8'), or "
    "--llm-compare); where the server takes a seed all the same (llama.cpp, vLLM), name it "
    "in the ini option llm_seed_hosts.\n"
)


def _identity(endpoint: Endpoint, answer: RecordedCall) -> Identity:
    """A recorded answer's identity; files written before the model was stored are read from
    their response."""
    if answer.model is None:
        # A fingerprint its server gave (capture/probes.py) is stored only.
        fingerprint, model = identity_of(endpoint, answer.response)
        return answer.fingerprint or fingerprint, model
    return answer.identity


def _compared(
    test: TestContext,
    endpoint: Endpoint,
    number: int,
    request: Any,
    expected: RecordedCall,
    live: RecordedCall,
    seed: Any = None,
) -> Judgement:
    """Whether the live answer says what the recorded one says: the normalize and compare
    hooks, then the compare policy (embeddings: each vector's cosine similarity)."""
    settings = test.settings
    info = LLMCall(
        nodeid=test.nodeid,
        seed=test.seed,
        number=number,
        request=request,
        fingerprint=live.fingerprint,
        policy=str(settings.compare),
    )
    hook = test.hook
    before = hook.pytest_seeded_normalize(text=expected.output, call=info)
    after = hook.pytest_seeded_normalize(text=live.output, call=info)
    expected_text = expected.output if before is None else str(before)
    live_text = live.output if after is None else str(after)
    if expected.response.cut_by_client or live.response.cut_by_client:
        # The code stopped reading: how far each run got depends on how the bytes were
        # chunked, so only what both read is compared.
        shared = min(len(expected_text), len(live_text))
        expected_text, live_text = expected_text[:shared], live_text[:shared]
    decided = hook.pytest_seeded_compare(expected=expected_text, actual=live_text, call=info)
    how = "pytest_seeded_compare hook"
    min_cosine = settings.run.min_cosine
    if decided is not None:
        verdict = Comparison(bool(decided))
    elif (
        live.response.status == 200
        and (left := vectors_of(endpoint, expected.response)) is not None
        and (right := vectors_of(endpoint, live.response)) is not None
    ):
        verdict = compare_vectors(left, right, min_cosine)
        how = f"cosine similarity, llm_min_cosine {min_cosine:g}"
    else:
        verdict = compare(
            settings.compare,
            expected_text,
            live_text,
            choices_of(endpoint, expected.response),
            choices_of(endpoint, live.response),
        )
        how = f"compare {settings.compare}"
    name = "matched" if verdict.equal else "mismatched"
    outcome = None
    if not verdict.equal:
        score = "" if verdict.score is None else f", score {verdict.score:.6g}"
        problem = f"{verdict.problem}\n" if verdict.problem else ""
        diff = unified_diff(expected_text, live_text, "snapshot", "live")
        outcome = Verdict(
            "failed",
            f"pytest-seeded: live output of call #{number} differs from the snapshot "
            f"({_seeded(seed)}, {_named(endpoint, live.identity)}, {how}{score}; "
            f"{endpoint.name})\nsnapshot: {test.snapshot_path}\n{problem}{diff}"
            f"{UNSEEDED_HINT if seed is None and endpoint.vectors is None else ''}"
            f"If the new output is right, re-record it with: {test.rerecord_command}",
        )
    return Judgement(
        name,
        live.identity,
        by=how,
        score=verdict.score,
        why=verdict.problem,
        count=name,
        compared=True,
        outcome=outcome,
    )


def _named(endpoint: Endpoint, identity: Identity) -> str:
    fingerprint, model = identity
    named = [] if fingerprint is None and model is not None else [f"fingerprint {fingerprint!r}"]
    if model is not None:
        named.append(f"{endpoint.model_name} {model!r}")
    return ", ".join(named)


def _drift(
    test: TestContext,
    expected: RecordedCall,
    live: RecordedCall,
    number: int,
    endpoint: Endpoint,
) -> tuple[Judgement, DriftRule | None]:
    """The model behind a call changed (its fingerprint or its model, and the snapshot holds
    no answer of the new identity): the drift policy (the hook's choice, or --llm-on-drift)
    decides. Its verdict is ``drift (<policy>)``."""
    (old_fp, old_model), (new_fp, new_model) = _identity(endpoint, expected), live.identity
    what, old, new = (
        (endpoint.fingerprint_name, old_fp, new_fp)
        if old_fp != new_fp
        else (endpoint.model_name, old_model, new_model)
    )
    chosen = test.hook.pytest_seeded_fingerprint_changed(
        old=old, new=new, item=test.item, what=what
    )
    name = test.settings.on_drift if chosen is None else str(chosen)
    policy = DRIFT_POLICIES.get(name)
    if policy is None:
        message = (
            f"pytest-seeded: pytest_seeded_fingerprint_changed returned {chosen!r}; it "
            f"should return one of {', '.join(DRIFT_NAMES)} or None"
        )
        return Judgement(None, outcome=Verdict("failed", message)), None
    known = len(expected.answers())
    also = (
        f" ({endpoint.model_name} changed too: recorded {old_model!r}, live {new_model!r})"
        if what == endpoint.fingerprint_name and old_model != new_model
        else ""
    )
    message = (
        f"pytest-seeded: {what} changed for call #{number} of {test.nodeid}: recorded "
        f"{old!r}, live {new!r}{also}. "
        "The model or its serving setup changed, and the snapshot holds no answer from it"
        f"{f' (it holds {known}, of other identities)' if known > 1 else ''}, so it cannot be "
        "compared. Keep the snapshot's answers and add this identity's with "
        f"--llm-on-drift=record. {test.rerecord_hint}"
    )
    judgement = Judgement(
        f"drift ({policy.name})",
        live.identity,
        why=f"{what} changed: recorded {old!r}, live {new!r}",
        count=policy.counted_as,
        drift=(what, old, new),
        outcome=None if policy.outcome is None else Verdict(policy.outcome, message),
        warning=FingerprintDriftWarning(message) if policy.warns else None,
        rerecord=policy.records,
    )
    return judgement, policy


def sample_of(endpoint: Endpoint, response: RecordedResponse) -> Sample:
    """One answer as --llm-repeat measures it: what served it, what it says, its vectors."""
    fingerprint, model = identity_of(endpoint, response)
    vectors = vectors_of(endpoint, response)
    return Sample(fingerprint or model, output_of(endpoint, response), vectors)


def _near(earlier: Sample, sample: Sample, min_cosine: float) -> bool:
    if earlier.identity != sample.identity or earlier.vectors is None or sample.vectors is None:
        return False
    return compare_vectors(earlier.vectors, sample.vectors, min_cosine).equal


def agreement(
    test: TestContext, number: int, samples: list[Sample], seed: Any = None
) -> tuple[list[dict[str, Any]], Verdict | None]:
    """--llm-repeat: how often the answers to one request agree, under which fingerprints, and
    the failure when that is below --llm-min-agreement. Embeddings agree when their vectors are
    within llm_min_cosine of an earlier answer's, as a live comparison would judge them."""
    run = test.settings.run
    kept: list[Sample] = []
    pairs = []
    for sample in samples:
        output = sample.output
        if sample.vectors is not None:
            near = next((k for k in kept if _near(k, sample, run.min_cosine)), None)
            if near is None:
                kept.append(sample)
            else:
                output = near.output
        pairs.append((sample.identity, output))
    measures = measure(number, pairs)
    # An unseeded call's agreement measures the model's sampling, not what a seed holds
    # (embeddings need no seed: they are not sampled).
    unseeded = seed is None and samples[0].vectors is None
    found = [
        {"nodeid": test.nodeid, **m.to_json(), "seed": seed, "unseeded": unseeded} for m in measures
    ]
    worst = min(measures, key=lambda m: m.agreement)
    if worst.agreement >= run.min_agreement:
        return found, None
    return found, Verdict(
        "failed",
        f"pytest-seeded: call #{number} of {test.nodeid} agreed with itself in "
        f"{worst.agreement:.0%} of {worst.responses} answers ({_seeded(seed)}, "
        f"served by {worst.fingerprint!r}, {worst.distinct} distinct), below "
        f"--llm-min-agreement {run.min_agreement:g}; first divergence at character "
        f"{worst.divergence_char}, token {worst.divergence_token}",
    )
