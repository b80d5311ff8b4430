"""Nothing leaked, nothing crashes: credentials wherever a server puts them, encoded and odd
streams, leftovers of killed runs, odd entries beside the snapshots, and bad option values."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from conftest import Project

KEY = "sk-test-HARDENING-0123456789abcdefXYZ"

PARAMS_TEST = """
def test_params(seeded_llm):
    seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "params"}],
        extra_query={
            "subscription-key": "SUBSCRIPTION-KEY-1111", "code": "FUNCTION-CODE-2222",
            "apikey": "APIKEY-3333-value", "x-api-key": "X-API-KEY-4444", "api_token": "API-TOKEN-5555",
            "auth": "AUTH-VALUE-6666", "signature": "SIGNATURE-7777", "password": "PASSWORD-8888",
            "client_secret": "CLIENT-SECRET-9999", "accessToken": "ACCESS-TOKEN-0000",
            "api-version": "2024-10-21",
        },
    )
"""


def test_query_parameters_named_like_credentials_are_never_stored(project: Project) -> None:
    project.pytester.makepyfile(test_params=PARAMS_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    for value in re.findall(r'"([A-Z-]+-\d{4}(?:-value)?)"', PARAMS_TEST):
        assert value not in text, value
    assert json.loads(text)["calls"][0]["request"]["path"] == (
        "/v1/chat/completions?api-version=2024-10-21"
    )
    project.offline()
    project.run().assert_outcomes(passed=1)


ECHO_TEST = """
def test_echo(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "echo"}],
        extra_headers={"api-key": "AZURE-KEY-abcdef123456"}, extra_query={"key": "QUERY-KEY-987654321"},
    )
    assert r.model_extra["echo"]["authorization"] == "Bearer sk-test-HARDENING-0123456789abcdefXYZ"

def test_echo_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "echo stream"}], stream=True,
        extra_headers={"api-key": "AZURE-KEY-abcdef123456"},
    )
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""


def test_credentials_a_server_echoes_in_its_body_never_reach_a_file(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    project.server.state.echo_in_body = True
    project.pytester.makepyfile(test_echo=ECHO_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    written = project.snapshots()
    assert len(written) == 2
    for text in written.values():
        assert '"echo"' in text  # the echo was recorded, without what it echoed
        for secret in (KEY, "AZURE-KEY-abcdef123456", "QUERY-KEY-987654321", "HARDENING"):
            assert secret not in text, secret
    project.offline()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key-for-replay")
    project.pytester.makepyfile(test_echo=ECHO_TEST.replace('== "Bearer', '!= "Bearer'))
    project.run().assert_outcomes(passed=2)


def test_text_shaped_like_a_live_credential_is_refused_naming_the_field(project: Project) -> None:
    leaked = "sk-proj-" + "Q" * 32
    project.server.state.decorate = lambda text: f"{text} {leaked}"
    project.pytester.makepyfile(
        test_leak="""
        def test_leak(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "leak"}])
        """
    )
    refused = project.run("--llm-mode=record")
    refused.assert_outcomes(passed=1, errors=1)
    refused.stdout.fnmatch_lines(
        [
            "*test_leak.py::test_leak was not recorded: its recording holds text shaped like a live credential*",
            "  calls[[]0[]].output: an API key (sk-...)",
            "  calls[[]0[]].response.body.choices[[]0[]].message.content: an API key (sk-...)",
            "*llm_allow_secret_fields*",
        ]
    )
    assert project.snapshots() == {}
    project.write_ini("llm_allow_secret_fields = output, content\n")
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert leaked in next(iter(project.snapshots().values()))


STREAM_AND_JSON = """
def test_json(seeded_llm):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "j"}])
    assert r.choices[0].message.content

def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "s"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""


@pytest.mark.parametrize(
    ("setting", "value"),
    [("encoding", "gzip"), ("encoding", "deflate"), ("sse_newline", "\r\n"), ("sse_newline", "\r")],
    ids=["gzip", "deflate", "sse-crlf", "sse-cr"],
)
def test_any_valid_http_answer_records_and_replays(
    project: Project, setting: str, value: Any
) -> None:
    setattr(project.server.state, setting, value)
    project.pytester.makepyfile(test_both=STREAM_AND_JSON)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    setattr(project.server.state, setting, {"encoding": "", "sse_newline": "\n"}[setting])
    for text in project.snapshots().values():
        call = json.loads(text)["calls"][0]
        assert call["output"]
        if "events" in call["response"]:
            assert call["response"]["events"][-1] == {"data": "[DONE]"}
    # The same answers as a plain server's: live compares equal.
    project.run("--llm-mode=live").assert_outcomes(passed=2)
    project.offline()
    project.run().assert_outcomes(passed=2)


def test_a_temporary_file_left_by_a_killed_write_is_removed_on_the_next_write(
    project: Project,
) -> None:
    project.pytester.makepyfile(test_both=STREAM_AND_JSON)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    folder = project.pytester.path / "__llm_snapshots__/test_both"
    leftover = folder / ".test_json[seed=42].seeded.jsonc.k1ll3d.tmp"
    other = folder / ".someone-elses.tmp"
    leftover.write_text("{half")
    other.write_text("not ours")
    project.server.state.salt = "new answers"  # so the file is written again
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    assert not leftover.exists()
    assert other.exists()


ONE = """
def test_one(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "one"}])

