"""Sharded runs, one report: the --llm-report files of a run split in two join into the report
one run of the whole suite writes (python -m pytest_seeded merge-reports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project

SUITE = """
import httpx2, os

def test_a(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])

def test_b(seeded_llm):
    root = os.environ["OPENAI_BASE_URL"].removesuffix("/v1")
    httpx2.get(f"{root}/tool/weather?city=Oslo")
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])

def test_c(seeded_llm):
    seeded_llm.embeddings.create(model="e", input="c")
"""


def _merge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_seeded", "merge-reports", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_shard_reports_merge_into_the_whole_runs_report(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_suite=SUITE)
    root = project.pytester.path
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    project.run("--llm-report=whole.json").assert_outcomes(passed=3)
    project.run("-k", "test_a", "--llm-report=shard1.json").assert_outcomes(passed=1)
    project.run("-k", "not test_a", "--llm-report=shard2.json").assert_outcomes(passed=2)
    summary = root / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    done = _merge(root, "shard1.json", "shard2.json", "--json", "out.json", "--html", "out.html")
    assert done.returncode == 0, done.stderr
    assert "2 shard(s), 3 tests; calls: 3 replayed, 1 other HTTP replayed" in done.stdout
    merged = json.loads((root / "out.json").read_text())
    whole = json.loads((root / "whole.json").read_text())
    for key in ("mode", "seeds", "tests", "calls", "files", "compared", "tokens"):
        assert merged[key] == whole[key], key
    assert sorted(r["nodeid"] for r in merged["rows"]) == sorted(r["nodeid"] for r in whole["rows"])
    assert "3 replayed" in (root / "out.html").read_text()
    assert "## pytest-seeded" in summary.read_text()


def test_a_file_that_is_not_a_shard_report_is_named(project: Project) -> None:
    root = project.pytester.path
    (root / "junit.json").write_text('{"tests": 3}')
    done = _merge(root, "junit.json", "missing.json")
    assert done.returncode == 2
    assert "junit.json: not a pytest-seeded --llm-report file" in done.stderr
    assert _merge(root).returncode == 2  # no shard given: usage


def test_orphans_every_shard_agrees_on_are_listed_and_pruned(project: Project) -> None:
    """A test removed from the suite leaves its snapshot; no shard may delete it (each runs a
    part), and every shard lists it. merge-reports lists it, and --prune deletes it, and only
    it."""
    project.pytester.makepyfile(test_suite=SUITE)
    root = project.pytester.path
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    project.pytester.makepyfile(test_suite=SUITE.split("def test_c")[0])
    before = set(project.snapshots())
    project.run("-k", "test_a", "--llm-report=s1.json").assert_outcomes(passed=1)
    project.run("-k", "test_b", "--llm-report=s2.json").assert_outcomes(passed=1)
    assert set(project.snapshots()) == before  # a shard deletes nothing
    orphan = "__llm_snapshots__/test_suite/test_c[seed=42].seeded.jsonc"
    for shard in ("s1.json", "s2.json"):
        assert json.loads((root / shard).read_text())["files"]["orphans"] == [orphan]
    listed = _merge(root, "s1.json", "s2.json", "--json", "out.json")
    assert f"orphan (no shard's tests own it): {orphan}" in listed.stdout
    assert set(project.snapshots()) == before
    pruned = _merge(root, "s1.json", "s2.json", "--prune", "--json", "out.json")
    assert f"deleted {orphan}" in pruned.stdout
    assert set(project.snapshots()) == before - {orphan}
    assert json.loads((root / "out.json").read_text())["files"]["deleted"] == [orphan]
