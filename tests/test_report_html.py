"""The run's report people look at: the self-contained HTML page, opened in a real headless
Chromium (Debian's package, driven by Playwright), and the Markdown summary a GitHub Actions job
shows (GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import Project

from pytest_seeded.report.labels import LABELS

TESTS = """
import pytest

def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "tell me about <b>rain</b>"}])
    assert r.choices[0].message.content

def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "stream it"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)

def test_embed(seeded_llm):
    assert seeded_llm.embeddings.create(model="embed-x", input="rain").data
"""


def _chromium() -> str:
    """Debian's Chromium; in CI its absence fails the test instead of skipping it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "headless Chromium and Playwright are needed: devtools/test.sh installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _live_run_with_repeats(project: Project, *args: str) -> pytest.RunResult:
    project.pytester.makepyfile(test_it=TESTS)
    # Answers that hold markup: the page must show them as text.
    project.server.state.decorate = lambda text: f"{text} <b>rain</b>"
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    # The 4th answer to each prompt ends differently: one of each chat test's extra answers
    # diverges, and the two fail for their low agreement; the embedding agrees fully.
    project.server.state.vary_prompt_every = 4
    return project.run_subprocess("--llm-mode=live", "--llm-repeat=4", *args)


def test_the_html_report_renders_in_a_browser_with_the_runs_numbers(project: Project) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    page_path = project.pytester.path / "out" / "report.html"
    json_path = project.pytester.path / "report.json"
    result = _live_run_with_repeats(
        project, "-n", "2", f"--llm-report-html={page_path}", f"--llm-report={json_path}"
    )
    result.assert_outcomes(passed=1, failed=2)
    doc = json.loads(json_path.read_text())
    html = page_path.read_text()
    # Self-contained: nothing to fetch from any host.
    assert "http://" not in html.replace(project.server.url, "")
    assert "https://" not in html
    assert "<b>rain</b>" not in html
    assert "&lt;b&gt;rain&lt;/b&gt;" in html

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_path.as_uri())
        counts = page.inner_text("#counts")
        bars = page.locator("#agreement-chart .agreement-bar").count()
        tokens_chart = page.locator("#tokens-chart rect").count()
        shown_all = page.inner_text("#shown")
        divergent = page.locator(".pair mark").count()
        page.fill("#filter", "failed")
        shown_failed = page.inner_text("#shown")
        visible = page.locator("#tests tbody tr:visible").all_inner_texts()
        page.screenshot(path=str(project.pytester.path / "report.png"), full_page=True)
        browser.close()
    assert problems == []
    assert requests == [page_path.as_uri()]
    calls = doc["calls"]
    assert counts == f"{calls['matched']} matched live" == "3 matched live"
    assert bars == len(doc["determinism"]["calls"]) == 3
    assert tokens_chart >= 2
    assert divergent >= 2  # the divergent answers, side by side, marked where they part
    assert shown_all == "3 of 3 tests shown"
    assert shown_failed == "2 of 3 tests shown"
    assert len(visible) == 2
    assert "test_it.py::test_chat" in visible[0]
    assert "agreement 75% (2 distinct of 4)" in visible[0]
    assert (project.pytester.path / "report.png").stat().st_size > 10_000


def test_a_github_actions_job_gets_a_markdown_summary(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = _live_run_with_repeats(project)
    result.assert_outcomes(passed=1, failed=2)
    text = summary.read_text()
    # Each run appends its own: the record run's, then the live run's.
    assert text.startswith("earlier step\n## pytest-seeded\n\nmode **record**")
    assert "mode **live**, seed 42; 3 tests used the LLM fixtures" in text
    assert "| matched live | 3 |" in text
    assert "compared live, by API: `chat.completions` 2, `embeddings` 1" in text
    assert "agreement: **" in text
    assert "tokens spent: " in text
    # Low agreement fails the test, not a call: the summary shows no failing call for it.
    assert "### Failing calls" not in text
    project.server.state.vary_prompt_every = 0
    project.server.state.salt = "another model"
    project.run("--llm-mode=live").assert_outcomes(failed=3)
    text = summary.read_text()
    assert text.count("## pytest-seeded") == 3
    assert "### Failing calls" in text
    assert "- `test_it.py::test_embed` call #1 (embeddings): mismatched — vector 0: cosine" in text


MIXED = """
import os
import httpx2

ROOT = os.environ["OPENAI_BASE_URL"].removesuffix("/v1")

def test_agent(seeded_llm):
    weather = httpx2.get(f"{ROOT}/tool/weather?city=Oslo").json()
    r = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": str(weather)}])
    assert r.choices[0].message.content

def test_fails_after_its_call(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert os.environ.get("PASS_IT")
"""


def _html_counts(page: str) -> str:
    block = re.search(r'<div id="counts">(.*?)</div>', page, re.S)
    assert block is not None
    return re.sub(r"<[^>]+>", "", block.group(1))


@pytest.mark.parametrize("mode", ["record", "replay"])
def test_the_three_reports_count_the_same(
    project: Project, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The HTML page's counts are the terminal's and the JSON report's: a failed test's call
    is not counted as recorded, and a tool's call is other HTTP, not a replayed LLM call."""
    project.pytester.makepyfile(test_mixed=MIXED)
    if mode == "replay":
        monkeypatch.setenv("PASS_IT", "1")
        project.run("--llm-mode=record").assert_outcomes(passed=2)
        monkeypatch.delenv("PASS_IT")
    page = project.pytester.path / "report.html"
    report = project.pytester.path / "report.json"
    args = (f"--llm-report-html={page}", f"--llm-report={report}")
    result = project.run(*((f"--llm-mode={mode}",) if mode == "record" else ()), *args)
    result.assert_outcomes(passed=1, failed=1)
    line = next(x for x in result.stdout.lines if x.startswith("calls: "))
    expected = {"record": "calls: 1 recorded, 1 other HTTP recorded",
                "replay": "calls: 2 replayed, 1 other HTTP replayed"}[mode]  # fmt: skip
    assert line == expected
    assert _html_counts(page.read_text()) == line.removeprefix("calls: ")
    calls = json.loads(report.read_text())["calls"]
    shown = ", ".join(f"{n} {label}" for name, label in LABELS if (n := calls[name]))
    assert shown == line.removeprefix("calls: ")
