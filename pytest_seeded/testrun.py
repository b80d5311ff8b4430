"""One test's life with the plugin: start its calls (shared by every LLM fixture it asks for),
load its snapshot, route its calls, then write or keep the snapshot at teardown. Imported only
when a test asks for an LLM fixture."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, TypeVar

import httpx2
import pytest

from pytest_seeded.errors import SnapshotFormatError
from pytest_seeded.extension import (
    SeededSnapshotExtension,
    forget,
    read_snapshot_text,
    remember,
)
from pytest_seeded.intercept import (
    AsyncSeededTransport,
    TestCalls,
    activate,
    deactivate,
    quote_nodeid,
)
from pytest_seeded.session import (
    LLM_FIXTURES,
    RUNNING_CALLS_KEY,
    SESSION_KEY,
    USER_PROPERTY,
)
from pytest_seeded.settings import (
    OPENAI_DEFAULT_BASE_URL,
    client_base_url,
    seeds_for,
    test_settings,
)
from pytest_seeded.snapshot import Recording, dumps, loads

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from syrupy.assertion import SnapshotAssertion

T = TypeVar("T")

# Handed to clients when no key is needed (replay, or a local server): openai refuses to
# construct a client without one. Not shaped like a real key, so no scanner mistakes it.
PLACEHOLDER_KEY = "pytest-seeded-no-key"


def shared_calls(request: pytest.FixtureRequest, make: Callable[[TestCalls], T]) -> Iterator[T]:
    """What an LLM fixture hands the test: ``make(calls)`` for the test's calls. The first LLM
    fixture a test sets up starts them, and finishes them at teardown after the others (pytest
    tears fixtures down in reverse); the others share them."""
    item = request.node
    running = item.stash.get(RUNNING_CALLS_KEY, None)
    if running is not None:
        yield make(running)
        return
    # In a seed matrix, pytest_generate_tests gives one of the fixtures each run's seed.
    params = getattr(getattr(item, "callspec", None), "params", {})
    matrix = [params[name] for name in LLM_FIXTURES if name in params]
    if matrix:
        seed = int(matrix[0])
    else:
        seed = seeds_for(item, request.config.stash[SESSION_KEY].settings)[0]
    runner = run_test(request, seed, bool(matrix))
    calls = next(runner)
    item.stash[RUNNING_CALLS_KEY] = calls
    try:
        yield make(calls)
    except BaseException:
        # make() failed (a setup error: pytest will not tear this fixture down), or pytest
        # closed the fixture without a teardown: either way, undo the interception now.
        del item.stash[RUNNING_CALLS_KEY]
        runner.close()
        raise
    del item.stash[RUNNING_CALLS_KEY]
    next(runner, None)  # the teardown: write or keep the snapshot, check what was used


def sync_client(calls: TestCalls) -> OpenAI:
    """The seeded_llm client: the run's one client, for the current key and base URL."""
    session = calls.item.config.stash[SESSION_KEY]
    base_url = client_base_url(session.settings)
    return session.fixture_client(
        os.environ.get("OPENAI_API_KEY"), base_url.rstrip("/") if base_url else None
    )


def async_client(calls: TestCalls) -> AsyncOpenAI:
    """The seeded_async_llm client: one per test (see AsyncSeededTransport)."""
    from openai import AsyncOpenAI

    session = calls.item.config.stash[SESSION_KEY]
    transport = AsyncSeededTransport(calls, session.ssl_context)
    return AsyncOpenAI(http_client=httpx2.AsyncClient(transport=transport))


def snapshot_assertion(request: pytest.FixtureRequest) -> SnapshotAssertion:
    """A syrupy assertion for this test that uses the plugin's extension.

    Built directly when syrupy's session is where syrupy's own ``snapshot`` fixture finds it:
    going through that fixture and ``use_extension`` makes two assertions per test and costs
    a replayed test about a fifth of its time. Any other syrupy layout takes the public way.
    """
    syrupy_session = getattr(request.config, "_syrupy", None)
    if syrupy_session is None:
        snapshot: SnapshotAssertion = request.getfixturevalue("snapshot")
        return snapshot.use_extension(SeededSnapshotExtension)
    from syrupy.assertion import SnapshotAssertion
    from syrupy.location import PyTestLocation

    option = request.config.option
    return SnapshotAssertion(
        update_snapshots=bool(option.update_snapshots),
        update_new_snapshots_only=bool(getattr(option, "update_new_snapshots_only", False)),
        extension_class=SeededSnapshotExtension,
        test_location=PyTestLocation(request.node),
        session=syrupy_session,
    )


