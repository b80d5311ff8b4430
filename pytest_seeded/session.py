"""Per-run state: the resolved settings, what the report shows (counts, fingerprint changes,
determinism measures, tokens), and the one real transport that live and record runs share.
Kept in the pytest stash."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_seeded.settings import (
    OPENAI_DEFAULT_BASE_URL,
    PLACEHOLDER_ENVIRONMENT,
    PLACEHOLDER_KEY,
    RunSettings,
    client_base_url,
)

if TYPE_CHECKING:
    import ssl

    import httpx2
    from openai import OpenAI

    from pytest_seeded.calls import TestCalls

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
    # Set when the JSON report could not be written: said in the summary.
    report_error: str | None = None
    # Why --snapshot-update deleted nothing this run (cleanup.RunWatch.incomplete).
    held_back: list[str] = field(default_factory=list)
    # The run's environment changes (plugin.run_environment), undone at unconfigure.
    environment: pytest.MonkeyPatch = field(default_factory=pytest.MonkeyPatch)
    _real_sync: httpx2.HTTPTransport | None = None
    _ssl_context: ssl.SSLContext | None = None
    _client: OpenAI | None = None
    _client_key: tuple[str | None, str | None] | None = None

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
                tests.append(nodeid)
        self.determinism += counts.get("determinism", [])
        if counts.get("recorded_because"):
            self.recorded_because[nodeid] = list(counts["recorded_because"])
        self.tokens_spent.update(counts.get("tokens_spent", {}))
        self.tokens_saved.update(counts.get("tokens_saved", {}))
        self.compared.update(counts.get("compared", {}))

    def real_sync_transport(self) -> httpx2.HTTPTransport:
        # Made once per run and only when a call really goes out, which replay never does.
        if self._real_sync is None:
            import httpx2

            self._real_sync = httpx2.HTTPTransport(verify=self.ssl_context())
        return self._real_sync

    def ssl_context(self) -> ssl.SSLContext:
        """The run's one SSL context, as httpx2 builds its default (system CA store, SSL_CERT_*
        honoured). Building one reads the CA store, about 17 ms; the async fixture needs a new
        transport per test, since a connection pool belongs to one event loop, but not a new
        context: a context is not tied to a loop and may serve many connections."""
        if self._ssl_context is None:
            import httpx2

            self._ssl_context = httpx2.create_ssl_context()
        return self._ssl_context

    def fixture_client(self, api_key: str | None, base_url: str | None) -> OpenAI:
        """The seeded_llm client: one per run (and per key and base URL, if a test changes
        them), its transport routed to whichever test is running."""
        client = self._client
        if client is None or self._client_key != (api_key, base_url):
            import httpx2
            from openai import OpenAI

            from pytest_seeded.transport import SeededTransport

            transport = SeededTransport(self.real_sync_transport)
            client = OpenAI(
                api_key=api_key, base_url=base_url, http_client=httpx2.Client(transport=transport)
            )
            self._client, self._client_key = client, (api_key, base_url)
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._real_sync is not None:
            self._real_sync.close()
            self._real_sync = None


SESSION_KEY = pytest.StashKey[SeededSession]()
# The fixtures that put a test under the plugin. Each is a layer of its own, not built on a
# shared one: pytest charges about 50 µs a test for every fixture layer, as much as a replay.
LLM_FIXTURES = ("seeded_calls", "seeded_llm", "seeded_async_llm", "llm_seed")
# The running test's calls, shared by the LLM fixtures it asks for (the first one starts them).
RUNNING_CALLS_KEY: pytest.StashKey[TestCalls] = pytest.StashKey()


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
    # record-new: tests whose snapshots answer every request need no key; one that must call
    # api.openai.com without one fails then, saying why (testrun.missing_key).
    if settings.mode in ("replay", "record-new") or own_server:
        names = PLACEHOLDER_ENVIRONMENT if settings.mode == "replay" else ("OPENAI_API_KEY",)
        for name in names:
            if not os.environ.get(name):
                env.setenv(name, PLACEHOLDER_KEY)
        # google-genai reads either; it warns when both are set.
        if settings.mode == "replay" and not (
            os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        ):
            env.setenv("GEMINI_API_KEY", PLACEHOLDER_KEY)
    if settings.mode == "replay":
        # Nothing leaves the process in replay, not even between tests: litellm fetches its
        # price list from GitHub at import, openai-agents uploads traces from a thread.
        for name, value in REPLAY_ENVIRONMENT:
            if name not in os.environ:
                env.setenv(name, value)
    return env