def test_two(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "two"}])
"""


def test_odd_entries_beside_the_snapshots_fail_only_their_test_and_never_hang(
    project: Project,
) -> None:
    project.pytester.makepyfile(test_odd=ONE)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    folder = project.pytester.path / "__llm_snapshots__/test_odd"
    one = folder / "test_one[seed=42].seeded.jsonc"
    one.unlink()
    os.mkfifo(one)
    os.symlink("loop.seeded.jsonc", folder / "loop.seeded.jsonc")
    os.symlink(".", folder / "looping-folder")
    os.symlink(folder, project.pytester.path / "__llm_snapshots__" / "test_loop")
    project.offline()
    result = project.run_subprocess("-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cannot read the snapshot of test_odd.py::test_one*",
            "not a regular file but a FIFO, socket or device",
            "*-- pytest-seeded --*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_folder_in_place_of_a_snapshot_gives_the_plugins_message_alone(project: Project) -> None:
    project.pytester.makepyfile(test_odd=ONE)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    one = project.pytester.path / "__llm_snapshots__/test_odd/test_one[seed=42].seeded.jsonc"
    one.unlink()
    one.mkdir()
    project.offline()
    result = project.run()
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "not a regular file but a folder" in out
    assert "During handling" not in out
    assert "Error" not in out.split("short test summary")[0].replace("ERROR", "")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--llm-report", ".", "*--llm-report=. is a folder: name a file in it*"),
        (
            "--llm-report",
            "/proc/pytest-seeded.json",
            "*--llm-report=/proc/pytest-seeded.json: cannot write a file there*",
        ),
        (
            "--llm-report-html",
            ".",
            "*--llm-report-html=. is a folder: name a file in it, like *llm-report.html*",
        ),
    ],
)
def test_a_report_path_that_cannot_be_written_stops_the_run_before_any_test(
    project: Project, option: str, value: str, message: str
) -> None:
    project.pytester.makepyfile(test_odd=ONE)
    result = project.run(f"{option}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert project.server.state.requests == []


UPLOAD_TEST = """
import os

def test_upload(seeded_llm):
    content = os.environ["SEEDED_UPLOAD"].encode() * 1000
    f = seeded_llm.files.create(file=("data.jsonl", content, "application/jsonl"), purpose="batch",
                                extra_body={"customer": "ACME-CUSTOMER-42"})
    assert f.id.startswith("file-")
"""


def test_an_upload_is_stored_as_its_fields_and_a_digest_and_replays(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEEDED_UPLOAD", "THE-FILE-BYTES;")
    project.pytester.makepyfile(test_upload=UPLOAD_TEST)
    project.write_ini("llm_scrub_fields = customer\n")
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    body = json.loads(text)["calls"][0]["request"]["body"]
    assert body["form"] == {"purpose": "batch", "customer": "<scrubbed>"}
    (upload,) = body["files"].values()
    assert upload["filename"] == "data.jsonl"
    assert upload["size"] == len("THE-FILE-BYTES;") * 1000
    assert "THE-FILE-BYTES" not in text
    assert "ACME-CUSTOMER" not in text
    # The boundary differs on every request: replay matches the fields and the file's digest.
    project.offline()
    project.run().assert_outcomes(passed=1)
    monkeypatch.setenv("SEEDED_UPLOAD", "OTHER-BYTES;")
    other = project.run()
    other.assert_outcomes(failed=1)
    other.stdout.fnmatch_lines(["*does not match its snapshot*", '*"sha256"*'])


SWALLOWING = """
import asyncio


def framework(call):
    # What some frameworks do with an error inside a call: keep it as a value and go on.
    try:
        return call()
    except BaseException as exc:
        return exc


def test_swallowed(seeded_llm):
    answer = framework(lambda: seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "swallowed"}]))
    print("the framework went on with", type(answer).__name__)


