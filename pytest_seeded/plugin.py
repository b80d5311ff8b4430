"""The pytest11 entry point: options, ini settings, the marker, the hooks, the fixtures and the
report wiring.

Kept thin and cheap to import: the openai client, httpx2 and the interception code load only
when a test asks for an LLM fixture.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_seeded.modes import DEFAULT_DRIFT, DEFAULT_MODE, DRIFT_NAMES, MODE_NAMES
from pytest_seeded.session import (
    CALLS_KEY,
    SESSION_KEY,
    WINDOW_KEY,
    SeededSession,
    run_environment,
)
from pytest_seeded.settings import (
    DEFAULT_COMPARE,
    DEFAULT_SEED,
    ON_OLD_POLICIES,
    age_type,
    agreement_type,
    compare_type,
    drift_type,
    mode_type,
    on_old_type,
    repeat_type,
    resolve_run_settings,
    seed_type,
    seeds_for,
)
from pytest_seeded.stats import read_properties
from pytest_seeded.storage.cleanup import WATCH_KEY, RunWatch
from pytest_seeded.storage.naming import IGNORE_NAME, LLM_FIXTURES

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from pytest_seeded.calls import TestCalls


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_seeded import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seeded", "pytest-seeded: snapshot tests for seeded LLM calls")
    group.addoption(
        "--llm-mode",
        dest="llm_mode",
        type=mode_type,
        default=None,
        metavar="MODE",
        help=(
            f"how LLM calls are answered: {', '.join(MODE_NAMES)} (default: ini llm_mode, else "
            f"{DEFAULT_MODE}). replay answers from snapshots offline; live calls the model and "
            "compares with the snapshot; record calls the model and writes snapshots; "
            "record-new replays what the snapshots answer and records only the tests they do "
            "not (no snapshot, or a changed request)."
        ),
    )
    group.addoption(
        "--llm-seed",
        dest="llm_seed",
        type=seed_type,
        default=None,
        metavar="N[,N...]",
        help=f"seed put into every completion request that has none (default: ini llm_seed, "
        f"else {DEFAULT_SEED}); several, comma-separated, run each test once per seed",
    )
    group.addoption(
        "--llm-compare",
        dest="llm_compare",
        type=compare_type,
        default=None,
        metavar="POLICY",
        help="how live output is compared with the snapshot: exact, normalized, json or "
        f"similar:THRESHOLD (default: ini llm_compare, else {DEFAULT_COMPARE})",
    )
    group.addoption(
        "--llm-on-drift",
        dest="llm_on_drift",
        type=drift_type,
        default=None,
        metavar="POLICY",
        help=f"what a changed system_fingerprint does in live mode: {', '.join(DRIFT_NAMES)} "
        f"(default: ini llm_on_drift, else {DEFAULT_DRIFT})",
    )
    group.addoption(
        "--llm-repeat",
        dest="llm_repeat",
        type=repeat_type,
        default=None,
        metavar="K",
        help="live/record: make each call K times with the same seed and report how often the "
        "answers agree",
    )
    group.addoption(
        "--llm-min-agreement",
        dest="llm_min_agreement",
        type=agreement_type,
        default=None,
        metavar="RATE",
        help="with --llm-repeat: fail a call whose answers agree less often than this "
        "(0 to 1, default 1.0)",
    )
    group.addoption(
        "--llm-report",
        dest="llm_report",
        default=None,
        metavar="PATH",
        help="write the run's calls, drift, determinism and token counts as JSON to PATH",
    )
    group.addoption(
        "--llm-report-html",
        dest="llm_report_html",
        default=None,
        metavar="PATH",
        help="write the run's report as one self-contained HTML page to PATH (charts of calls, "
        "agreement and tokens; every test's calls)",
    )
    group.addoption(
        "--llm-max-age",
        dest="llm_max_age",
        type=age_type,
        default=None,
        metavar="DAYS",
        help="warn about (or, with --llm-on-old=fail, fail) tests whose snapshot was recorded "
        "more than DAYS days ago: providers retire and change models (default: ini "
        "llm_max_age, else no limit)",
    )
    group.addoption(
        "--llm-on-old",
        dest="llm_on_old",
        type=on_old_type,
        default=None,
        metavar="POLICY",
        help=f"what a snapshot older than --llm-max-age does: {', '.join(ON_OLD_POLICIES)} "
        "(default: ini llm_on_old, else warn)",
    )
    parser.addini("llm_mode", f"default for --llm-mode (default {DEFAULT_MODE})", default="")
    parser.addini("llm_max_age", "default for --llm-max-age (days)", default="")
    parser.addini("llm_on_old", "default for --llm-on-old (warn or fail)", default="")
    parser.addini("llm_seed", f"default for --llm-seed (default {DEFAULT_SEED})", default="")
    parser.addini(
        "llm_compare", f"default for --llm-compare (default {DEFAULT_COMPARE})", default=""
    )
    parser.addini(
        "llm_on_drift", f"default for --llm-on-drift (default {DEFAULT_DRIFT})", default=""
    )
    parser.addini(
        "llm_min_cosine",
        "embeddings pass a live run when each vector's cosine similarity with the recorded one "
        "is at least this (0 to 1, default 0.999)",
        default="",
    )
    parser.addini(
        "llm_scrub_fields",
        "JSON field names (in request and response bodies, at any depth) and URL query "
        "parameters whose values are never stored in a snapshot; one or more per line",
        type="linelist",
        default=[],
    )
    parser.addini(
        "llm_allow_secret_fields",
        "JSON field names whose text may be stored even though it looks like a live credential "
        "(sk-... keys, AKIA..., bearer tokens, JWTs); one or more per line",
        type="linelist",
        default=[],
    )
    parser.addini(
        "llm_passthrough_hosts",
        "hosts (host, or host:port) whose HTTP a test using the plugin sends for real in every "
        "mode, never recorded or replayed (a local database's HTTP API); one or more per line",
        type="linelist",
        default=[],
    )
    parser.addini(
        "llm_seed_hosts",
        "hosts (host, or host:port) whose server takes a seed where the hosted API has none "
        "(llama.cpp and vLLM on /v1/responses): the run's seed goes into their Responses, "
        "Anthropic Messages and unknown LLM calls too; one or more per line",
        type="linelist",
        default=[],
    )
    parser.addini(
        "llm_live_other_http",
        "in live runs, the test's other HTTP (tools, retrieval) is answered from the snapshot "
        "(replay, the default: the model sees the results it saw when recorded) or sent for "
        "real (live)",
        default="",
    )
    parser.addini(
        "llm_keep_identities",
        "how many identities (fingerprint and model) a call keeps answers for, the newest "
        "first; the oldest go when a re-record adds one (default 3)",
        default="",
    )
    parser.addini(
        "llm_base_url",
        "OpenAI-compatible base URL for the LLM fixtures when OPENAI_BASE_URL is not set",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "llm(seed=N, seeds=[...], compare=POLICY, on_drift=POLICY): pytest-seeded settings "
        "for this test, over the command line and the ini file",
    )
    session = SeededSession(resolve_run_settings(config))
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(_CountsCollector(session), "seeded-counts")
    watch = RunWatch(config)
    config.stash[WATCH_KEY] = watch
    config.pluginmanager.register(watch, "seeded-run-watch")
    session.environment = run_environment(session.settings)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
        session.environment.undo()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # syrupy's other extensions (its default, amber, above all) walk __snapshots__ and call
    # every file they do not own an unknown collection, to be deleted by --snapshot-update:
    # the plugin's files of other seeds, of failed tests, of a run where no LLM test started.
    # Its own ignore list keeps them off those walks; the plugin's extension alone lists its
    # files, and shows syrupy only those no collected test owns. Before syrupy reads it.
    option = session.config.option
    if not hasattr(option, "ignore_file_extensions"):
        return
    ignored = list(option.ignore_file_extensions or [])
    session.config.stash[WATCH_KEY].user_ignores_ours = IGNORE_NAME in ignored
    if IGNORE_NAME not in ignored:
        option.ignore_file_extensions = [*ignored, IGNORE_NAME]


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    # Under --snapshot-update, syrupy deletes at session end every snapshot it did not see
    # used. The files a collected test owns are hidden from it (cleanup.py); the orphans it
    # may delete only after a complete run. Otherwise set syrupy's own --snapshot-no-cleanup,
    # before syrupy's (tryfirst) hook reads it: only a wrapper is sure to run before it.
    config = session.config
    watch = config.stash[WATCH_KEY]
    option = config.option
    if getattr(option, "update_snapshots", False) and not getattr(option, "no_cleanup", False):
        reasons = watch.incomplete(session, exitstatus)
        if reasons:
            option.no_cleanup = True
            watch.held_back = reasons
    result = yield
    from pytest_seeded.storage.cleanup import orphans_after

    seeded = config.stash[SESSION_KEY]
    seeded.deleted, seeded.kept_orphans = orphans_after(config)
    seeded.held_back = watch.held_back
    return result


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[SESSION_KEY].settings
    seeds = ",".join(str(s) for s in settings.seeds)
    extra = f", repeat {settings.repeat}" if settings.repeat > 1 else ""
    return (
        f"pytest-seeded: mode {settings.mode} ({settings.mode_source}), "
        f"seed {seeds} ({settings.seed_source}), compare {settings.compare}, "
        f"on drift {settings.on_drift}{extra}"
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """--snapshot-update is syrupy's habit and, here, a paid recording: said before the first
    call, with what it will cost by the snapshots it replaces."""
    config = session.config
    settings = config.stash[SESSION_KEY].settings
    if settings.mode_source != "--snapshot-update" or hasattr(config, "workerinput"):
        return
    from pytest_seeded.testrun import calls_ahead

    tests, calls, new = calls_ahead([item for item in session.items if _uses_llm(item)])
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not tests:
        return
    fresh = f", {new} test(s) with no snapshot yet" if new else ""
    reporter.write_line(
        f"pytest-seeded: --snapshot-update records: {tests} test(s) will call the model "
        f"({calls} call(s) when last recorded{fresh}). --llm-mode=record is the explicit way; "
        "--snapshot-update also deletes snapshots no collected test owns.",
        yellow=True,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A seed matrix: each test that uses the LLM fixtures runs once per seed."""
    used = [name for name in LLM_FIXTURES if name in metafunc.fixturenames]
    if not used:
        return
    settings = metafunc.config.stash[SESSION_KEY].settings
    seeds = seeds_for(metafunc.definition, settings)
    marker = metafunc.definition.get_closest_marker("llm")
    if len(seeds) > 1 or (marker is not None and "seeds" in marker.kwargs):
        # On one of the fixtures the test uses; whichever starts the test's calls reads the
        # seed from the item's parameters.
        metafunc.parametrize(used[0], seeds, ids=[f"seed={s}" for s in seeds], indirect=True)


