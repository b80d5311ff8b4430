"""Live mode: compare fresh output with the snapshot under the same fingerprint, skip on drift."""

from __future__ import annotations

import json

from conftest import Project

CHAT_TEST = """
def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "describe the harbour"}]
    )
    assert r.choices[0].message.content
"""

STREAM_TEST = """
def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "stream the harbour"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""

ASYNC_TEST = """
import pytest

@pytest.mark.asyncio
async def test_async(seeded_async_llm):
    r = await seeded_async_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "async harbour"}]
    )
    s = await seeded_async_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "async stream"}], stream=True
    )
    assert r.choices[0].message.content and [c async for c in s]
"""


def test_live_matches_when_the_model_answers_the_same(project: Project) -> None:
    project.pytester.makepyfile(test_chat=CHAT_TEST, test_stream=STREAM_TEST, test_async=ASYNC_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    before = project.snapshots()
    project.server.state.requests.clear()
    result = project.run("--llm-mode=live")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*mode live (--llm-mode)*", "*calls: 4 matched live*"])
    assert project.server.seeds_received() == [42, 42, 42, 42]
    assert project.snapshots() == before


def test_live_mismatch_fails_with_a_unified_diff(project: Project) -> None:
    project.pytester.makepyfile(test_chat=CHAT_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    before = project.snapshots()
    recorded = json.loads(next(iter(before.values())))["calls"][0]["output"]
    project.server.state.salt = "the same fingerprint, another answer"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*live output of call #1 differs from the snapshot (seed 42, fingerprint "
            "'fp_loopback_1', model *, compare exact; chat.completions)*",
            "*--- snapshot*",
            "*+++ live*",
            f"*-{recorded}*",
            "*re-record it with: pytest test_chat.py::test_chat --llm-mode=record*",
            "*1 mismatched live*",
        ]
    )
    assert project.snapshots() == before


def test_live_mismatch_in_a_stream_is_found_at_its_end(project: Project) -> None:
    project.pytester.makepyfile(test_stream=STREAM_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.server.state.salt = "other"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*live output of call #1 differs*", "*+++ live*"])


def test_fingerprint_drift_skips_naming_both_fingerprints(project: Project) -> None:
    project.pytester.makepyfile(test_chat=CHAT_TEST, test_stream=STREAM_TEST, test_async=ASYNC_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    before = project.snapshots()
    project.server.state.fingerprint = "fp_loopback_2"
    project.server.state.salt = "new weights"
    result = project.run("--llm-mode=live", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        [
            # Each drifted call is counted: a test runs on after one (the verdict is reported
            # at the end), so the async test's second call drifts too.
            "*4 skipped for drift*",
            "system_fingerprint changed 'fp_loopback_1' -> 'fp_loopback_2' in 3 test(s):",
            "  test_async.py::test_async",
            "  test_chat.py::test_chat",
            "  test_stream.py::test_stream",
            "SKIPPED [[]1[]] test_chat.py:?: pytest-seeded: system_fingerprint changed for call #1 "
            "of test_chat.py::test_chat: recorded 'fp_loopback_1', live 'fp_loopback_2'*"
            "Re-record it with: pytest test_chat.py::test_chat --llm-mode=record",
        ]
    )
    assert project.snapshots() == before
    # Skipped tests keep their snapshots, even under an update that removes unused ones.
    project.run("--llm-mode=live", "--snapshot-warn-unused").assert_outcomes(skipped=3)
    assert project.snapshots() == before


def test_a_missing_fingerprint_is_a_value_of_its_own(project: Project) -> None:
    project.pytester.makepyfile(test_chat=CHAT_TEST)
    project.server.state.fingerprint = None
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    assert json.loads(text)["calls"][0]["fingerprint"] is None
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    project.server.state.fingerprint = "fp_now_known"
    result = project.run("--llm-mode=live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*recorded None, live 'fp_now_known'*"])


def test_stream_fingerprint_is_the_first_non_null_chunk_value(project: Project) -> None:
    project.pytester.makepyfile(test_stream=STREAM_TEST)
    project.server.state.fingerprint_first_chunk_only = True
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    call = json.loads(text)["calls"][0]
    assert call["fingerprint"] == "fp_loopback_1"
    assert call["response"]["events"][1]["data"]["system_fingerprint"] is None
    project.run("--llm-mode=live").assert_outcomes(passed=1)


def test_live_without_a_snapshot_fails_like_replay(project: Project) -> None:
    project.pytester.makepyfile(test_chat=CHAT_TEST)
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    assert "no snapshot for test_chat.py::test_chat with seed 42" in result.stdout.str()
    assert project.snapshots() == {}


def test_live_against_openai_without_a_key_says_what_to_do(project: Project) -> None:
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    project.pytester.makepyfile(test_chat=CHAT_TEST)
    result = project.run("--llm-mode=live")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--llm-mode=live calls https://api.openai.com/v1, but OPENAI_API_KEY*"]
    )
