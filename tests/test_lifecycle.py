"""A snapshot file lives as long as its test: no flag, typo, subset, crash or other seed deletes
it; a complete --snapshot-update run deletes exactly the files of removed tests. Names never
collide or overflow, re-records are byte-stable, record-new records only what is new, and the
hints and summaries tell the truth."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Project

SUITE = """
import os

import pytest


def test_0_exit(seeded_llm):
    if os.environ.get("SEEDED_TEST_EXIT"):
        pytest.exit("stopped by the test", returncode=3)
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "exit"}])


def test_1_crash(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "crash"}])
    if os.environ.get("SEEDED_TEST_CRASH"):
        os._exit(1)


@pytest.fixture
def broken():
    if os.environ.get("SEEDED_TEST_BREAK"):
        raise RuntimeError("this fixture broke before the LLM fixture started")


def test_2_setup_error(broken, seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "setup"}])


def test_a1(seeded_llm):
    if os.environ.get("SEEDED_TEST_FAIL"):
        assert False, "fails before its call"
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "a1"}])


@pytest.mark.parametrize("topic", ["rain", "snow"])
def test_topic(seeded_llm, topic):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": topic}])
"""

OTHER = """
def test_other(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "other"}])
"""


def recorded_project(project: Project, *args: str) -> dict[str, bytes]:
    project.pytester.makepyfile(test_suite=SUITE, test_other=OTHER)
    result = project.run("--llm-mode=record", *args)
    assert result.ret == 0
    return files(project)


def files(project: Project) -> dict[str, bytes]:
    root = project.pytester.path
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.seeded.jsonc"))}


# Each case: (environment, extra arguments of the recording run and of the update run, a
# rewrite of the test module before the update). Each kept every file it should not delete.
KEEPING_RUNS: dict[str, tuple[dict[str, str], list[str], list[str], tuple[str, str] | None]] = {
    "k-typo": ({}, [], ["-k", "a1 or ("], None),
    "k-subset": ({}, [], ["-k", "a1"], None),
    "k-subset-of-a-seed-matrix": ({}, ["--llm-seed=42,7"], ["--llm-seed=42,7", "-k", "a1"], None),
    "k-subset-with-files-of-another-seed": ({}, ["--llm-seed=42,7"], ["-k", "a1"], None),
    "k-matches-the-seed-in-file-names": (
        {},
        ["--llm-seed=42,7"],
        ["--llm-seed=42,7", "-k", "42"],
        None,
    ),
    "m-expression": ({}, [], ["-m", "not slow"], None),
    "x-stops-at-the-first-failure": (
        {"SEEDED_TEST_FAIL": "1"},
        [],
        ["-x", "-p", "no:randomly"],
        None,
    ),
    "maxfail": ({"SEEDED_TEST_FAIL": "1"}, [], ["--maxfail=1", "-p", "no:randomly"], None),
    "another-seed": ({}, [], ["--llm-seed=7"], None),
    "other-fixture-errors-in-setup": ({"SEEDED_TEST_BREAK": "1"}, [], [], None),
    "llm-marker-typo": ({}, [], [], ("def test_a1(", "@pytest.mark.llm(sed=1)\ndef test_a1(")),
    "pytest-exit": ({"SEEDED_TEST_EXIT": "1"}, [], [], None),
    "test-id-argument": ({}, [], ["test_suite.py::test_a1"], None),
    "deselect": ({}, [], ["--deselect", "test_suite.py::test_a1"], None),
}


@pytest.mark.parametrize("case", list(KEEPING_RUNS))
def test_snapshot_update_deletes_no_file_a_collected_test_owns(
    project: Project, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    env, record_args, args, rewrite = KEEPING_RUNS[case]
    before = recorded_project(project, *record_args)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if rewrite is not None:
        suite = project.pytester.path / "test_suite.py"
        suite.write_text(suite.read_text().replace(*rewrite))
    result = project.run("--snapshot-update", *args)
    out = result.stdout.str() + result.stderr.str()
    assert "deleted" not in out.lower(), out
    after = files(project)
    assert set(before) <= set(after), out
    if case == "another-seed":
        assert len(after) == 14
        # A plain replay afterwards: the seed-7 files are not "unused" either.
        project.offline()
        replay = project.run()
        replay.assert_outcomes(passed=7)
        assert "unused" not in replay.stdout.str()


def test_a_marker_typo_or_an_import_error_deletes_nothing(project: Project) -> None:
    before = recorded_project(project)
    suite = project.pytester.path / "test_suite.py"
    suite.write_text(suite.read_text().replace("def test_a1(", "@pytest.mark.lmm\ndef test_a1("))
    other = project.pytester.path / "test_other.py"
    other.write_text("import not_a_module_anywhere\n" + other.read_text())
    result = project.run("--snapshot-update", "--strict-markers", "--continue-on-collection-errors")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert files(project) == before
    assert "deleted" not in result.stdout.str().lower()


def test_an_unreadable_snapshot_of_a_failing_test_is_kept(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = recorded_project(project)
    bad = project.pytester.path / "__llm_snapshots__/test_suite/test_a1[seed=42].seeded.jsonc"
    bad.write_bytes(b"\xff\xfe not text")
    monkeypatch.setenv("SEEDED_TEST_FAIL", "1")
    project.run("--snapshot-update").assert_outcomes(passed=6, failed=1)
    assert bad.read_bytes() == b"\xff\xfe not text"
    assert set(files(project)) == set(before)
    # In replay it fails only its own test, and stays as it is.
    project.offline()
    monkeypatch.delenv("SEEDED_TEST_FAIL")
    project.run().assert_outcomes(passed=6, errors=1)
    assert bad.read_bytes() == b"\xff\xfe not text"


def test_a_crashed_xdist_worker_deletes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = recorded_project(project)
    monkeypatch.setenv("SEEDED_TEST_CRASH", "1")
    result = project.run_subprocess("--snapshot-update", "-n", "2")
    out = result.stdout.str()
    assert "crashed" in out or "node down" in out, out
    assert set(files(project)) == set(before), out
    assert "deleted" not in out.lower()


def test_a_complete_snapshot_update_deletes_exactly_the_removed_tests_files(
    project: Project,
) -> None:
    before = recorded_project(project)
    # Files of another seed belong to their test all the same.
    project.run("--llm-mode=record", "--llm-seed=7", "-k", "a1").assert_outcomes(passed=1)
    suite = project.pytester.path / "test_suite.py"
    source = suite.read_text()
    suite.write_text(source[: source.index("@pytest.mark.parametrize")])
    result = project.run("--snapshot-update")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "snapshot files: 5 unchanged, 2 deleted (no collected test owns them)",
            "  deleted */test_topic[[]rain[]][[]seed=42[]].seeded.jsonc",
            "  deleted */test_topic[[]snow[]][[]seed=42[]].seeded.jsonc",
        ]
    )
    after = files(project)
    assert set(before) - set(after) == {
        "__llm_snapshots__/test_suite/test_topic[rain][seed=42].seeded.jsonc",
        "__llm_snapshots__/test_suite/test_topic[snow][seed=42].seeded.jsonc",
    }
    assert "__llm_snapshots__/test_suite/test_a1[seed=7].seeded.jsonc" in after
    # The same orphan in a subset run is kept, and the summary says why.
    project.pytester.path.joinpath(
        "__llm_snapshots__/test_suite/test_gone[seed=42].seeded.jsonc"
    ).write_bytes(before["__llm_snapshots__/test_suite/test_a1[seed=42].seeded.jsonc"])
    subset = project.run("--snapshot-update", "-k", "a1 or gone")
    subset.stdout.fnmatch_lines(["*1 snapshot file(s) that no collected test owns were kept*-k*"])
    assert "__llm_snapshots__/test_suite/test_gone[seed=42].seeded.jsonc" in files(project)


NAMES = """
import pytest

