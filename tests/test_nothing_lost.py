"""Nothing recorded is lost: no flag, skip, outage or drift policy deletes a snapshot a test still
owns, or rewrites it with less than it held (../shared/redteam 10, 12, 13)."""

from __future__ import annotations

import json

import pytest
from conftest import Project

TWO_MODELS = """
def test_two_models(seeded_llm):
    for model in ("m1", "m2"):
        seeded_llm.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"question for {model}"}]
        )
"""


def outputs(project: Project) -> list[str]:
    (text,) = project.snapshots().values()
    return [call["output"] for call in json.loads(text)["calls"]]


@pytest.mark.parametrize("how", ["option", "hook"])
def test_drift_record_still_compares_every_other_call(project: Project, how: str) -> None:
    # redteam 13: once one call drifted under --llm-on-drift=record, the later calls were no
    # longer compared, and a changed answer under an unchanged identity replaced the recording.
    project.pytester.makepyfile(test_it=TWO_MODELS)
    args = ["--llm-mode=live"]
    if how == "option":
        args.append("--llm-on-drift=record")
    else:
        project.pytester.makeconftest(
            """
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_seeded_fingerprint_changed(old, new, item, what):
    return "record"
"""
        )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    before = outputs(project)
    state = project.server.state
    state.fingerprint_by_model = {"m1": "fp_new_backend"}
    state.salt_by_model = {"m2": "another answer"}
    result = project.run(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*live output of call #2 differs from the snapshot*"])
    assert outputs(project) == before  # a test that failed writes nothing

    # Only the drifted call: its new identity's answer is recorded beside the old one.
    state.salt_by_model = {}
    project.run(*args).assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    first = json.loads(text)["calls"][0]
    assert first["fingerprint"] == "fp_new_backend"
    assert [e["fingerprint"] for e in first["earlier"]] == ["fp_loopback_1"]


FALLBACK = """
import httpx
import openai

def summarise(client, text):
    # An app with a graceful fallback, as many have.
    try:
        r = client.with_options(max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": text}]
        )
        return r.choices[0].message.content
    except openai.APIError:
        return "(summary unavailable)"

def weather():
    try:
        return httpx.get(WEATHER, timeout=2).json()
    except httpx.HTTPError:
        return {"celsius": None}

def test_summary(seeded_llm):
    assert summarise(seeded_llm, f"summarise {weather()}")
"""


@pytest.mark.parametrize("outage", ["provider answers 500", "tool service refuses"])
def test_a_rerecord_during_an_outage_keeps_the_snapshot(project: Project, outage: str) -> None:
    # redteam 12: the code under test handled the failure, the test passed, and the snapshot
    # was rewritten without the call: every replay failed from then on.
    weather = f"{project.server.url.removesuffix('/v1')}/tool/weather?city=oslo"
    project.pytester.makepyfile(test_it=FALLBACK.replace("WEATHER", repr(weather)))
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    before = project.snapshots()
    assert len(json.loads(next(iter(before.values())))["calls"]) == 2
    if outage == "provider answers 500":
        project.server.state.fail_with = [500]
        said = "POST /v1/chat/completions: HTTP 500"
    else:
        dead = "http://127.0.0.1:9/tool/weather?city=oslo"  # the discard port: nothing listens
        project.pytester.makepyfile(test_it=FALLBACK.replace("WEATHER", repr(dead)))
        said = "GET http://127.0.0.1:9/tool/weather?city=oslo: ConnectError"
    result = project.run("--llm-mode=record")
    # Known only at teardown, when the test has passed: its teardown fails.
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*was not recorded: 1 request got no answer*", f"*{said}*", "*was kept as it was*"]
    )
    assert project.snapshots() == before
    if outage == "provider answers 500":
        project.offline()
        project.run().assert_outcomes(passed=1)  # the kept recording still replays


