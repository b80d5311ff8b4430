"""Seed matrix, the determinism measure (--llm-repeat), the JSON report and token accounting."""

from __future__ import annotations

import json

from conftest import Project

CHAT = """
def test_chat(seeded_llm, llm_seed):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "matrix"}])
    print(f"SEED:{llm_seed}")
    assert r.choices[0].message.content
"""


def test_seed_matrix_runs_each_test_once_per_seed(project: Project) -> None:
    project.pytester.makepyfile(test_it=CHAT)
    result = project.run("--llm-mode=record", "--llm-seed=1,2,3", "-v")
    result.assert_outcomes(passed=3)
    for seed in (1, 2, 3):  # in whatever order the tests ran (pytest-randomly)
        result.stdout.fnmatch_lines([f"*test_chat[[]seed={seed}[]] PASSED*"])
    assert sorted(project.server.seeds_received()) == [1, 2, 3]
    names = sorted(project.snapshots())
    assert names == [
        f"__llm_snapshots__/test_it/test_chat[seed={n}].seeded.jsonc" for n in (1, 2, 3)
    ]
    outputs = {json.loads(t)["calls"][0]["output"] for t in project.snapshots().values()}
    assert len(outputs) == 3
    project.offline()
    project.run("--llm-seed=1,2,3").assert_outcomes(passed=3)
    # One seed of the matrix alone uses the same file name as in the matrix.
    project.run("--llm-seed=2").assert_outcomes(passed=1)
    missing = project.run("--llm-seed=1,4")
    missing.assert_outcomes(passed=1, failed=1)
    # syrupy keeps the files of seeds that did not run (their tests were not collected).
    project.run("--llm-seed=1,2,3", "--snapshot-update", "--llm-mode=record").assert_outcomes(
        failed=3
    )
    assert sorted(project.snapshots()) == names


def test_marker_seeds(project: Project) -> None:
    project.pytester.makepyfile(
        test_it="import pytest\n\n@pytest.mark.llm(seeds=[5, 6])\n" + CHAT.lstrip()
    )
    result = project.run("--llm-mode=record", "-s")
    result.assert_outcomes(passed=2)
    assert sorted(project.server.seeds_received()) == [5, 6]
    assert "SEED:5" in result.stdout.str()


ALL_FIXTURES = """
import asyncio

def test_all(llm_seed, seeded_async_llm, seeded_calls, seeded_llm):
    # One test's calls, whichever fixture started them: the seed is this run's everywhere,
    # and both clients' calls land in one snapshot.
    assert seeded_calls.seed == llm_seed
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "sync"}])
    asyncio.run(seeded_async_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "async"}]))
    print(f"SEED:{llm_seed}:{seeded_calls.stats.replayed}")
"""


def test_every_llm_fixture_of_a_test_shares_its_calls(project: Project) -> None:
    project.pytester.makepyfile(test_it=ALL_FIXTURES)
    project.run("--llm-mode=record", "--llm-seed=3,4").assert_outcomes(passed=2)
    assert sorted(project.server.seeds_received()) == [3, 3, 4, 4]
    snapshots = project.snapshots()
    assert sorted(snapshots) == [
        f"__llm_snapshots__/test_it/test_all[seed={n}].seeded.jsonc" for n in (3, 4)
    ]
    for text in snapshots.values():
        assert len(json.loads(text)["calls"]) == 2
    project.offline()
    result = project.run("--llm-seed=3,4", "-s")
    result.assert_outcomes(passed=2)
    assert "SEED:3:2" in result.stdout.str()
    assert "SEED:4:2" in result.stdout.str()


REPEAT = """
def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "repeat"}])
    assert r.choices[0].message.content

def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "repeat stream"}],
                                           stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)
"""


