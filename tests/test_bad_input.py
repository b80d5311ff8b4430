"""Bad input fails only its test, with the plugin's message, and no answer or report crashes
the run or writes what it was not asked to (../shared/redteam 18, 19, 20, 21)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Project

CHAT = """
def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "say something"}]
    )
    print("SAID:", ascii(r.choices[0].message.content))
"""


def test_an_answer_holding_a_lone_surrogate_records_replays_and_reports(project: Project) -> None:
    # redteam 18: recording failed with syrupy's opaque UnicodeEncodeError, and under
    # --llm-repeat with --llm-report-html the session ended in a traceback, with no summary.
    project.pytester.makepyfile(test_it=CHAT)
    project.server.state.decorate = lambda text: f"{text} smile \ud83d"
    recorded = project.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=1)
    said = [line for line in recorded.outlines if line.startswith("SAID:")]
    (text,) = project.snapshots().values()
    assert "\\ud83d" in text  # written as the JSON escape the server sent
    json.loads(text)
    project.offline()
    replayed = project.run("-s")
    replayed.assert_outcomes(passed=1)
    assert [line for line in replayed.outlines if line.startswith("SAID:")] == said
    project.write_ini("")  # back to the server
    project.base_url = project.server.url
    project.write_ini()
    project.server.state.vary_every = 2
    html = project.pytester.path / "report.html"
    live = project.run(
        "--llm-mode=live", "--llm-repeat=2", "--llm-min-agreement=0", f"--llm-report-html={html}"
    )
    live.assert_outcomes(passed=1)
    live.stdout.fnmatch_lines(["*pytest-seeded*", "*determinism*"])
    assert "Traceback" not in live.stdout.str() + live.stderr.str()
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


ODD_ANSWERS = {
    "tool call whose function is a string": {
        "model": "m", "system_fingerprint": "fp",
        "choices": [{"index": 0, "message": {"content": "hi", "tool_calls": [{"function": "lookup"}]}}],
    },
    "choices that are not a list": {"model": "m", "choices": {"0": "hello"}},
    "index null and content a number": {
        "model": "m", "choices": [{"index": None, "message": {"content": 7}}],
    },
}  # fmt: skip


@pytest.mark.parametrize("answer", ODD_ANSWERS.values(), ids=list(ODD_ANSWERS))
def test_an_odd_answer_is_recorded_and_compared_not_crashed_on(
    project: Project, answer: dict[str, Any]
) -> None:
    # redteam 19: readers that "never raise" raised AttributeError/TypeError inside the call.
    project.pytester.makepyfile(
        test_it="""
import httpx

def test_odd(seeded_calls):
    httpx.post(URL + "/chat/completions", json={"model": "m", "messages": []}).raise_for_status()
""".replace("URL", repr(project.server.url))
    )
    project.server.state.raw_answer = answer
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    output = json.loads(text)["calls"][0]["output"]
    assert isinstance(output, str)
    project.run("--llm-mode=live").assert_outcomes(passed=1)  # the same answer matches
    project.server.state.raw_answer = {**answer, "extra": "changed"}
    failed = project.run("--llm-mode=live")
    if "not readable as" in output:  # read whole: a change anywhere is seen
        failed.assert_outcomes(failed=1)


def _glob(text: str) -> str:
    """Text as an fnmatch pattern that matches it literally."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)


def _edit(project: Project, change: Any) -> str:
    (path,) = (project.pytester.path / "__llm_snapshots__").rglob("*.seeded.jsonc")
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc["calls"][0]["response"])
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return str(path.relative_to(project.pytester.path))


BINARY = """
import httpx

def test_bin(seeded_calls):
    assert httpx.get(URL + "/audio.bin").content
"""


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda r: r["events"][0].update(event="x\ndata: {broken"), "events[0].event"),
        (lambda r: r["events"][1].update(event=["not", "a", "name"]), "events[1].event"),
    ],
    ids=["event name with a line break", "event name not a string"],
)
def test_a_stream_edit_that_cannot_replay_names_the_file_and_field(
    project: Project, edit: Any, said: str
) -> None:
    # redteam 20: files that loaded but could not replay failed with raw errors.
    project.pytester.makepyfile(
        test_it="""
def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "stream it"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    where = _edit(project, edit)
    project.offline()
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*cannot read the snapshot of test_it.py::test_stream: {_glob(where)}*",
            f"*{_glob(said)}*",
        ]
    )


def test_a_base64_body_that_does_not_decode_names_the_file(project: Project) -> None:
    project.pytester.makepyfile(
        test_it="""
import httpx

def test_speech(seeded_llm):
    assert seeded_llm.audio.speech.create(model="tts", voice="alloy", input="hi").content
"""
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    where = _edit(project, lambda r: r.update(body={"base64": "a"}))
    project.offline()
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{_glob(where)}*", "*response.body.base64: not valid base64*"])


@pytest.mark.parametrize("policy", ["skip", "xfail", "fail"])
def test_a_served_name_cannot_inject_markdown_or_lines(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: str
) -> None:
    # redteam 21: a model name from the server went raw into the step summary (a newline made
    # a heading or an external image, | broke the table) and into the terminal; the count row
    # said "skipped for drift" under every policy.
    project.pytester.makepyfile(test_it=CHAT)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    project.server.state.model_version = "\n# injected\n![x](http://evil.example/x.png) | cell `x`"
    result = project.run("--llm-mode=live", f"--llm-on-drift={policy}")
    markdown = summary.read_text(encoding="utf-8")
    lines = markdown.splitlines()
    assert not any(line.startswith(("# injected", "![")) for line in lines)
    for line in lines:  # where the name shows, it is code or escaped, never an image
        at = line.find("![x](")
        assert at < 0 or line[:at].count("`") % 2 == 1
    drift_rows = [line for line in lines if line.startswith("| model |")]
    assert len(drift_rows) == 1
    assert drift_rows[0].count(" | ") == 3  # four cells: the name's | is escaped
    assert all(not line.startswith("# injected") for line in result.outlines)
    label = {
        "skip": "skipped for drift",
        "xfail": "xfail on drift",
        "fail": "fail on drift",
    }[policy]
    result.stdout.fnmatch_lines([f"calls: 1 {label}*"])
    assert f"| {label} | 1 |" in markdown
