"""Under pytest-xdist the workers' counts must reach the controller's report, and every snapshot
must be written and kept, --snapshot-update included."""

from __future__ import annotations

from conftest import Project

MANY = "\n".join(
    f"""
def test_{n}(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="m", messages=[{{"role": "user", "content": "prompt {n}"}}]
    )
    assert r.choices[0].message.content
"""
    for n in range(8)
)


def test_record_replay_and_live_with_two_workers(project: Project) -> None:
    project.pytester.makepyfile(test_many=MANY)
    recorded = project.run_subprocess("-n", "2", "--llm-mode=record")
    recorded.assert_outcomes(passed=8)
    recorded.stdout.fnmatch_lines(["*calls: 8 recorded*"])
    files = project.snapshots()
    assert len(files) == 8

    updated = project.run_subprocess("-n", "2", "--snapshot-update")
    updated.assert_outcomes(passed=8)
    assert project.snapshots() == files

    project.server.state.fingerprint = "fp_loopback_2"
    live = project.run_subprocess("-n", "2", "--llm-mode=live")
    live.assert_outcomes(skipped=8)
    live.stdout.fnmatch_lines(
        [
            "*calls: 8 skipped for drift*",
            "system_fingerprint changed 'fp_loopback_1' -> 'fp_loopback_2' in 8 test(s):",
        ]
    )

    project.offline()
    replayed = project.run_subprocess("-n", "2")
    replayed.assert_outcomes(passed=8)
    replayed.stdout.fnmatch_lines(["*8 tests used the LLM fixtures*", "*calls: 8 replayed*"])
    assert project.snapshots() == files
