"""What the plugin guarantees: faults never damage a recorded snapshot, replay opens no socket,
concurrent calls replay to the request that made them, and any file either loads or fails
with the plugin's own error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import httpx2
import pytest
from conftest import Project
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_seeded.capture.streams import replay_response
from pytest_seeded.errors import SnapshotFormatError
from pytest_seeded.storage.snapshot import Recording, loads

CHAT = """
def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "fault"}])
    assert r.choices[0].message.content
"""

STREAM = """
def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "fault"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""


QUICK = """
def test_chat(seeded_llm):
    client = seeded_llm.with_options(timeout=0.5, max_retries=0)
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "fault"}])
    assert r.choices[0].message.content
"""

# (test source, server faults, a line the failure must show). "offline" points the project at
# a port where nothing listens.
FAULTS: dict[str, tuple[str, dict[str, object], str]] = {
    "http-500-after-retries": (CHAT, {"fail_with": [500, 500, 500]}, "*injected 500*"),
    "http-400": (CHAT, {"fail_with": [400]}, "*BadRequestError*injected 400*"),
    "http-429-retry-after-exhausted": (
        CHAT,
        {"fail_with": [429, 429, 429], "retry_after": "0.05"},
        "*RateLimitError*injected 429*",
    ),
    "http-429-no-retry": (QUICK, {"fail_with": [429]}, "*RateLimitError*injected 429*"),
    "timeout": (QUICK, {"delay": 2.0}, "*APITimeoutError*"),
    "connection-refused": (QUICK, {"offline": True}, "*APIConnectionError*"),
    "invalid-json": (CHAT, {"invalid_json": True}, "*JSONDecodeError*"),
    "stream-cut-after-two-chunks": (
        STREAM,
        {"cut_stream_after": 2},
        "*stream of call #1 of test_it.py::test_stream ended after * events without its closing*",
    ),
    "stream-without-done": (
        STREAM,
        {"omit_done": True},
        "*stream of call #1 of test_it.py::test_stream ended after * events without its "
        "closing 'data: ?DONE?'*",
    ),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_a_fault_while_recording_leaves_the_snapshot_as_it_was(project: Project, case: str) -> None:
    source, fault, message = FAULTS[case]
    project.pytester.makepyfile(test_it=source)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    path = next(project.pytester.path.rglob("*.seeded.jsonc"))
    before = path.read_bytes()
    for name, value in fault.items():
        if name == "offline":
            project.offline()
        else:
            setattr(project.server.state, name, value)
    project.server.state.salt = "would be a new answer"
    result = project.run("--llm-mode=record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    assert path.read_bytes() == before
    # No partial new file beside it, no temporary file left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("retry_after", [None, "0.05"], ids=["backoff", "retry-after"])
def test_a_retried_call_is_recorded_once(project: Project, retry_after: str | None) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    project.server.state.fail_with = [429]
    project.server.state.retry_after = retry_after
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert len(project.server.state.requests) == 2
    (text,) = project.snapshots().values()
    assert len(json.loads(text)["calls"]) == 1
    project.offline()
    project.run().assert_outcomes(passed=1)


def test_replay_opens_no_socket(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT + STREAM)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    project.pytester.makeconftest(
        """
        import socket
        import pytest

        @pytest.fixture(autouse=True)
        def no_network(monkeypatch):
            def refuse(*args, **kwargs):
                raise AssertionError("replay opened a socket")
            monkeypatch.setattr(socket.socket, "connect", refuse)
            monkeypatch.setattr(socket.socket, "connect_ex", refuse)
            monkeypatch.setattr(socket, "create_connection", refuse)
        """
    )
    project.run().assert_outcomes(passed=2)
    # The guard itself works: live mode, which must connect, is refused.
    project.run("--llm-mode=live").assert_outcomes(failed=2)


def test_concurrent_calls_replay_to_the_request_that_made_them(project: Project) -> None:
    project.pytester.makepyfile(
        test_many="""
        import asyncio, random
        import pytest

        @pytest.mark.asyncio
        async def test_many(seeded_async_llm):
            async def ask(n):
                await asyncio.sleep(random.random() / 100)
                r = await seeded_async_llm.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"question {n}"}])
                return n, r.choices[0].message.content
            answers = await asyncio.gather(*(ask(n) for n in random.sample(range(20), 20)))
            print("ANSWERS:" + repr(sorted(answers)))
        """
    )
    recorded = project.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    assert len(json.loads(text)["calls"]) == 20
    answers = next(x for x in recorded.stdout.lines if "ANSWERS:" in x).split("ANSWERS:", 1)[1]
    project.offline()
    for _ in range(2):
        replayed = project.run("-s")
        replayed.assert_outcomes(passed=1)
        assert f"ANSWERS:{answers}" in replayed.stdout.str()


MORE_BAD_FILES: dict[str, tuple[bytes, str]] = {
    "binary": (bytes(range(256)) * 4, "not UTF-8 text"),
    "latin1": (
        '{"schema_version": 1, "seed": 42, "calls": [], "note": "caf\u00e9"}'.encode("latin-1"),
        "not UTF-8 text",
    ),
    "no_calls": (b'{"schema_version": 1, "seed": 42}', "missing field 'calls'"),
    "no_version": (b'{"seed": 42, "calls": []}', "schema_version must be 1, got None"),
    "huge_wrong_shape": (
        b'{"schema_version": 1, "seed": 42, "calls": "' + b"x" * 5_000_000 + b'"}',
        "'calls' should be a list",
    ),
    "merge_conflict": (
        b'{"schema_version": 1, "seed": 42, "calls": [\n<<<<<<< HEAD\n{"a": 1}\n=======\n'
        b'{"a": 2}\n>>>>>>> branch\n]}',
        "holds git merge conflict markers",
    ),
    "method_type": (
        b'{"schema_version": 1, "seed": 42, "calls": [{"request": {"method": 1, "path": "/", "body": {}}, '
        b'"response": {"status": 200, "content_type": "x", "body": {}}, "output": "", "fingerprint": null}]}',
        "calls[0].request: field 'method' should be a string",
    ),
}


@pytest.mark.parametrize("case", sorted(MORE_BAD_FILES))
def test_more_unreadable_snapshots_error_only_their_test(project: Project, case: str) -> None:
    content, problem = MORE_BAD_FILES[case]
    project.pytester.makepyfile(test_it=CHAT + CHAT.replace("test_chat", "test_other"))
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    bad = project.pytester.path / "__llm_snapshots__/test_it/test_chat[seed=42].seeded.jsonc"
    bad.write_bytes(content)
    project.offline()
    result = project.run()
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "cannot read the snapshot of test_it.py::test_chat" in out
    assert problem in out
    assert bad.read_bytes() == content
    # --snapshot-update does not delete it either: it is still the test's file.
    result = project.run("--snapshot-update", "--llm-mode=record", "-k", "test_other")
    assert bad.read_bytes() == content


def test_a_snapshot_with_more_calls_than_the_test_makes_fails_it(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    path = next(project.pytester.path.rglob("*.seeded.jsonc"))
    doc = json.loads(path.read_text())
    doc["calls"] *= 2  # the call pasted twice, as a careless merge does
    path.write_text(json.dumps(doc, indent=2))
    edited = path.read_bytes()
    project.offline()
    result = project.run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_it.py::test_chat made 1 call, but its snapshot holds 2 (seed 42): recorded "
            "call #2 went unused*",
            "Snapshot: __llm_snapshots__/test_it/test_chat?seed=42?.seeded.jsonc",
            "Re-record it with: pytest test_it.py::test_chat --llm-mode=record",
        ]
    )
    assert path.read_bytes() == edited
    # Re-recording mends it.
    project.base_url = project.server.url
    project.write_ini()
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert len(json.loads(path.read_text())["calls"]) == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "schema_version",
        "seed",
        "calls",
        "request",
        "response",
        "output",
        "fingerprint",
        "body",
        "events",
        "status",
        "content_type",
        "method",
        "path",
        "data",
    ]
)
SHAPED = st.recursive(
    st.none() | st.integers(0, 2) | st.text(max_size=5) | st.just(1),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON.map(json.dumps), SHAPED.map(json.dumps), st.text(max_size=200)))