IDS = ["a/b", "ab", "10:30", "1030", "x" * 300, "Привет, мир! Как дела у тебя сегодня утром? Всё хорошо!"]


@pytest.mark.parametrize("text", IDS, ids=IDS)
def test_named(seeded_llm, text):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert r.choices[0].message.content
"""


def test_every_test_gets_a_file_of_its_own_within_the_name_limit(project: Project) -> None:
    project.pytester.makepyfile(test_names=NAMES)
    project.run("--llm-mode=record").assert_outcomes(passed=6)
    written = files(project)
    assert len(written) == 6
    prompts = set()
    for name, content in written.items():
        assert len(Path(name).name.encode()) + len(".x.12345678.tmp") <= 255, name
        prompts.add(json.loads(content)["calls"][0]["request"]["body"]["messages"][0]["content"])
    assert len(prompts) == 6
    # Each replays its own recording: the server answers differently for each prompt.
    project.offline()
    project.run().assert_outcomes(passed=6)
    # Two tests whose names clean to one are still told apart on disk.
    assert {n for n in written if "[ab" in n or "[1030" in n}.__len__() == 4


MATRIX = """
import pytest


@pytest.mark.parametrize("topic", ["rain", "snow"])
def test_topic(seeded_llm, topic):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": topic}])
"""


def test_a_seed_matrix_and_a_single_seed_share_one_file(project: Project) -> None:
    project.pytester.makepyfile(test_m=MATRIX)
    project.run("--llm-mode=record", "--llm-seed=1,2").assert_outcomes(passed=4)
    assert set(files(project)) == {
        f"__llm_snapshots__/test_m/test_topic[{t}][seed={s}].seeded.jsonc"
        for t in ("rain", "snow")
        for s in (1, 2)
    }
    project.offline()
    project.run("--llm-seed=2").assert_outcomes(passed=2)
    project.run("--llm-seed=1,2").assert_outcomes(passed=4)


def test_a_seed_matrix_file_named_by_an_earlier_version_is_read_and_renamed(
    project: Project,
) -> None:
    project.pytester.makepyfile(test_m=MATRIX)
    project.run("--llm-mode=record", "--llm-seed=1,2").assert_outcomes(passed=4)
    folder = project.pytester.path / "__llm_snapshots__/test_m"
    old = folder / "test_topic[seed=2-rain].seeded.jsonc"
    (folder / "test_topic[rain][seed=2].seeded.jsonc").rename(old)
    # Owned by its test: a plain run does not call it unused, an update does not delete it.
    project.offline()
    project.run("--llm-seed=1,2").assert_outcomes(passed=4)
    project.run("--llm-seed=2").assert_outcomes(passed=2)
    project.write_ini()  # back online
    project.base_url = project.server.url
    project.write_ini()
    project.run("--snapshot-update", "--llm-seed=1,2").assert_outcomes(passed=4)
    assert not old.exists()
    assert (folder / "test_topic[rain][seed=2].seeded.jsonc").exists()


CONCURRENT = """
import asyncio


