"""Command-line and ini options: validation, precedence and what the report header says."""

from __future__ import annotations

from conftest import Project


def test_report_header_names_mode_and_seed_and_where_they_came_from(project: Project) -> None:
    project.pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.run()
    result.stdout.fnmatch_lines(
        ["pytest-seeded: mode replay (default), seed 42 (default), compare exact, on drift skip"]
    )
    project.write_ini("llm_mode = live\nllm_seed = 9\n")
    result = project.run()
    result.stdout.fnmatch_lines(["pytest-seeded: mode live (ini llm_mode), seed 9 (ini llm_seed)*"])
    result = project.run("--llm-mode=record", "--llm-seed=-3")
    result.stdout.fnmatch_lines(["pytest-seeded: mode record (--llm-mode), seed -3 (--llm-seed)*"])


def test_a_bad_seed_is_a_usage_error(project: Project) -> None:
    result = project.run("--llm-seed=abc")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*--llm-seed: takes a whole number, like 42, or several*got 'abc'*"]
    )


def test_a_bad_mode_is_a_usage_error(project: Project) -> None:
    result = project.run("--llm-mode=replai")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*--llm-mode*takes one of replay, live, record, record-new; got 'replai'*"]
    )


def test_bad_ini_values_are_usage_errors(project: Project) -> None:
    project.write_ini("llm_mode = sometimes\n")
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*ini option llm_mode takes one of replay, live, record, record-new; got 'sometimes'*"]
    )
    project.write_ini("llm_seed = forty\n")
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*ini option llm_seed takes a whole number*got 'forty'*"])


def test_snapshot_update_conflicts_with_another_mode(project: Project) -> None:
    result = project.run("--snapshot-update", "--llm-mode=replay")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--snapshot-update re-records snapshots, but --llm-mode=replay*"])


def test_a_bad_marker_seed_names_the_test(project: Project) -> None:
    project.pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.llm(seed="seven")
        def test_it(seeded_llm):
            pass
        """
    )
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_marker.py::test_it: @pytest.mark.llm(seed=...) takes a whole number, got 'seven'*"]
    )


def test_help_documents_the_options(project: Project) -> None:
    result = project.run("--help")
    result.stdout.fnmatch_lines(
        ["*pytest-seeded*", "*--llm-mode=MODE*", "*--llm-seed=N*", "*llm_base_url*"]
    )


def test_the_plugin_can_be_disabled(project: Project) -> None:
    # No llm_* ini keys here: with the plugin off, pytest would warn they are unknown.
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    project.pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.run("-p", "no:seeded")
    result.assert_outcomes(passed=1)
    assert "pytest-seeded" not in result.stdout.str()
