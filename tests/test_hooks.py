"""The pytest_seeded_* hooks, each implemented in a conftest of a temporary project."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Project

CHAT = """
def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "contact me at jane@example.com"}],
        user="jane@example.com",
    )
    assert r.choices[0].message.content
"""


def test_normalize_hook_rewrites_both_sides(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    project.server.state.decorate = lambda t: t + " (generated at 10:00:01)"
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.server.state.decorate = lambda t: t + " (generated at 11:59:59)"
    project.run("--llm-mode=live").assert_outcomes(failed=1)
    project.pytester.makeconftest(
        """
        import re
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_normalize(text, call):
            assert call.seed == 42 and call.number == 1 and call.nodeid.endswith("test_chat")
            return re.sub(r"\\d\\d:\\d\\d:\\d\\d", "<time>", text)
        """
    )
    project.run("--llm-mode=live").assert_outcomes(passed=1)


def test_compare_hook_decides_both_ways(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_compare(expected, actual, call):
            return len(expected.split()) > 0 and len(actual.split()) > 0
        """
    )
    project.server.state.salt = "anything else"
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_compare(expected, actual, call):
            return False
        """
    )
    project.server.state.salt = ""
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pytest_seeded_compare hook*"])


def test_scrub_hook_keeps_personal_data_out_and_replay_still_matches(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    project.pytester.makeconftest(
        """
        import pytest

        def _mask(value):
            if isinstance(value, dict):
                return {k: _mask(v) for k, v in value.items()}
            if isinstance(value, list):
                return [_mask(v) for v in value]
            if isinstance(value, str):
                return value.replace("jane@example.com", "<email>")
            return value

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_scrub(request, response):
            request["body"] = _mask(request["body"])
            if response is not None:
                response["body"].pop("usage", None)
                response["body"]["id"] = "<id>"
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert any("jane@example.com" in json.dumps(r.body) for r in project.server.state.requests)
    (text,) = project.snapshots().values()
    assert "jane@example.com" not in text
    call = json.loads(text)["calls"][0]
    assert call["request"]["body"]["user"] == "<email>"
    assert "usage" not in call["response"]["body"]
    assert call["response"]["body"]["id"] == "<id>"
    project.offline()
    project.run().assert_outcomes(passed=1)


def test_fingerprint_changed_hook_is_scoped_to_its_folder(project: Project) -> None:
    for folder in ("alpha", "beta"):
        project.pytester.mkpydir(folder)
        (project.pytester.path / folder / f"test_{folder}.py").write_text(CHAT)
    (project.pytester.path / "alpha" / "conftest.py").write_text(
        "import pytest\n\n"
        "SEEN = []\n\n"
        "@pytest.hookimpl(optionalhook=True)\n"
        "def pytest_seeded_fingerprint_changed(old, new, item):\n"
        "    print(f'DRIFT {old} -> {new} in {item.name}')\n"
        "    return 'xfail'\n"
    )
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    project.server.state.fingerprint = "fp_loopback_2"
    result = project.run("--llm-mode=live", "-s")
    result.assert_outcomes(xfailed=1, skipped=1)
    result.stdout.fnmatch_lines(["*DRIFT fp_loopback_1 -> fp_loopback_2 in test_chat*"])


def test_a_bad_policy_from_the_hook_is_reported(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_fingerprint_changed(old, new, item):
            return "shrug"
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.server.state.fingerprint = "fp_loopback_2"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pytest_seeded_fingerprint_changed returned 'shrug'*"])


def test_optional_hooks_keep_working_without_the_plugin(project: Project) -> None:
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_normalize(text, call):
            return text
        """
    )
    project.pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    project.run("-p", "no:seeded").assert_outcomes(passed=1)


def test_the_docs_conftest_example_runs(project: Project) -> None:
    docs = (Path(__file__).parents[1] / "docs" / "errors-and-hooks.md").read_text()
    example = docs.split('A runnable `conftest.py`:\n\n```python title="conftest.py"\n', 1)[1]
    example = example.split("```", 1)[0]
    project.pytester.makeconftest(example)
    project.pytester.makepyfile(test_it=CHAT)
    project.server.state.decorate = lambda t: t + " at 10:00"
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    assert "jane@example.com" not in text
    assert "<email>" in text
    project.server.state.decorate = lambda t: t + " at 11:30"
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    project.server.state.fingerprint = "fp_loopback_2"
    result = project.run("--llm-mode=live", "-s")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["*provider changed its backend: fp_loopback_1 -> fp_loopback_2*"])
