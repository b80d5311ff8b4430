"""One test's life with the plugin: start its calls (shared by every LLM fixture it asks for),
load its snapshot, route its calls, then write or keep the snapshot at teardown. Imported only
when a test asks for an LLM fixture.

A verdict known only at teardown (a recorded call no request took, a stream read to its end
there, a recording refused for a credential) goes the verdicts' one way too: the teardown's
report says it (plugin.py)."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import pytest

# Imported with the first test that uses the plugin, not at the session's end: CPython 3.11's
# compiler can fail on a module it first parses after some libraries' tests ran ("AST
# constructor recursion depth mismatch", seen after pydantic-ai's and instructor's), and pytest
# compiles the plugin's modules as they are imported.
import pytest_seeded.report.terminal
import pytest_seeded.report.write  # noqa: F401
from pytest_seeded.calls import TestCalls
from pytest_seeded.capture.credentials import PLACEHOLDER_KEY
from pytest_seeded.capture.intercept import window
from pytest_seeded.capture.streams import finish_open
from pytest_seeded.errors import NoCallWarning, SnapshotAgeWarning, SnapshotFormatError
from pytest_seeded.hints import rerecord_command
from pytest_seeded.messages import (
    TestContext,
    credentials_found,
    no_call,
    not_recorded,
    unused,
)
from pytest_seeded.modes import ModeRules
from pytest_seeded.session import CALLS_KEY, SESSION_KEY, WINDOW_KEY
from pytest_seeded.settings import (
    OPENAI_DEFAULT_BASE_URL,
    RunSettings,
    client_base_url,
    seeds_for,
    test_settings,
)
from pytest_seeded.stats import USER_PROPERTY
from pytest_seeded.storage.cleanup import WATCH_KEY, Ownership
from pytest_seeded.storage.extension import (
    NotARegularFile,
    SeededSnapshotExtension,
    forget,
    read_regular_file,
    read_snapshot_text,
    remember,
)
from pytest_seeded.storage.naming import (
    FILE_EXTENSION,
    base_name,
    legacy_folder,
    legacy_stems,
    matrix_seed,
    owner_key,
)
from pytest_seeded.storage.scrub import credentials_in
from pytest_seeded.storage.snapshot import (
    RecordedCall,
    Recording,
    dumps,
    keep_identities,
    loads,
    reuse_unchanged,
    unchanged,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from syrupy.assertion import SnapshotAssertion

T = TypeVar("T")


def shared_calls(request: pytest.FixtureRequest, make: Callable[[TestCalls], T]) -> Iterator[T]:
    """What an LLM fixture hands the test: ``make(calls)`` for the test's calls, which the
    test's window started before its first fixture (open_window). A fixture asked for with
    ``getfixturevalue`` that the window did not foresee starts them here; the window closes
    them at teardown either way."""
    item = request.node
    running = item.stash.get(CALLS_KEY, None)
    if running is None:
        running = open_window(item)
    yield make(running)


def open_window(item: pytest.Item) -> TestCalls:
    """Start the test's calls before its first fixture is set up: whatever its fixtures
    (autouse ones, those set up before the LLM fixture), its body and its teardown send is the
    test's."""
    # In a seed matrix, pytest_generate_tests gives one of the fixtures each run's seed.
    seed = matrix_seed(item)
    session = item.config.stash[SESSION_KEY]
    if seed is None:
        seed = seeds_for(item, session.settings)[0]
    session.install()
    runner = run_test(item, seed)
    calls = next(runner)
    # Kept until the teardown's report, which says the verdicts decided at teardown.
    item.stash[CALLS_KEY] = calls
    item.stash[WINDOW_KEY] = runner
    return calls


def close_window(item: pytest.Item) -> None:
    """After the test's last fixture is torn down: write or keep the snapshot, check what was
    used."""
    runner = item.stash.get(WINDOW_KEY, None)
    if runner is None:
        return
    del item.stash[WINDOW_KEY]
    next(runner, None)


def sync_client(calls: TestCalls) -> OpenAI:
    """The seeded_llm client: the run's one client, for the current key and base URL."""
    session = calls.test.item.config.stash[SESSION_KEY]
    base_url = client_base_url(session.settings)
    return session.clients().sync_client(
        os.environ.get("OPENAI_API_KEY"), base_url.rstrip("/") if base_url else None
    )


def async_client(calls: TestCalls) -> AsyncOpenAI:
    """The seeded_async_llm client: one per test (capture/fixture_clients.py)."""
    return calls.test.item.config.stash[SESSION_KEY].clients().async_client(calls)