async def test_many(seeded_async_llm):
    async def ask(n):
        r = await seeded_async_llm.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"question {n}"}]
        )
        return r.choices[0].message.content

    answers = await asyncio.gather(*(ask(n) for n in range(8)))
    assert len(set(answers)) == 8


def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "stream"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""


def test_re_recording_unchanged_answers_leaves_every_file_byte_for_byte(
    project: Project,
) -> None:
    project.server.state.volatile = True
    project.server.state.jitter = 0.02
    project.pytester.makepyfile(test_suite=SUITE, test_c=CONCURRENT)
    project.write_ini("asyncio_mode = auto\n")
    first = project.run("--llm-mode=record")
    first.assert_outcomes(passed=8)
    first.stdout.fnmatch_lines(["8 snapshots generated.", "*", "*", "snapshot files: 8 new"])
    before = files(project)
    many = json.loads(before["__llm_snapshots__/test_c/test_many[seed=42].seeded.jsonc"])
    assert "timings" in many["calls"][0]["response"]["body"]  # the volatile fields are there
    for _ in range(2):
        again = project.run("--llm-mode=record")
        again.assert_outcomes(passed=8)
        again.stdout.fnmatch_lines(["8 snapshots passed.", "snapshot files: 8 unchanged"])
        assert files(project) == before
    # One changed answer rewrites that call alone; the others keep their stored form.
    project.server.state.salt = "changed"
    project.run("--llm-mode=record", "-k", "a1").assert_outcomes(passed=1)
    path = "__llm_snapshots__/test_suite/test_a1[seed=42].seeded.jsonc"
    assert files(project)[path] != before[path]
    project.server.state.salt = ""
    project.run("--snapshot-update", "-k", "a1").stdout.fnmatch_lines(["1 snapshot updated."])


