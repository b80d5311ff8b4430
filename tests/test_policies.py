"""Comparison policies (exact, normalized, json, similar) and drift policies, in live mode."""

from __future__ import annotations

import json

import pytest
from conftest import Project

CHAT = """
import pytest

def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "policy"}])
    assert r.choices[0].message.content
"""

STRUCTURED = """
from pydantic import BaseModel

class Answer(BaseModel):
    text: str
    words: int

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

def test_structured(seeded_llm):
    r = seeded_llm.chat.completions.parse(model="m", messages=[{"role": "user", "content": "json"}], response_format=Answer)
    assert r.choices[0].message.parsed.words > 0

def test_tool(seeded_llm):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "call a tool"}], tools=TOOLS)
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"
"""


def _record(project: Project, source: str, passed: int = 1) -> dict[str, str]:
    project.pytester.makepyfile(test_it=source)
    project.run("--llm-mode=record").assert_outcomes(passed=passed)
    return project.snapshots()


def test_normalized_folds_white_space_and_smart_quotes(project: Project) -> None:
    _record(project, CHAT)
    project.server.state.decorate = lambda t: "  " + t.replace(" ", " \n ", 2) + " \u201cok\u201d"
    project.run("--llm-mode=live").assert_outcomes(failed=1)
    # Record the decorated form (smart quotes), then answer with other spacing and plain quotes.
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.server.state.decorate = lambda t: t.replace(" ", "   ", 3) + ' "ok"'
    project.run("--llm-mode=live").assert_outcomes(failed=1)
    result = project.run("--llm-mode=live", "--llm-compare=normalized")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*compare normalized*", "*1 matched live*"])


def test_json_compares_structure_of_content_and_tool_arguments(project: Project) -> None:
    _record(project, STRUCTURED, passed=2)
    project.server.state.json_indent = 4
    exact = project.run("--llm-mode=live")
    exact.assert_outcomes(failed=2)
    exact.stdout.fnmatch_lines(['*-[[]tool call[]] lookup({"words"*'])
    as_json = project.run("--llm-mode=live", "--llm-compare=json")
    as_json.assert_outcomes(passed=2)
    project.server.state.salt = "other words"
    changed = project.run("--llm-mode=live", "--llm-compare=json")
    changed.assert_outcomes(failed=2)
    changed.stdout.fnmatch_lines(["*compare json*"])


def test_json_says_when_an_output_is_not_json(project: Project) -> None:
    _record(project, CHAT)
    result = project.run("--llm-mode=live", "--llm-compare=json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the snapshot content of choice 0 is not JSON*"])


def test_similar_passes_above_the_threshold_and_shows_the_score(project: Project) -> None:
    _record(project, CHAT)
    project.server.state.decorate = lambda t: t + " and one more"
    project.run("--llm-mode=live", "--llm-compare=similar:0.6").assert_outcomes(passed=1)
    strict = project.run("--llm-mode=live", "--llm-compare=similar:0.99")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*compare similar:0.99, score 0.*", "*+++ live*"])


def test_marker_and_ini_set_the_policy(project: Project) -> None:
    _record(
        project,
        CHAT.replace("def test_chat", "@pytest.mark.llm(compare='similar:0.6')\ndef test_chat"),
    )
    project.server.state.decorate = lambda t: t + " and one more"
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    _record(project, CHAT)
    project.write_ini("llm_compare = similar:0.6\n")
    result = project.run("--llm-mode=live")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*compare similar:0.6*"])


def test_bad_policies_are_usage_errors(project: Project) -> None:
    result = project.run("--llm-compare=fuzzy")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*--llm-compare: takes one of exact, normalized, json, similar:THRESHOLD; got 'fuzzy'*"]
    )
    result = project.run("--llm-compare=similar:2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*similar:THRESHOLD with a number from 0 to 1*"])
    result = project.run("--llm-on-drift=panic")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--llm-on-drift: takes one of skip, xfail, fail, warn, record*"])


@pytest.fixture
def drifted(project: Project) -> Project:
    _record(project, CHAT)
    project.server.state.fingerprint = "fp_loopback_2"
    return project


def test_drift_xfail(drifted: Project) -> None:
    result = drifted.run("--llm-mode=live", "--llm-on-drift=xfail", "-rx")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(
        ["*1 xfail on drift*", "*XFAIL*recorded 'fp_loopback_1', live 'fp_loopback_2'*"]
    )


def test_drift_fail(drifted: Project) -> None:
    result = drifted.run("--llm-mode=live", "--llm-on-drift=fail")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*system_fingerprint changed for call #1*"])


def test_drift_warn_compares_anyway(drifted: Project) -> None:
    result = drifted.run("--llm-mode=live", "--llm-on-drift=warn", "-W", "default")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*FingerprintDriftWarning*", "*1 matched live*"])
    drifted.server.state.salt = "new weights"
    result = drifted.run("--llm-mode=live", "--llm-on-drift=warn", "-W", "default")
    result.assert_outcomes(failed=1, warnings=1)


def test_drift_record_rewrites_the_snapshot(drifted: Project) -> None:
    drifted.server.state.salt = "new weights"
    before = drifted.snapshots()
    result = drifted.run("--llm-mode=live", "--llm-on-drift=record")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 re-recorded after drift*"])
    after = drifted.snapshots()
    assert after != before
    (text,) = after.values()
    assert json.loads(text)["calls"][0]["fingerprint"] == "fp_loopback_2"
    drifted.run("--llm-mode=live").assert_outcomes(passed=1)


def test_drift_policy_from_the_marker(drifted: Project) -> None:
    drifted.pytester.makepyfile(
        test_it=CHAT.replace("def test_chat", "@pytest.mark.llm(on_drift='xfail')\ndef test_chat")
    )
    drifted.run("--llm-mode=live").assert_outcomes(xfailed=1)
