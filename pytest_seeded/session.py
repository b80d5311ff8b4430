"""Per-run state: the resolved settings, what the report shows (counts, fingerprint changes,
determinism measures, tokens), the fixture clients, and the run's environment. Kept in the
pytest stash."""

from __future__ import annotations

import bisect
import contextlib
import os
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_seeded.capture.credentials import (
    AWS_PLACEHOLDERS,
    PLACEHOLDER_ENVIRONMENT,
    PLACEHOLDER_KEY,
)
from pytest_seeded.settings import OPENAI_DEFAULT_BASE_URL, RunSettings, client_base_url
from pytest_seeded.stats import COUNT_NAMES

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls
    from pytest_seeded.capture.fixture_clients import FixtureClients


@dataclass
class SeededSession:
    settings: RunSettings
    totals: Counter[str] = field(default_factory=Counter)
    tests: int = 0
    # (what changed, recorded, live) -> the tests that saw that change
    drifts: dict[tuple[str, str | None, str | None], list[str]] = field(default_factory=dict)
    determinism: list[dict[str, Any]] = field(default_factory=list)
    tokens_spent: Counter[str] = field(default_factory=Counter)
    tokens_saved: Counter[str] = field(default_factory=Counter)
    # Live answers compared with their snapshot, per API shape (endpoints.py).
    compared: Counter[str] = field(default_factory=Counter)
    # One row per test for the HTML report: nodeid, outcome, mode, seed and its calls.
    rows: list[dict[str, Any]] = field(default_factory=list)
    # --llm-mode=record-new: the tests it recorded, and why.
    recorded_because: dict[str, list[str]] = field(default_factory=dict)
    # Orphaned snapshot files (no collected test owns them) deleted, and kept, at session end.
    deleted: list[str] = field(default_factory=list)
    kept_orphans: list[str] = field(default_factory=list)
    # The run's rootdir: the reports name files relative to it (shards run on other machines).
    root: str = ""
    # Set when the JSON report could not be written: said in the summary.
    report_error: str | None = None
    # Why --snapshot-update deleted nothing this run (cleanup.RunWatch.incomplete).
    held_back: list[str] = field(default_factory=list)
    # The run's environment changes (plugin.run_environment), undone at unconfigure.
    environment: pytest.MonkeyPatch = field(default_factory=pytest.MonkeyPatch)
    _clients: FixtureClients | None = None
    # Every client library's patch, entered once for the run by the first LLM test
    # (capture/intercept.py) and undone at unconfigure.
    _patches: contextlib.ExitStack | None = None

    def install(self) -> None:
        """Patch the client libraries for the rest of the run, if not done yet."""
        if self._patches is None:
            from pytest_seeded.capture.intercept import install

            self._patches = install()

    def add_test(self, nodeid: str, counts: dict[str, Any], outcome: str = "passed") -> None:
        """Add one test's counts (as its teardown report carries them)."""
        self.tests += 1
        self.rows.append(
            {
                "nodeid": nodeid,
                "outcome": outcome,
                "mode": counts.get("mode"),
                "seed": counts.get("seed"),
                "calls": counts.get("details", []),
                "determinism": counts.get("determinism", []),
            }
        )
        for name in COUNT_NAMES:
            value = counts.get(name, 0)
            if isinstance(value, int):
                self.totals[name] += value
        for what, old, new in counts.get("drifts", []):
            tests = self.drifts.setdefault((what, old, new), [])
            if nodeid not in tests:
                # Sorted: the reports read the same whatever order the tests ran in (xdist,
                # pytest-randomly).
                bisect.insort(tests, nodeid)
        self.determinism += counts.get("determinism", [])
        if counts.get("recorded_because"):
            self.recorded_because[nodeid] = list(counts["recorded_because"])
        self.tokens_spent.update(counts.get("tokens_spent", {}))
        self.tokens_saved.update(counts.get("tokens_saved", {}))
        self.compared.update(counts.get("compared", {}))

    def clients(self) -> FixtureClients:
        """The fixture clients, made on first use: a run that never asks for seeded_llm never
        imports openai."""
        if self._clients is None:
            from pytest_seeded.capture.fixture_clients import FixtureClients

            self._clients = FixtureClients()
        return self._clients

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()
            self._clients = None
        if self._patches is not None:
            self._patches.close()
            self._patches = None


SESSION_KEY = pytest.StashKey[SeededSession]()
# The running test's calls, from the start of its setup (testrun.open_window) until its teardown
# is reported; shared by the LLM fixtures it asks for.
CALLS_KEY: pytest.StashKey[TestCalls] = pytest.StashKey()
# What closes the test's window at the end of its teardown.
WINDOW_KEY: pytest.StashKey[Generator[TestCalls, None, None]] = pytest.StashKey()


REPLAY_ENVIRONMENT = (
    ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
    ("OPENAI_AGENTS_DISABLE_TRACING", "1"),
)


def run_environment(settings: RunSettings) -> pytest.MonkeyPatch:
    """What the whole run's environment needs, undone when pytest unconfigures: the base URL
    for clients built at import too (a record run must not send them to api.openai.com), and in
    replay, or against a server of the user's own, placeholder keys. Set once for the run, so
    a test pays nothing for it; the code under test builds its clients as in production."""
    env = pytest.MonkeyPatch()
    if settings.base_url and not os.environ.get("OPENAI_BASE_URL"):
        env.setenv("OPENAI_BASE_URL", settings.base_url)
    base_url = client_base_url(settings)
    own_server = base_url is not None and base_url.rstrip("/") != OPENAI_DEFAULT_BASE_URL
    rules = settings.rules
    # A mode that answers from snapshots (record-new) needs no key for the tests they answer;
    # one that must call api.openai.com without one fails then, saying why
    # (testrun.missing_key).
    if rules.answers_from_snapshot or own_server:
        names = PLACEHOLDER_ENVIRONMENT if not rules.sends else ("OPENAI_API_KEY",)
        for name in names:
            if not os.environ.get(name):
                env.setenv(name, PLACEHOLDER_KEY)
        if not rules.sends and not any(
            os.environ.get(name) for name in (*AWS_PLACEHOLDERS, "AWS_PROFILE")
        ):
            for name in AWS_PLACEHOLDERS:
                env.setenv(name, PLACEHOLDER_KEY)
        # google-genai reads either; it warns when both are set.
        if not rules.sends and not (
            os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        ):
            env.setenv("GEMINI_API_KEY", PLACEHOLDER_KEY)
    if not rules.sends:
        # Nothing leaves the process in replay, not even between tests: litellm fetches its
        # price list from GitHub at import, openai-agents uploads traces from a thread.
        for name, value in REPLAY_ENVIRONMENT:
            if name not in os.environ:
                env.setenv(name, value)
    return env