async def test_gathered(seeded_async_llm):
    results = await asyncio.gather(
        seeded_async_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "gathered"}]),
        return_exceptions=True,
    )
    print("gather went on with", type(results[0]).__name__)
"""


@pytest.mark.parametrize("case", ["replay-missing", "replay-changed", "live-changed", "live-drift"])
def test_a_verdict_inside_a_call_cannot_be_swallowed(project: Project, case: str) -> None:
    project.pytester.makepyfile(test_swallow=SWALLOWING)
    project.write_ini("asyncio_mode = auto\n")
    if case != "replay-missing":
        project.run("--llm-mode=record").assert_outcomes(passed=2)
    if case == "replay-changed":
        source = project.pytester.path / "test_swallow.py"
        source.write_text(
            source.read_text().replace('"swallowed"', '"changed"').replace('"gathered"', '"other"')
        )
    if case == "live-changed":
        project.server.state.salt = "another answer"
    if case == "live-drift":
        project.server.state.fingerprint = "fp_other"
    if case.startswith("replay"):
        project.offline()
    result = project.run(*(["--llm-mode=live"] if case.startswith("live") else []), "-rs")
    expected = {
        "replay-missing": "*no snapshot for test_swallow.py::test_swallowed*",
        "replay-changed": "*a request of test_swallow.py::test_swallowed does not match its snapshot*",
        "live-changed": "*live output of call #1 differs from the snapshot*",
        "live-drift": "*system_fingerprint changed for call #1 of test_swallow.py::test_swallowed*",
    }[case]
    if case == "live-drift":
        result.assert_outcomes(skipped=2)
    else:
        result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([expected])
    if case.startswith("replay"):
        # The SDK gave up at once: an HTTP 400 it does not retry, not a connection error.
        result.stdout.no_fnmatch_line("*APIConnectionError*")


def test_a_client_built_at_import_needs_no_key_in_replay_and_uses_the_ini_base_url(
    project: Project,
) -> None:
    project.pytester.makepyfile(
        app="""
        from openai import OpenAI

        CLIENT = OpenAI()  # at import: collection needs a key, and the base URL is fixed now
        """,
        test_app="""
        from app import CLIENT

        def test_app(seeded_calls):
            r = CLIENT.chat.completions.create(model="m", messages=[{"role": "user", "content": "app"}])
            assert r.choices[0].message.content
        """,
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert len(project.server.state.requests) == 1  # sent to the ini's server, nowhere else
    project.offline()
    project.run().assert_outcomes(passed=1)
    assert "OPENAI_API_KEY" not in os.environ


def test_a_record_or_live_test_that_made_no_call_is_told_so(project: Project) -> None:
    project.pytester.makepyfile(
        test_quiet="""
        def test_quiet(seeded_calls):
            pass  # as if the code called a model through a client the plugin does not see
        """
    )
    for mode in ("record", "live"):
        result = project.run(f"--llm-mode={mode}")
        result.assert_outcomes(passed=1, errors=1)  # the ini turns warnings into errors
        result.stdout.fnmatch_lines(
            [
                "*NoCallWarning: pytest-seeded: test_quiet.py::test_quiet asked for the plugin but made no LLM call*"
            ]
        )
    project.offline()
    project.run().assert_outcomes(passed=1)


UNREAD_STREAM = """
KEEP = []  # the stream stays referenced: nothing closes it before the test ends


def test_unread(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "unread"}], stream=True
    )
    KEEP.append(s)
    chunks = iter(s)
    read = [next(chunks) for _ in range(4)]  # the start of the answer; the rest is never read
    assert all(c.choices for c in read)


def test_after(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "after"}])
"""


def test_a_stream_left_unread_is_recorded_and_compared_within_its_own_test(
    project: Project,
) -> None:
    project.pytester.makepyfile(test_unread=UNREAD_STREAM)
    project.run("--llm-mode=record", "-p", "no:randomly").assert_outcomes(passed=2)
    snapshots = project.snapshots()
    unread = json.loads(
        snapshots["__llm_snapshots__/test_unread/test_unread[seed=42].seeded.jsonc"]
    )
    # Kept as far as the code read it (issue 21: reading the rest of an endless stream hung),
    # and marked so.
    response = unread["calls"][0]["response"]
    assert response["cut_by_client"] is True
    assert response["events"][-1] != {"data": "[DONE]"}
    assert unread["calls"][0]["output"]
    project.server.state.salt = "changed"
    live = project.run("--llm-mode=live", "-p", "no:randomly", "-k", "not after")
    live.assert_outcomes(passed=1, errors=1)
    live.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_unread*", "*live output of call #1 differs from the snapshot*"]
    )
    project.offline()
    project.run("-p", "no:randomly").assert_outcomes(passed=2)