def test_record_new_records_only_what_has_no_snapshot_or_changed(project: Project) -> None:
    recorded_project(project)
    root = project.pytester.path
    (root / "__llm_snapshots__/test_other/test_other[seed=42].seeded.jsonc").unlink()
    suite = root / "test_suite.py"
    suite.write_text(suite.read_text().replace('"content": "a1"', '"content": "a1, changed"'))
    project.pytester.makepyfile(
        test_more="""
        def test_new(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "new"}])

        def test_fewer(seeded_llm):
            pass
        """
    )
    # test_fewer had a call once; now it makes none.
    fewer = root / "__llm_snapshots__/test_more/test_fewer[seed=42].seeded.jsonc"
    fewer.parent.mkdir(parents=True)
    fewer.write_bytes(
        (root / "__llm_snapshots__/test_suite/test_0_exit[seed=42].seeded.jsonc").read_bytes()
    )
    before = files(project)
    project.server.state.requests.clear()
    result = project.run("--llm-mode=record-new")
    result.assert_outcomes(passed=9)
    sent = sorted(r.body["messages"][0]["content"] for r in project.server.state.requests)
    assert sent == ["a1, changed", "new", "other"]
    result.stdout.fnmatch_lines(
        [
            "snapshot files: 2 new, 1 changed, 5 replayed",
            "recorded test_more.py::test_new: no snapshot",
            "recorded test_other.py::test_other: no snapshot",
            "recorded test_suite.py::test_a1: the request of call #1 is not in the snapshot",
        ]
    )
    after = files(project)
    for name in before:
        if "test_a1" not in name:
            assert after[name] == before[name], name
    # A test that makes fewer calls than its snapshot holds is not rewritten to nothing: it
    # made no call, so there is nothing to record, and the file is kept for its owner.
    assert fewer.exists()
    project.offline()
    project.run("-k", "not fewer").assert_outcomes(passed=8, deselected=1)


def test_each_snapshot_says_when_and_with_what_it_was_recorded(project: Project) -> None:
    project.pytester.makepyfile(test_other=OTHER)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    ((name, content),) = files(project).items()
    doc = json.loads(content)
    recorded = doc["recorded"]
    assert set(recorded) == {"at", "pytest_seeded", "openai"}
    at = datetime.fromisoformat(recorded["at"])
    assert abs((datetime.now(UTC) - at).total_seconds()) < 600
    # Made old, it warns (or fails) in replay under --llm-max-age.
    path = project.pytester.path / name
    old = (datetime.now(UTC) - timedelta(days=400)).replace(microsecond=0).isoformat()
    path.write_text(content.decode().replace(recorded["at"], old))
    project.offline()
    project.run("--llm-max-age=500").assert_outcomes(passed=1)
    warned = project.run("--llm-max-age=180", "-W", "default::pytest_seeded.SnapshotAgeWarning")
    warned.assert_outcomes(passed=1, warnings=1)
    warned.stdout.fnmatch_lines(["*test_other.py::test_other was recorded 400 days ago*"])
    failed = project.run("--llm-max-age=180", "--llm-on-old=fail")
    failed.assert_outcomes(errors=1)
    failed.stdout.fnmatch_lines(["*more than --llm-max-age=180*", "*Re-record it with: pytest *"])
    assert (project.pytester.path / name).read_text() == content.decode().replace(
        recorded["at"], old
    )


def test_the_record_hint_works_from_the_current_folder_and_keeps_the_seed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = project.pytester.mkpydir("sub")
    (sub / "test_deep.py").write_text(OTHER)
    monkeypatch.chdir(sub)
    project.offline()
    missing = project.run("test_deep.py", "--llm-seed=123")
    missing.assert_outcomes(failed=1)
    (command,) = set(re.findall(r"Record it with: (.+)", missing.stdout.str()))
    assert command == "pytest test_deep.py::test_other --llm-seed=123 --llm-mode=record"
    project.base_url = project.server.url
    project.write_ini()
    project.run(*command.split()[1:]).assert_outcomes(passed=1)
    assert os.path.exists("__llm_snapshots__/test_deep/test_other[seed=123].seeded.jsonc")
    project.offline()
    project.run("test_deep.py", "--llm-seed=123").assert_outcomes(passed=1)


