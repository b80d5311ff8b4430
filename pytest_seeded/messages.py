"""What a test is told: the test's context (its id, seed, snapshot file and the command that
re-records it) and the messages that name them. Every message says which test, which file and
what to do."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_seeded.ledger import Ledger, request_text
from pytest_seeded.settings import TestSettings
from pytest_seeded.storage.snapshot import RecordedRequest


@dataclass(frozen=True)
class TestContext:
    """One test under the plugin: who it is, what holds for it, and where its snapshot is."""

    __test__ = False

    item: pytest.Item
    settings: TestSettings
    snapshot_path: str
    # Made only when a message needs it (hints.py).
    make_rerecord_command: Callable[[], str] = field(
        default=lambda: "pytest --llm-mode=record", compare=False
    )

    @property
    def nodeid(self) -> str:
        return self.item.nodeid

    @property
    def seed(self) -> int:
        return self.settings.seed

    @functools.cached_property
    def hook(self) -> Any:
        # item.ihook builds a hook proxy on every access: take it once per test.
        return self.item.ihook

    @functools.cached_property
    def rerecord_command(self) -> str:
        return self.make_rerecord_command()

    @property
    def rerecord_hint(self) -> str:
        return f"Re-record it with: {self.rerecord_command}"


def unmatched(test: TestContext, ledger: Ledger, wanted: RecordedRequest) -> str:
    """Why a request has no recorded answer."""
    if ledger.recorded is None:
        return (
            f"pytest-seeded: no snapshot for {test.nodeid} with seed {test.seed}.\n"
            f"Expected: {test.snapshot_path}\n"
            f"Record it with: {test.rerecord_command}"
        )
    if wanted.is_http:
        return (
            f"pytest-seeded: {test.nodeid} made a request its snapshot does not hold: "
            f"{wanted.method} {wanted.path}\nIn replay nothing leaves the process. "
            f"Snapshot: {test.snapshot_path}\n{test.rerecord_hint}\nIf this host should "
            "be reached in every mode (a local service), add it to the "
            "llm_passthrough_hosts ini option."
        )
    diff = ledger.why_unmatched(wanted)
    if diff is None:
        return (
            f"pytest-seeded: {test.nodeid} made more calls than its snapshot holds "
            f"({ledger.size} recorded, seed {test.seed}).\n"
            f"Snapshot: {test.snapshot_path}\nUnrecorded request:\n"
            f"{request_text(wanted)}\n{test.rerecord_hint}"
        )
    return (
        f"pytest-seeded: a request of {test.nodeid} does not match its snapshot "
        f"(seed {test.seed}); the prompt, model, parameters or seed changed.\n"
        f"Snapshot: {test.snapshot_path}\n{diff}{test.rerecord_hint}"
    )


def unused(test: TestContext, made: int, size: int, left: list[int]) -> str:
    """A test made fewer calls than its snapshot holds."""
    return (
        f"pytest-seeded: {test.nodeid} made {made} call{'s' * (made != 1)}, but its snapshot "
        f"holds {size} (seed {test.seed}): recorded call"
        f"{'s' * (len(left) != 1)} #{', #'.join(map(str, left))} went unused. The test "
        "changed since it was recorded, or the file was edited.\n"
        f"Snapshot: {test.snapshot_path}\n{test.rerecord_hint}"
    )


def cut_stream(test: TestContext, number: int, events: int, end: str) -> str:
    return (
        f"pytest-seeded: the stream of call #{number} of {test.nodeid} ended after "
        f"{events} events without its {end}: the server stopped early and the answer may "
        "be cut short. Nothing of this test was recorded; the snapshot "
        f"on disk ({test.snapshot_path}) is unchanged."
    )


def no_call(test: TestContext, mode: str, did: str) -> str:
    return (
        f"pytest-seeded: {test.nodeid} asked for the plugin but made no LLM call it "
        f"could see, so --llm-mode={mode} {did} nothing. If the code under test "
        "calls a model, its client or transport is not one the plugin covers yet."
    )


def credentials_found(test: TestContext, found: list[tuple[str, str]]) -> str:
    where = "\n".join(f"  {path}: {kind}" for path, kind in found)
    return (
        f"pytest-seeded: {test.nodeid} was not recorded: its recording holds text shaped "
        f"like a live credential, and a snapshot is committed to git.\n{where}\n"
        "Remove it with the llm_scrub_fields ini option or the pytest_seeded_scrub hook; "
        "if it is not a credential, name the field in the llm_allow_secret_fields ini "
        f"option. The snapshot on disk ({test.snapshot_path}) is unchanged."
    )


def not_recorded(test: TestContext, unanswered: list[tuple[RecordedRequest, str]]) -> str:
    """A recording mode's test passed, but a request of it was never answered."""
    where = "\n".join(f"  {r.method} {r.path}: {why}" for r, why in unanswered)
    return (
        f"pytest-seeded: {test.nodeid} was not recorded: {len(unanswered)} request"
        f"{'s' * (len(unanswered) != 1)} got no answer to record, and the code under test went "
        f"on without it (a fallback, or a retry that gave up):\n{where}\n"
        "A recording without it would fail every replay, so the snapshot on disk "
        f"({test.snapshot_path}) was kept as it was. Record again when the server answers: "
        f"{test.rerecord_command}"
    )