def test_repeat_measures_agreement_and_fails_below_the_minimum(project: Project) -> None:
    project.pytester.makepyfile(test_it=REPEAT)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    project.server.state.requests.clear()
    # Every 4th answer ends differently after its third word; the count starts at 1 so that the
    # odd one out is one of the extra answers, and the answer the test sees matches its snapshot.
    project.server.state.completions = 1
    project.server.state.vary_every = 4
    report = project.pytester.path / "report.json"
    result = project.run("--llm-mode=live", "--llm-repeat=4", f"--llm-report={report}")
    result.assert_outcomes(failed=2)
    assert len(project.server.state.requests) == 8
    assert set(project.server.seeds_received()) == {42}
    result.stdout.fnmatch_lines(
        [
            "*agreed with itself in 75% of 4 answers*below --llm-min-agreement 1*first divergence at character*token 3*",
            "*determinism (each call made 4 times with its seed): 75.0% of 8 answers agree*",
            "*test_it.py::test_chat call #1 served by 'fp_loopback_1': 2 distinct of 4, agreement 75%, first divergence at char *, token 3",
        ]
    )
    doc = json.loads(report.read_text())
    assert doc["report_version"] == 1
    assert doc["repeat"] == 4
    assert doc["determinism"]["agreement"] == 0.75
    assert doc["determinism"]["responses"] == 8
    (chat,) = [c for c in doc["determinism"]["calls"] if c["nodeid"].endswith("test_chat")]
    assert chat["distinct"] == 2
    assert chat["divergence_token"] == 3
    assert doc["tokens"]["spent"]["m"] > 0

    project.server.state.completions = 1
    lenient = project.run("--llm-mode=live", "--llm-repeat=4", "--llm-min-agreement=0.7")
    lenient.assert_outcomes(passed=2)


def test_repeat_with_a_deterministic_server_agrees_fully(project: Project) -> None:
    project.pytester.makepyfile(test_it=REPEAT)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    result = project.run("--llm-mode=live", "--llm-repeat=3")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*100.0% of 6 answers agree*", "*1 distinct of 3, agreement 100%"])


def test_repeat_needs_calls_to_the_model(project: Project) -> None:
    result = project.run("--llm-repeat=3")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--llm-repeat measures how deterministic*--llm-mode=live*"])


def test_tokens_spent_and_saved_per_model(project: Project) -> None:
    project.pytester.makepyfile(test_it=REPEAT)
    recorded = project.run("--llm-mode=record")
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(["tokens spent: * (m *)"])
    project.offline()
    replayed = project.run()
    replayed.assert_outcomes(passed=2)
    spent = next(x for x in recorded.stdout.lines if x.startswith("tokens spent"))
    replayed.stdout.fnmatch_lines([spent.replace("tokens spent", "tokens saved by replay")])


def test_report_and_counts_under_xdist(project: Project) -> None:
    project.pytester.makepyfile(test_it=REPEAT)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    report = project.pytester.path / "out" / "report.json"
    result = project.run_subprocess(
        "-n", "2", "--llm-mode=live", "--llm-repeat=2", f"--llm-report={report}"
    )
    result.assert_outcomes(passed=2)
    doc = json.loads(report.read_text())
    assert doc["tests"] == 2
    assert doc["calls"]["matched"] == 2
    assert doc["determinism"]["responses"] == 4


def test_junit_xml_shows_each_count_as_a_plain_property(project: Project) -> None:
    import xml.etree.ElementTree as ET

    project.pytester.makepyfile(
        test_chat="""
        def test_chat(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.offline()
    for args in ([], ["-n", "2"]):
        result = project.run("--junitxml=out.xml", *args)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["calls: 1 replayed", "tokens saved by replay: * (m *)"])
        tree = ET.parse(project.pytester.path / "out.xml")
        properties = {p.get("name"): p.get("value") for p in tree.iter("property")}
        assert properties["pytest_seeded.mode"] == "replay"
        assert properties["pytest_seeded.seed"] == "42"
        assert properties["pytest_seeded.replayed"] == "1"
        assert properties["pytest_seeded.file_replayed"] == "1"
        assert json.loads(properties["pytest_seeded.tokens_saved"] or "{}")["m"] > 0
        # Calls and what served them, as plain values.
        assert properties["pytest_seeded.calls"] == "1"
        assert properties["pytest_seeded.identities"] == "fp_loopback_1 / m"
        assert not any(str(v).startswith("{'") for v in properties.values())