def _uses_llm(item: pytest.Item) -> bool:
    return any(name in LLM_FIXTURES for name in getattr(item, "fixturenames", ()))


# The test's window (capture/routing.py): from before its first fixture's setup to after its
# last fixture's teardown. Opened by a plain hook that runs first: inside every plugin's
# wrappers, so one that fails (an unreadable snapshot) is reported like any setup error.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _uses_llm(item):
        from pytest_seeded.testrun import open_window

        open_window(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        if WINDOW_KEY in item.stash:
            from pytest_seeded.testrun import close_window

            close_window(item)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: Any, request: pytest.FixtureRequest
) -> Generator[Any, Any, Any]:
    # A fixture wider than one test sets up once for many: what it sends belongs to no one
    # test's snapshot, so it is a stray (refused in replay) rather than the first test's.
    # (request.node is the fixture's scope node here, not the test: the window knows the test.)
    routing = sys.modules.get("pytest_seeded.capture.routing")
    running = routing.current() if routing is not None and fixturedef.scope != "function" else None
    if routing is None or running is None:
        return (yield)
    undo = routing.own(
        routing.Stray(running, f"the {fixturedef.scope}-scoped fixture {fixturedef.argname!r}")
    )
    try:
        return (yield)
    finally:
        undo()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "setup":
        return report
    # The test's calls, from its first LLM fixture's setup to this teardown report; a test
    # without the LLM fixtures has none, and nothing is done for it.
    running = item.stash.get(CALLS_KEY, None)
    if running is None:
        return report
    if report.when == "teardown":
        del item.stash[CALLS_KEY]
        if running.outcome != "passed":
            return report  # a test that did not pass is not told more at teardown
    late = running.verdicts[running.verdicts_reported :]
    if late:
        # The plugin's verdict is the test's outcome, whatever the code under test made of the
        # call that produced it; one decided at teardown fails the teardown (verdicts.py).
        from pytest_seeded.verdicts import apply, strongest

        verdict = strongest(late)
        assert verdict is not None
        apply(report, item, verdict)
        running.verdicts_reported = len(running.verdicts)
    if report.when == "call":
        running.outcome = report.outcome
    return report


