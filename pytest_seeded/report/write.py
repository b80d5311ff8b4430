"""Writes the reports a run asked for, at its end, on the controller (or a run without
pytest-xdist). A report that cannot be written is said in the terminal summary, never a
traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_seeded.report.html import html_report
from pytest_seeded.report.json_report import json_report
from pytest_seeded.report.markdown import markdown_summary
from pytest_seeded.session import SeededSession
from pytest_seeded.storage.extension import write_atomically


def write_reports(session: SeededSession, config: pytest.Config) -> None:
    """The reports the run asked for (--llm-report, --llm-report-html), and the CI job's
    summary where GitHub Actions gives one (GITHUB_STEP_SUMMARY). A report that cannot be
    written is said in the terminal summary, never a traceback."""
    settings = session.settings
    errors = []
    reports: list[tuple[str, str | None, Callable[[], str]]] = [
        ("--llm-report", settings.report_path, lambda: json.dumps(json_report(session), indent=2)),
        ("--llm-report-html", settings.html_path, lambda: html_report(session)),
    ]
    for option, value, render in reports:
        if value is None:
            continue
        try:
            write_atomically(Path(config.invocation_params.dir, value), render().rstrip() + "\n")
        except OSError as exc:  # the folder went away, or filled up, during the run
            errors.append(f"could not write {option}={value}: {exc.strerror or exc}")
        except Exception as exc:  # a report is never worth the run's summary
            errors.append(f"could not write {option}={value}: {type(exc).__name__}: {exc}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and session.tests:
        try:
            text = markdown_summary(session)
            with open(summary, "a", encoding="utf-8", errors="backslashreplace") as f:
                f.write(text)
        except Exception as exc:
            errors.append(
                f"could not append to GITHUB_STEP_SUMMARY ({summary}): {type(exc).__name__}: {exc}"
            )
    session.report_error = "; ".join(errors) or None