def test_snapshot_update_keeps_the_files_of_tests_it_could_not_collect(project: Project) -> None:
    # redteam 10: a module that skips itself at collection (importorskip, a module-level skip)
    # or defines a test only on some machines made --snapshot-update delete their recordings.
    call = 'seeded_llm.chat.completions.create(model="m", messages=[{{"role": "user", "content": "{}"}}])'
    project.pytester.makepyfile(
        test_main=f"def test_main(seeded_llm):\n    {call.format('a')}\n",
        test_optional=(
            "import pytest\npytest.importorskip('optional_dep')\n\n"
            f"def test_optional(seeded_llm):\n    {call.format('b')}\n"
        ),
        test_gpu=(
            "import os, pytest\nif not os.environ.get('HAVE_GPU'):\n"
            "    pytest.skip('needs a GPU', allow_module_level=True)\n\n"
            f"def test_gpu(seeded_llm):\n    {call.format('c')}\n"
        ),
        test_platform=(
            "import os\n\ndef test_everywhere(seeded_llm):\n"
            f"    {call.format('d')}\n\n"
            "if os.environ.get('HAVE_GPU'):\n"
            f"    def test_on_gpu(seeded_llm):\n        {call.format('e')}\n"
        ),
        test_renamed=f"def test_old_name(seeded_llm):\n    {call.format('f')}\n",
    )
    project.pytester.makepyfile(optional_dep="")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HAVE_GPU", "1")
        project.run("--llm-mode=record").assert_outcomes(passed=6)
    recorded = set(project.snapshots())
    assert len(recorded) == 6
    (project.pytester.path / "optional_dep.py").unlink()
    # The one test that is really gone: renamed.
    project.pytester.makepyfile(
        test_renamed=f"def test_new_name(seeded_llm):\n    {call.format('f')}\n"
    )
    result = project.run("--snapshot-update")
    result.assert_outcomes(passed=3, skipped=2)
    gone = "__llm_snapshots__/test_renamed/test_old_name[seed=42].seeded.jsonc"
    assert set(project.snapshots()) == (recorded - {gone}) | {
        "__llm_snapshots__/test_renamed/test_new_name[seed=42].seeded.jsonc"
    }


def test_a_killed_write_s_temporary_file_goes_on_the_next_run_that_reads_its_folder(
    project: Project,
) -> None:
    # A run killed mid-write leaves ".<name>.<random>.tmp"; it was removed only when that same
    # snapshot was written again, so a replayed (unchanged) test kept it forever.
    import os

    project.pytester.makepyfile(test_it=TWO_MODELS)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (name,) = project.snapshots()
    folder = project.pytester.path / name.rsplit("/", 1)[0]
    stale = folder / f".{name.rsplit('/', 1)[1]}.k1ll3d.tmp"
    fresh = folder / f".{name.rsplit('/', 1)[1]}.wr1t1ng.tmp"  # another process's write
    stale.write_text("{half a file")
    fresh.write_text("{being written")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    project.offline()
    project.run().assert_outcomes(passed=1)
    assert not stale.exists()
    assert fresh.exists()


def test_syrupy_never_deletes_the_plugin_s_files_even_without_the_plugin(project: Project) -> None:
    # redteam 11: with the plugin disabled (-p no:seeded) or not installed, syrupy's
    # --snapshot-update deleted every recording beside a syrupy test of its own.
    project.pytester.makepyfile(
        test_it=TWO_MODELS,
        test_amber="def test_amber(snapshot):\n    assert {'plain': 'syrupy'} == snapshot\n",
    )
    project.run("--snapshot-update").assert_outcomes(passed=2)  # records both kinds
    recordings = project.snapshots()
    assert len(recordings) == 1
    # Without the plugin its ini options are unknown: an ini of syrupy's alone.
    project.pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    result = project.run("-p", "no:seeded", "--snapshot-update", "-k", "amber")
    result.assert_outcomes(passed=1, deselected=1)
    result = project.run("-p", "no:seeded", "--snapshot-update", "-k", "amber or it")
    assert project.snapshots() == recordings


def test_a_file_in_the_folder_earlier_versions_used_replays_and_moves_when_recorded(
    project: Project,
) -> None:
    project.pytester.makepyfile(test_it=TWO_MODELS)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    ((name, text),) = project.snapshots().items()
    root = project.pytester.path
    old = root / name.replace("__llm_snapshots__", "__snapshots__")
    old.parent.mkdir(parents=True)
    (root / name).rename(old)
    project.offline()
    project.run().assert_outcomes(passed=1)  # read where it was
    assert old.read_text(encoding="utf-8") == text
    project.base_url = project.server.url
    project.write_ini()
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert not old.exists()
    assert project.snapshots() == {name: text}  # moved, byte for byte