class _CountsCollector:
    """Adds each test's counts to the run's, from the teardown report. It runs wherever reports
    arrive: under pytest-xdist that is the controller too, which prints the summary."""

    def __init__(self, session: SeededSession) -> None:
        self.session = session
        # Each test's outcome, from its call report (or a setup that did not pass).
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome: str = report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "xpassed"
            elif report.when == "setup" and report.failed:
                outcome = "error"
            self.outcomes[report.nodeid] = outcome
        if report.when != "teardown":
            return
        counts = read_properties(report.user_properties)
        final = self.outcomes.pop(report.nodeid, "passed")
        if report.failed:
            final = "error"
        if counts is not None:
            self.session.add_test(report.nodeid, counts, final)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Workers hand their counts over through reports; only the controller (or a run
        # without xdist) writes the reports.
        if hasattr(session.config, "workerinput"):
            return
        settings = self.session.settings
        summary = self.session.tests and os.environ.get("GITHUB_STEP_SUMMARY")
        if not (settings.report_path or settings.html_path or summary):
            return  # nothing to write: nothing of the reports is imported
        from pytest_seeded.report.write import write_reports
        from pytest_seeded.storage.cleanup import unowned_files

        # syrupy (tryfirst) has deleted what it may by now: the report lists what is left.
        self.session.kept_orphans = unowned_files(session.config)
        self.session.root = str(session.config.rootpath)
        write_reports(self.session, session.config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not (session.tests or session.deleted):
        return
    from pytest_seeded.report.terminal import summary_lines

    terminalreporter.write_sep("-", "pytest-seeded")
    for line in summary_lines(session):
        terminalreporter.write_line(line)
    routing = sys.modules.get("pytest_seeded.capture.routing")
    strays = list(getattr(routing, "strays", ()))
    if strays:
        terminalreporter.write_line(
            f"outside any test's window, sent and not recorded: {len(strays)}"
        )
        for line in strays[:20]:
            terminalreporter.write_line(f"  {line}")


@pytest.fixture
def seeded_calls(request: pytest.FixtureRequest) -> Iterator[TestCalls]:
    """The current test's LLM calls: mode, seed, snapshot path and counts. Any test that asks
    for it is covered: openai clients the code under test builds are seeded and answered too."""
    from pytest_seeded.testrun import shared_calls

    yield from shared_calls(request, lambda calls: calls)


@pytest.fixture
def llm_seed(request: pytest.FixtureRequest) -> Iterator[int]:
    """The seed this test's completion requests get (its marker's, else ``--llm-seed``'s; in a
    seed matrix, this run's)."""
    from pytest_seeded.testrun import shared_calls

    yield from shared_calls(request, lambda calls: calls.seed)


@pytest.fixture
def seeded_llm(request: pytest.FixtureRequest) -> Iterator[OpenAI]:
    """An ``openai.OpenAI`` client whose completion requests are seeded, recorded and replayed.

    One client serves the whole run (built once: cheaper per test); treat it as read-only and
    use ``with_options()`` for a variant."""
    from pytest_seeded.testrun import shared_calls, sync_client

    yield from shared_calls(request, sync_client)


@pytest.fixture
def seeded_async_llm(request: pytest.FixtureRequest) -> Iterator[AsyncOpenAI]:
    """The ``openai.AsyncOpenAI`` twin of ``seeded_llm``."""
    from pytest_seeded.testrun import async_client, shared_calls

    yield from shared_calls(request, async_client)