def test_syrupys_summary_does_not_say_a_failed_live_run_passed(project: Project) -> None:
    project.pytester.makepyfile(test_other=OTHER)
    project.run("--llm-mode=record").stdout.fnmatch_lines(["1 snapshot generated."])
    project.server.state.salt = "another answer"
    live = project.run("--llm-mode=live")
    live.assert_outcomes(failed=1)
    assert "snapshot passed" not in live.stdout.str()
    assert "snapshots passed" not in live.stdout.str()


def test_syrupys_unused_snapshot_flags_work_on_orphaned_files(project: Project) -> None:
    before = recorded_project(project)
    orphan = project.pytester.path / "__llm_snapshots__/test_suite/test_gone[seed=42].seeded.jsonc"
    orphan.write_bytes(before["__llm_snapshots__/test_suite/test_a1[seed=42].seeded.jsonc"])
    project.offline()
    plain = project.run()
    assert plain.ret == 1  # syrupy fails a run that leaves a snapshot unused
    plain.stdout.fnmatch_lines(["*1 snapshot unused.*"])
    warned = project.run("--snapshot-warn-unused", "--snapshot-details")
    assert warned.ret == 0
    warned.stdout.fnmatch_lines(["*Unused*test_gone*"])
    project.base_url = project.server.url
    project.write_ini()
    kept = project.run("--snapshot-update", "--snapshot-no-cleanup")
    assert kept.ret == 0
    assert orphan.exists()
    gone = project.run("--snapshot-update")
    gone.stdout.fnmatch_lines(
        ["*1 unused snapshot deleted.*", "*1 deleted (no collected test owns them)"]
    )
    assert not orphan.exists()
    assert set(files(project)) == set(before)


def test_files_survive_syrupys_other_extensions_and_runs_with_no_llm_test(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # syrupy's default (amber) extension walks __snapshots__ and calls every file it does not
    # own an unknown collection to clean up: in a project that also uses syrupy's own
    # snapshot fixture, and in any run where no LLM test got as far as its fixture.
    before = recorded_project(project, "--llm-seed=42,7")
    project.pytester.makepyfile(
        test_amber="""
        def test_amber(snapshot):
            assert {"plain": "syrupy"} == snapshot
        """
    )
    project.run("--snapshot-update", "-k", "amber").assert_outcomes(passed=1, deselected=7)
    monkeypatch.setenv("SEEDED_TEST_BREAK", "1")
    result = project.run("--snapshot-update")
    result.assert_outcomes(passed=7, errors=1)
    assert "deleted" not in result.stdout.str().lower()
    assert set(before) <= set(files(project))
    # Every LLM test errors in setup: syrupy sees no assertion of the plugin at all.
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(autouse=True)
        def database():
            raise RuntimeError("no database today")
        """
    )
    project.pytester.path.joinpath("test_amber.py").unlink()
    result = project.run("--snapshot-update")
    result.assert_outcomes(errors=7)
    assert set(before) <= set(files(project))


def test_snapshot_update_says_before_calling_what_it_will_record(project: Project) -> None:
    """syrupy's --snapshot-update is a habit; here it makes paid calls. The run says so before
    the first, with what the snapshots it replaces held."""
    project.pytester.makepyfile(
        test_two="""
def test_one(seeded_llm):
    for text in ("a", "b"):
        seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])

def test_two(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "c"}])

def test_plain():
    pass
"""
    )
    project.run("--llm-mode=record", "-k", "test_one").assert_outcomes(passed=1)
    result = project.run("--snapshot-update")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "pytest-seeded: --snapshot-update records: 2 test(s) will call the model (2 call(s) "
            "when last recorded, 1 test(s) with no snapshot yet). --llm-mode=record is the "
            "explicit way*",
            "*test_two.py*",
        ]
    )
    # An explicit recording needs no warning.
    assert "will call the model" not in project.run("--llm-mode=record").stdout.str()