def test_the_loader_loads_or_raises_its_own_error(text: str) -> None:
    error: SnapshotFormatError | None = None
    loaded: Recording | None = None
    try:
        loaded = loads(text, "f.seeded.jsonc")
    except SnapshotFormatError as exc:
        error = exc
    if error is not None:
        assert error.path == "f.seeded.jsonc"
        assert error.problem
    else:
        assert isinstance(loaded, Recording)


def _many_tests(count: int, start: int = 0) -> str:
    return "\n".join(
        f"def test_{n}(seeded_llm):\n"
        f"    s = seeded_llm.chat.completions.create(model='m', stream=True,\n"
        f"        messages=[{{'role': 'user', 'content': 'question {n}'}}])\n"
        f"    assert ''.join(c.choices[0].delta.content or '' for c in s if c.choices)\n"
        for n in range(start, start + count)
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "args"),
    [
        (signal.SIGINT, ["--llm-mode=record"]),
        (signal.SIGKILL, ["--llm-mode=record"]),
        (signal.SIGINT, ["--llm-mode=record", "-n", "2"]),
        (signal.SIGKILL, ["--llm-mode=record", "-n", "2"]),
        (signal.SIGINT, ["--snapshot-update", "-n", "2"]),
        (signal.SIGINT, ["--snapshot-update"]),
    ],
    ids=["sigint", "sigkill", "sigint-n2", "sigkill-n2", "sigint-update-n2", "sigint-update"],
)
def test_an_interrupted_record_run_leaves_each_snapshot_old_or_whole(
    project: Project, sig: signal.Signals, args: list[str]
) -> None:
    # 30 tests with snapshots, then 10 without: the killed run re-records the first (with new
    # answers) and records the others, each stream slowed so that the kill lands mid-run.
    project.pytester.makepyfile(test_old=_many_tests(30))
    project.run("--llm-mode=record").assert_outcomes(passed=30)
    old = project.snapshots()
    project.pytester.makepyfile(test_new=_many_tests(10, start=30))
    project.server.state.salt = "new answers"
    project.server.state.chunk_delay = 0.005

    started = time.monotonic()
    # The suite's own -p flags: the project must not load hypothesis' plugin (not needed).
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    full = subprocess.run(command, cwd=project.pytester.path, capture_output=True, check=False)
    duration = time.monotonic() - started
    assert full.returncode == 0, full.stdout.decode()[-3000:]
    # Put the files back as they were, then run again and kill it at a random point.
    for path in project.pytester.path.rglob("*.seeded.jsonc"):
        path.unlink()
    for name, text in old.items():
        (project.pytester.path / name).write_text(text, encoding="utf-8")
    new = project.snapshots()
    assert new == old

    # From collection (where syrupy once deleted everything) to the last tests.
    delay = random.uniform(0.05, 0.9) * duration
    process = subprocess.Popen(
        command,
        cwd=project.pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    # Ctrl-C and kill -9 reach every process of the group: pytest-xdist's workers too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    where = f"killed with {sig.name} after {delay:.2f}s of {duration:.2f}s"

    after = project.snapshots()
    for name, text in old.items():
        assert name in after, f"{name} was deleted ({where})"
        if after[name] != text:
            recording = loads(after[name], name)  # whole: it loads
            assert len(recording.calls) == 1, where
            assert recording.calls[0].output != loads(text, name).calls[0].output, where
    for name in set(after) - set(old):
        assert len(loads(after[name], name).calls) == 1, where
    leftovers = [p.name for p in project.pytester.path.rglob("*.tmp")]
    if sig == signal.SIGINT:
        assert leftovers == [], where

    project.offline()
    replayed = project.run()
    outcomes = replayed.parseoutcomes()
    out = replayed.stdout.str()
    assert outcomes.get("passed", 0) >= 30, where
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 40, where
    assert "errors" not in outcomes, where
    assert "cannot read the snapshot" not in out, where
    # Each failure is a test the killed run never recorded, and says how to record it. Sets, not
    # counts: on CI (the CI variable set) pytest repeats the whole message in its short summary.
    failed = set(re.findall(r"^FAILED (\S+)", out, flags=re.MULTILINE))
    hinted = set(re.findall(r"Record it with: pytest (\S+) --llm-mode=record", out))
    assert len(failed) == outcomes.get("failed", 0), where
    assert hinted == failed, where
    assert all(name.startswith("test_new.py::") for name in failed), where


def test_snapshot_update_stopped_during_collection_deletes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deterministic form of the case above: syrupy saw no test and would delete them all.
    project.pytester.makepyfile(test_old=_many_tests(3))
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    before = project.snapshots()
    # Stopped while importing a test module, as Ctrl-C at that point does.
    project.pytester.makepyfile(
        test_stop="""
        import os, pytest

        if os.environ.get("STOP_COLLECTING"):
            pytest.exit("stopped while collecting")
        """
    )
    monkeypatch.setenv("STOP_COLLECTING", "1")
    result = project.run("--snapshot-update")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert project.snapshots() == before


# Snapshot documents of the right shape whose leaves are anything JSON can hold: whatever
# loads must replay, as the SDK would read it, without an error that is not the plugin's.
LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(["\ud800", "\udfff", "x\r\ny", "a\rb", "[DONE]", "9" * 5000])
)
ANY = st.recursive(
    LEAF,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)