def snapshot_assertion(item: pytest.Item) -> SnapshotAssertion:
    """A syrupy assertion for this test that uses the plugin's extension.

    Built directly when syrupy's session is where syrupy's own ``snapshot`` fixture finds it:
    going through that fixture and ``use_extension`` makes two assertions per test and costs
    a replayed test about a fifth of its time. Any other syrupy layout takes the public way.
    """
    syrupy_session = getattr(item.config, "_syrupy", None)
    if syrupy_session is None:
        snapshot: SnapshotAssertion = item._request.getfixturevalue("snapshot")  # type: ignore[attr-defined]
        return snapshot.use_extension(SeededSnapshotExtension)
    from syrupy.assertion import SnapshotAssertion
    from syrupy.location import PyTestLocation

    option = item.config.option
    return SnapshotAssertion(
        update_snapshots=bool(option.update_snapshots),
        update_new_snapshots_only=bool(getattr(option, "update_new_snapshots_only", False)),
        extension_class=SeededSnapshotExtension,
        test_location=PyTestLocation(item),
        session=syrupy_session,
    )


def run_test(item: pytest.Item, seed: int) -> Generator[TestCalls, None, None]:
    config = item.config
    session = config.stash[SESSION_KEY]
    settings = session.settings
    ownership = config.stash[WATCH_KEY].ownership()
    # The seed is the assertion's index: the extension names the file from the test and the
    # seed alone (naming.py), so a seed matrix and a single --llm-seed share it.
    index = f"seed={seed}"
    assertion = snapshot_assertion(item)
    location = assertion.extension.get_location(test_location=assertion.test_location, index=index)
    shown = _shown_path(location, config)

    # Only failure messages show it: made when one does, not on every replayed test.
    def command() -> str:
        return rerecord_command(item, seed, settings)

    other = ownership.collisions.get(item.nodeid)
    if other is not None:
        raise pytest.fail.Exception(
            f"pytest-seeded: {item.nodeid} and {other} would share one snapshot file ({shown}). "
            "Give one of them another name or parameter id (pytest.param(..., id=...)).",
            pytrace=False,
        )

    # Read in every mode: replay and live answer from it, record keeps it byte for byte when
    # nothing changed. Only a mode that does not read it forgives a file it cannot read: it is
    # about to replace it.
    rules = settings.rules
    existing: Recording | None = None
    source = location
    try:
        existing, source = _load_existing(location, shown, item, seed, ownership)
        if source != location:
            shown = _shown_path(source, config)
    except SnapshotFormatError as exc:
        if not rules.reads_recording:
            # syrupy compares the new text with the file's before writing: hand it the bytes
            # as they are, whatever they hold.
            remember(location, _read_raw(location) or "")
        else:
            forget(location)
            item.user_properties.append((f"{USER_PROPERTY}.unreadable", 1))
            raise pytest.fail.Exception(
                f"pytest-seeded: cannot read the snapshot of {item.nodeid}: {exc.path}\n"
                f"{exc.problem}\n"
                f"Fix or delete the file, or re-record it with: {command()}",
                pytrace=False,
            ) from None
    if existing is not None and rules.reads_recording:
        _check_age(existing, item.nodeid, shown, settings, command)

    # The fixtures' clients call the base URL with the environment's key: refused at once.
    # Any other client is refused call by call, and only where it calls api.openai.com with
    # no key (calls.py): a test of another provider needs no OpenAI key.
    no_key = missing_key(rules, client_base_url(settings))
    names = getattr(item, "fixturenames", ())
    fixture_client = "seeded_llm" in names or "seeded_async_llm" in names
    if no_key is not None and fixture_client and not rules.answers_from_snapshot:
        raise pytest.fail.Exception(no_key, pytrace=False)

    test = TestContext(item, test_settings(item, settings, seed), shown, command)
    calls = TestCalls(test, existing if rules.reads_recording else None)
    calls.cannot_call = missing_key(rules, None)
    interception = window(calls)
    try:
        yield calls
    finally:
        calls.finished = True
        interception.close()
        try:
            finish_open(calls)
            _finish(calls, assertion, index, location, existing, source)
        finally:
            forget(location)
            item.user_properties.extend(calls.stats.as_properties(calls.mode, calls.seed))


def _load_existing(
    location: str, shown: str, item: pytest.Item, seed: int, ownership: Ownership
) -> tuple[Recording | None, str]:
    """The test's recording and the file it came from: its own, or one an earlier version of
    the plugin named for it (read only if no other collected test has that name now)."""
    recording = _load(location, shown)
    if recording is not None:
        return recording, location
    folder = os.path.dirname(location)
    today = os.path.basename(location).removesuffix(f".{FILE_EXTENSION}")
    # Earlier names in today's folder, then every name in the folder earlier versions used.
    places = [(folder, stem) for stem in legacy_stems(item, seed)]
    places += [(legacy_folder(folder), stem) for stem in [today, *legacy_stems(item, seed)]]
    for where, stem in places:
        name = f"{stem}.{FILE_EXTENSION}"
        path = os.path.join(where, name)
        # Not if the old name is another test's name today (two ids that cleaned to one).
        taken = owner_key(stem) != base_name(item) and ownership.current_owner(
            os.path.join(folder, name)
        )
        if os.path.isfile(path) and not taken:
            recording = _load(path, _shown_path(path, item.config))
            if recording is not None:
                return recording, path
    return None, location