def run_test(
    request: pytest.FixtureRequest, seed: int, matrix: bool
) -> Generator[TestCalls, None, None]:
    item = request.node
    session = request.config.stash[SESSION_KEY]
    settings = session.settings
    # In a seed matrix the test id carries the seed already (test_x[seed=2]), and so does the
    # file name; otherwise the seed is added to it: test_x[seed=42].
    index: str | int = 0 if matrix else f"seed={seed}"
    assertion = snapshot_assertion(request)
    location = assertion.extension.get_location(test_location=assertion.test_location, index=index)
    shown = _shown_path(location, request.config)

    recorded: Recording | None = None
    if settings.mode != "record":
        try:
            recorded = _load(location, shown)
        except SnapshotFormatError as exc:
            item.user_properties.append((USER_PROPERTY, {"unreadable": 1}))
            # Still the test's file: tell syrupy it is in use, or --snapshot-update would
            # delete what the user may want to mend by hand.
            _keep(assertion, index, location)
            raise pytest.fail.Exception(
                f"pytest-seeded: cannot read the snapshot of {item.nodeid}: {exc.path}\n"
                f"{exc.problem}\n"
                f"Fix or delete the file, or re-record it with: pytest {quote_nodeid(item.nodeid)} "
                "--llm-mode=record",
                pytrace=False,
            ) from None

    calls = TestCalls(
        item=item,
        mode=settings.mode,
        settings=test_settings(item, settings, seed),
        repeat=settings.repeat,
        min_agreement=settings.min_agreement,
        scrub=settings.scrub_fields,
        snapshot_path=shown,
        recorded=recorded,
    )
    env = pytest.MonkeyPatch()
    _set_environment(env, settings.mode, client_base_url(settings))
    activate(calls)
    try:
        yield calls
    finally:
        deactivate()
        env.undo()
        try:
            _finish(calls, assertion, index, location)
        finally:
            forget(location)
            item.user_properties.append((USER_PROPERTY, calls.stats.as_property()))


def _load(location: str, shown: str) -> Recording | None:
    try:
        text = read_snapshot_text(location)
    except UnicodeDecodeError as exc:
        raise SnapshotFormatError(
            shown, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise SnapshotFormatError(shown, f"cannot be read ({exc.strerror})") from None
    return None if text is None else loads(text, shown)


def _set_environment(env: pytest.MonkeyPatch, mode: str, base_url: str | None) -> None:
    """Let the code under test build its own clients as it would in production."""
    if base_url and not os.environ.get("OPENAI_BASE_URL"):
        env.setenv("OPENAI_BASE_URL", base_url)
    if os.environ.get("OPENAI_API_KEY"):
        return
    if mode == "replay" or (base_url and base_url.rstrip("/") != OPENAI_DEFAULT_BASE_URL):
        env.setenv("OPENAI_API_KEY", PLACEHOLDER_KEY)
        return
    pytest.fail(
        f"pytest-seeded: --llm-mode={mode} calls {OPENAI_DEFAULT_BASE_URL}, but OPENAI_API_KEY "
        "is not set. Set it, or point OPENAI_BASE_URL (or the llm_base_url ini option) at an "
        "OpenAI-compatible server.",
        pytrace=False,
    )


def _finish(
    calls: TestCalls,
    assertion: SnapshotAssertion,
    index: str | int,
    location: str,
) -> None:
    """Write the new recording (record mode, passing test) and tell syrupy the file is in use,
    so that --snapshot-update never deletes a snapshot a test still has."""
    keep: Recording | None = calls.recorded
    passed = calls.outcome == "passed"
    if calls.mode == "record" or calls.rerecord:
        new_calls = calls.finished_calls()
        if passed and new_calls:
            keep = Recording(seed=calls.seed, calls=new_calls)
            text = dumps(keep)
            keep.source = text
            if _read_raw(location) != text:
                SeededSnapshotExtension.write_snapshot(
                    snapshot_location=location,
                    snapshots=[(text, assertion.test_location, index)],
                )
            # What syrupy recalls next is the new text, not what this test read at setup.
            remember(location, text)
            if calls.mode == "record":
                calls.stats.recorded += len(new_calls)
        else:
            # A failing test records nothing: the snapshot on disk, if any, stays as it was.
            _keep(assertion, index, location)
            return
    if keep is not None:
        _named(assertion, index).assert_match(keep)
        _release(assertion)
    if calls.mode != "record" and not calls.rerecord and passed:
        calls.check_all_used()


def _named(assertion: SnapshotAssertion, index: str | int) -> SnapshotAssertion:
    # Index 0 is syrupy's first unnamed assertion: the file is named after the test alone.
    return assertion(name=index) if isinstance(index, str) else assertion


def _keep(assertion: SnapshotAssertion, index: str | int, location: str) -> None:
    """Mark the file on disk, whatever it holds, as used by this test, without rewriting it."""
    existing = _read_raw(location)
    if existing is not None:
        # Through the read cache, so that a file that is not even UTF-8 compares equal too.
        remember(location, existing)
        _named(assertion, index).assert_match(existing)
        _release(assertion)


def _release(assertion: SnapshotAssertion) -> None:
    """Let go of the snapshot's text once syrupy has matched it. syrupy keeps every assertion
    until the run ends, for its report, which reads only where each snapshot is and whether
    it matched; holding each test's text too made memory grow with the number of tests."""
    for result in assertion.executions.values():
        if result.success:
            result.asserted_data = result.recalled_data = None


def _read_raw(location: str) -> str | None:
    try:
        with open(location, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError):
        return None


def _shown_path(location: str, config: pytest.Config) -> str:
    # Snapshots almost always sit under the root folder: a prefix cut gives what relpath gives
    # there, for a fifth of its cost (relpath normalizes both paths on every call).
    root = os.path.join(config.rootpath, "")
    if location.startswith(root):
        return location[len(root) :]
    try:
        return os.path.relpath(location, config.rootpath)
    except ValueError:
        return location