EVENT = st.fixed_dictionaries({"data": ANY}, optional={"event": st.text(max_size=8) | ANY})
RESPONSE = st.fixed_dictionaries(
    {"status": st.integers(-5, 1000) | ANY, "content_type": st.text(max_size=12) | ANY},
    optional={"body": ANY, "events": st.lists(EVENT, max_size=3) | ANY},
)
CALL = st.fixed_dictionaries(
    {
        "request": st.fixed_dictionaries(
            {
                "method": st.just("POST") | ANY,
                "path": st.just("/v1/chat/completions") | ANY,
                "body": ANY,
            }
        ),
        "fingerprint": st.none() | st.text(max_size=6) | ANY,
        "output": st.text(max_size=10) | ANY,
        "response": RESPONSE,
    }
)
DOCUMENT = st.fixed_dictionaries(
    {"schema_version": st.just(1), "seed": st.integers(), "calls": st.lists(CALL, max_size=2)},
    optional={
        "recorded": st.dictionaries(st.sampled_from(["at", "openai"]), st.text(max_size=30) | ANY)
    },
)


@settings(max_examples=400, deadline=None)
@given(DOCUMENT.map(lambda doc: json.dumps(doc)))
def test_whatever_loads_also_replays(text: str) -> None:
    error: SnapshotFormatError | None = None
    try:
        recording = loads(text, "f.seeded.jsonc")
    except SnapshotFormatError as exc:
        error = exc
    if error is not None:
        assert error.problem
        return
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")

    async def read_async(response: httpx2.Response) -> None:
        await response.aread()

    for call in recording.calls:
        replay_response(call.response, request, is_async=False).read()
        asyncio.run(read_async(replay_response(call.response, request, is_async=True)))