def _check_age(
    recording: Recording,
    nodeid: str,
    shown: str,
    settings: RunSettings,
    command: Callable[[], str],
) -> None:
    if settings.max_age_days is None or recording.recorded_at is None:
        return
    at = recording.recorded_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    days = (datetime.now(UTC) - at).total_seconds() / 86400
    if days <= settings.max_age_days:
        return
    message = (
        f"pytest-seeded: the snapshot of {nodeid} was recorded {days:.0f} days ago "
        f"({recording.provenance and recording.provenance.get('at')}), more than "
        f"--llm-max-age={settings.max_age_days:g}: the model behind it may have been changed "
        f"or retired since.\nSnapshot: {shown}\nRe-record it with: {command()}"
    )
    if settings.on_old == "fail":
        raise pytest.fail.Exception(message, pytrace=False)
    warnings.warn(SnapshotAgeWarning(message), stacklevel=1)


def _load(location: str, shown: str) -> Recording | None:
    try:
        text = read_snapshot_text(location)
    except UnicodeDecodeError as exc:
        raise SnapshotFormatError(
            shown, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except NotARegularFile as exc:
        raise SnapshotFormatError(shown, str(exc)) from None
    except OSError as exc:
        raise SnapshotFormatError(shown, f"cannot be read ({exc.strerror})") from None
    return None if text is None else loads(text, shown)


def missing_key(rules: ModeRules, base_url: str | None) -> str | None:
    """Why this test cannot call the model: it would call api.openai.com with no key. Every
    other need of the environment (base URL, placeholder keys) is set once for the run
    (session.run_environment)."""
    key = os.environ.get("OPENAI_API_KEY")
    if not rules.sends or (key and key != PLACEHOLDER_KEY):
        return None
    if base_url and base_url.rstrip("/") != OPENAI_DEFAULT_BASE_URL:
        return None
    return (
        f"pytest-seeded: --llm-mode={rules.name} calls {OPENAI_DEFAULT_BASE_URL}, but "
        "OPENAI_API_KEY is not set. Set it, or point OPENAI_BASE_URL (or the llm_base_url ini "
        "option) at an OpenAI-compatible server."
    )


def _finish(
    calls: TestCalls,
    assertion: SnapshotAssertion,
    index: str,
    location: str,
    existing: Recording | None,
    source: str,
) -> None:
    """Write the new recording (a recording mode, passing test) through syrupy, byte for byte
    the old file when nothing that matters changed; tell syrupy a replayed or live snapshot
    passed. A test that did not pass writes nothing and leaves its file as it was."""
    if calls.outcome != "passed" or calls.verdicts[calls.verdicts_reported :]:
        # A test that did not pass, or failed at teardown (a stream read there), writes nothing.
        return
    rules = calls.rules
    if calls.made == 0 and rules.warns_without_calls:
        # An LLM client the plugin does not cover would look just like this: say so.
        did = "compared" if rules.judges else "recorded"
        warnings.warn(NoCallWarning(no_call(calls.test, rules.name, did)), stacklevel=1)
    stats = calls.stats
    if _writes_snapshot(calls):
        unanswered = calls.ledger.unanswered()
        if unanswered:
            # The code under test went on without an answer (a fallback, a retry that gave up):
            # a recording without that call would fail every replay, and would replace one
            # that held it.
            calls.decide("failed", not_recorded(calls.test, unanswered))
            return
        new_calls = calls.ledger.finished_calls()
        if not new_calls:
            stats.recorded_because.clear()  # nothing to record: the file stays as it is
            return
        # A call's answers under other identities (fingerprints, models) stay in the file.
        limit = calls.test.settings.run.keep_identities
        calls_kept = reuse_unchanged(existing, keep_identities(existing, new_calls, limit))
        renamed = existing is not None and source != location
        if existing is not None and existing.source and unchanged(existing, calls_kept):
            text = existing.source
        else:
            found = _credentials(calls, calls_kept)
            if found:
                calls.decide("failed", credentials_found(calls.test, found))
                return
            text = dumps(Recording(calls.seed, calls_kept, provenance=provenance()))
        if existing is None and not os.path.lexists(location):
            stats.file_new += 1
        elif existing is None or renamed or text != existing.source:
            # Changed, renamed from an earlier name, or replacing a file that could not be read.
            stats.file_changed += 1
        else:
            stats.file_unchanged += 1
        sent = calls.ledger.live_calls()
        http = sum(call.is_http for call in sent)
        stats.http_recorded += http
        stats.recorded += len(sent) - http
        _assert(assertion, index, text, update=True)
        if renamed:
            # Recorded under today's name: the file an earlier version named is superseded.
            with contextlib.suppress(OSError):
                os.unlink(source)
        return
    if existing is not None:
        _check_all_used(calls)
        stats.file_replayed += rules.answers_from_snapshot
        if source == location:  # syrupy knows only today's place of a file
            _assert(assertion, index, existing.source or "", update=False)


def _writes_snapshot(calls: TestCalls) -> bool:
    """Whether this test's snapshot is (re-)written at teardown (it passed)."""
    writes = calls.rules.writes
    if writes == "always" or calls.rerecord:
        return True
    if writes == "never":
        return False
    ledger = calls.ledger
    left = len(ledger.unused())
    reasons = calls.stats.recorded_because
    if ledger.recorded is not None and left and not reasons:
        reasons.append(
            f"the snapshot holds {left} call{'s' * (left != 1)} the test no longer makes"
        )
    return bool(reasons)


def _check_all_used(calls: TestCalls) -> None:
    """Fail a test that made fewer calls than its snapshot holds: the test changed since it
    was recorded, or the file was edited (a call pasted twice, a bad merge). Either way the
    snapshot no longer describes the test, and replay would hide it."""
    held = calls.rules.holds_to_snapshot
    ledger = calls.ledger
    recorded = ledger.recorded
    if held == "none" or recorded is None:
        return
    left = ledger.unused()
    # After drift the code may ask its tools for something else: its LLM calls still count.
    if held == "llm" or calls.drifted:
        left = [n for n in left if not recorded.calls[n - 1].is_http]
    if left:
        calls.decide("failed", unused(calls.test, ledger.used, ledger.size, left))


def _credentials(calls: TestCalls, recorded: list[RecordedCall]) -> list[tuple[str, str]]:
    """The last check before a file is written: where it holds text shaped like a live
    credential."""
    allowed = calls.test.settings.run.allow_secret_fields
    return [
        (f"calls[{n}].{path}", kind)
        for n, call in enumerate(recorded)
        for path, kind in credentials_in(call.to_json(), allowed)
    ]


def _assert(assertion: SnapshotAssertion, index: str, text: str, *, update: bool) -> None:
    """Hand the file's text to syrupy: it counts the snapshot as passed, generated or updated,
    and (in update mode) writes it, through the extension's atomic write, when it differs."""
    assertion.update_snapshots = update or assertion.update_snapshots
    _named(assertion, index).assert_match(text)
    _release(assertion)


def provenance() -> dict[str, str]:
    """When and with what a recording was made; not part of what decides a re-record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"at": datetime.now(UTC).replace(microsecond=0).isoformat()}
    for package in ("pytest-seeded", "openai"):
        with contextlib.suppress(PackageNotFoundError):
            out[package.replace("-", "_")] = version(package)
    return out


def _named(assertion: SnapshotAssertion, index: str) -> SnapshotAssertion:
    return assertion(name=index)


def _release(assertion: SnapshotAssertion) -> None:
    """Let go of the snapshot's text once syrupy has matched it. syrupy keeps every assertion
    until the run ends, for its report, which reads only where each snapshot is and whether
    it matched; holding each test's text too made memory grow with the number of tests."""
    for result in assertion.executions.values():
        if result.success:
            result.asserted_data = result.recalled_data = None


def _read_raw(location: str) -> str | None:
    try:
        raw = read_regular_file(location)
    except OSError:
        return None
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


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


def calls_ahead(items: list[pytest.Item]) -> tuple[int, int, int]:
    """(tests, calls their snapshots hold, tests with none): what a recording run will send,
    by what was recorded last time. A file that cannot be read counts as none."""
    from syrupy.location import PyTestLocation

    settings = items[0].config.stash[SESSION_KEY].settings if items else None
    tests = calls = new = 0
    for item in items:
        assert settings is not None
        seeds = (matrix_seed(item),) if matrix_seed(item) is not None else seeds_for(item, settings)
        for seed in seeds:
            tests += 1
            location = SeededSnapshotExtension.get_location(
                test_location=PyTestLocation(item), index=f"seed={seed}"
            )
            try:
                recording = _load(location, location)
            except SnapshotFormatError:
                recording = None
            if recording is None:
                new += 1
            else:
                calls += len(recording.calls)
    return tests, calls, new
