"""The pytest11 entry point: options, ini settings, the marker, the fixtures and the report.

Kept thin and cheap to import: the openai client, httpx2 and the interception code load only
when a test asks for an LLM fixture.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_seeded.session import CALL_OUTCOME_KEY, SESSION_KEY, USER_PROPERTY, SeededSession
from pytest_seeded.settings import (
    DEFAULT_MODE,
    DEFAULT_SEED,
    MODES,
    mode_type,
    resolve_run_settings,
    seed_type,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from syrupy.assertion import SnapshotAssertion

    from pytest_seeded.intercept import TestCalls


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seeded", "pytest-seeded: snapshot tests for seeded LLM calls")
    group.addoption(
        "--llm-mode",
        dest="llm_mode",
        type=mode_type,
        default=None,
        metavar="MODE",
        help=(
            f"how LLM calls are answered: {', '.join(MODES)} (default: ini llm_mode, else "
            f"{DEFAULT_MODE}). replay answers from snapshots offline; live calls the model and "
            "compares with the snapshot; record calls the model and writes snapshots."
        ),
    )
    group.addoption(
        "--llm-seed",
        dest="llm_seed",
        type=seed_type,
        default=None,
        metavar="N",
        help=f"seed put into every completion request that has none (default: ini llm_seed, "
        f"else {DEFAULT_SEED})",
    )
    parser.addini("llm_mode", f"default for --llm-mode (default {DEFAULT_MODE})", default="")
    parser.addini("llm_seed", f"default for --llm-seed (default {DEFAULT_SEED})", default="")
    parser.addini(
        "llm_base_url",
        "OpenAI-compatible base URL for the LLM fixtures when OPENAI_BASE_URL is not set",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "llm(seed=N): settings of pytest-seeded for this test; seed=N overrides --llm-seed",
    )
    session = SeededSession(resolve_run_settings(config))
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(_CountsCollector(session), "seeded-counts")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[SESSION_KEY].settings
    return (
        f"pytest-seeded: mode {settings.mode} ({settings.mode_source}), "
        f"seed {settings.seed} ({settings.seed_source})"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_OUTCOME_KEY] = report.outcome
    return report


class _CountsCollector:
    """Adds each test's counts to the run's, from the teardown report. It runs wherever reports
    arrive: under pytest-xdist that is the controller too, which prints the summary."""

    def __init__(self, session: SeededSession) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        merged: dict[str, Any] = {}
        for name, counts in report.user_properties:
            if name != USER_PROPERTY or not isinstance(counts, dict):
                continue
            for key, value in counts.items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
                elif isinstance(value, int):
                    merged[key] = merged.get(key, 0) + value
        if merged:
            self.session.add_test(report.nodeid, merged)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.tests:
        return
    from pytest_seeded.report import summary_lines

    terminalreporter.write_sep("-", "pytest-seeded")
    for line in summary_lines(session):
        terminalreporter.write_line(line)


@pytest.fixture
def seeded_calls(
    request: pytest.FixtureRequest, snapshot: SnapshotAssertion
) -> Iterator[TestCalls]:
    """The current test's LLM calls: mode, seed, snapshot path and counts. Any test that asks
    for it is covered: openai clients the code under test builds are seeded and answered too."""
    from pytest_seeded.testrun import run_test

    yield from run_test(request, snapshot)


@pytest.fixture
def seeded_llm(seeded_calls: TestCalls, request: pytest.FixtureRequest) -> OpenAI:
    """An ``openai.OpenAI`` client whose completion requests are seeded, recorded and replayed."""
    import httpx2
    from openai import OpenAI

    from pytest_seeded.intercept import SeededTransport

    session = request.config.stash[SESSION_KEY]
    transport = SeededTransport(seeded_calls, session.real_sync_transport)
    return OpenAI(http_client=httpx2.Client(transport=transport))


@pytest.fixture
def seeded_async_llm(seeded_calls: TestCalls) -> AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of ``seeded_llm``."""
    import httpx2
    from openai import AsyncOpenAI

    from pytest_seeded.intercept import AsyncSeededTransport

    return AsyncOpenAI(http_client=httpx2.AsyncClient(transport=AsyncSeededTransport(seeded_calls)))
