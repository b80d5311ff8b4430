"""The run's report: a terminal summary (calls, fingerprint changes, determinism, tokens) and
the same as JSON for dashboards (--llm-report)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_seeded.determinism import suite_agreement
from pytest_seeded.session import SeededSession

REPORT_VERSION = 1

LABELS = (
    ("recorded", "recorded"),
    ("replayed", "replayed"),
    ("matched", "matched live"),
    ("mismatched", "mismatched live"),
    ("drifted", "skipped for fingerprint drift"),
    ("rerecorded", "re-recorded after fingerprint drift"),
    ("missing", "missing from snapshots"),
    ("unreadable", "unreadable snapshot file(s)"),
    ("http_recorded", "other HTTP recorded"),
    ("http_replayed", "other HTTP replayed"),
)
FILE_LABELS = (
    ("file_new", "new"),
    ("file_changed", "changed"),
    ("file_unchanged", "unchanged"),
    ("file_replayed", "replayed"),
)


def summary_lines(session: SeededSession) -> list[str]:
    settings = session.settings
    seeds = ",".join(str(s) for s in settings.seeds)
    counts = ", ".join(
        f"{session.totals[name]} {label}" for name, label in LABELS if session.totals[name]
    )
    drifted = session.totals["drifted"]
    if drifted and settings.on_drift != "skip":
        counts = counts.replace("skipped for fingerprint drift", f"{settings.on_drift} on drift")
    lines = [
        f"mode {settings.mode}, seed {seeds}; {session.tests} tests used the LLM fixtures",
        f"calls: {counts or 'none'}",
    ]
    if session.compared:
        per_api = ", ".join(f"{api} {n}" for api, n in sorted(session.compared.items()))
        lines.append(f"compared live, by API: {per_api}")
    lines += _file_lines(session)
    for (what, old, new), tests in session.drifts.items():
        lines.append(f"{what} changed {old!r} -> {new!r} in {len(tests)} test(s):")
        lines += [f"  {nodeid}" for nodeid in tests]
    if session.drifts:
        lines.append("re-record the affected tests with --llm-mode=record")
    lines += _determinism_lines(session)
    if session.report_error:
        lines.append(f"ERROR: {session.report_error}")
    lines += _token_lines(session)
    return lines


def _file_lines(session: SeededSession) -> list[str]:
    """What happened to the snapshot files, in plain words: written (new or changed), left
    byte for byte (unchanged), replayed, deleted."""
    files = [
        f"{session.totals[name]} {label}" for name, label in FILE_LABELS if session.totals[name]
    ]
    if session.deleted:
        files.append(f"{len(session.deleted)} deleted (no collected test owns them)")
    lines = [f"snapshot files: {', '.join(files)}"] if files else []
    for path in session.deleted:
        lines.append(f"  deleted {path}")
    for nodeid, why in sorted(session.recorded_because.items()):
        lines.append(f"recorded {nodeid}: {'; '.join(why)}")
    if session.kept_orphans and session.held_back:
        lines.append(
            f"{len(session.kept_orphans)} snapshot file(s) that no collected test owns were kept, "
            f"not deleted: {'; '.join(session.held_back)}. A complete run of the whole suite "
            "with --snapshot-update deletes them."
        )
    return lines


def _determinism_lines(session: SeededSession) -> list[str]:
    if not session.determinism:
        return []
    rate, responses = suite_agreement(session.determinism)
    lines = [
        f"determinism (each call made {session.settings.repeat} times with its seed): "
        f"{rate:.1%} of {responses} answers agree with their call's majority"
    ]
    for m in session.determinism:
        where = (
            ""
            if m["divergence_char"] is None
            else f", first divergence at char {m['divergence_char']}, token {m['divergence_token']}"
        )
        lines.append(
            f"  {m['nodeid']} call #{m['call']} fingerprint {m['fingerprint']!r}: "
            f"{m['distinct']} distinct of {m['responses']}, agreement {m['agreement']:.0%}{where}"
        )
    return lines


def _token_lines(session: SeededSession) -> list[str]:
    lines = []
    for label, counter in (
        ("spent", session.tokens_spent),
        ("saved by replay", session.tokens_saved),
    ):
        if counter:
            per_model = ", ".join(f"{model} {n:,}" for model, n in sorted(counter.items()))
            lines.append(f"tokens {label}: {sum(counter.values()):,} ({per_model})")
    return lines


def json_report(session: SeededSession) -> dict[str, Any]:
    settings = session.settings
    rate, responses = suite_agreement(session.determinism)
    return {
        "report_version": REPORT_VERSION,
        "mode": settings.mode,
        "seeds": list(settings.seeds),
        "compare": str(settings.compare),
        "on_drift": settings.on_drift,
        "repeat": settings.repeat,
        "tests": session.tests,
        "calls": {name: session.totals[name] for name, _ in LABELS},
        "files": {
            **{label: session.totals[name] for name, label in FILE_LABELS},
            "deleted": session.deleted,
        },
        "compared": dict(session.compared),
        "recorded_because": session.recorded_because,
        "fingerprint_changes": [
            {"what": what, "old": old, "new": new, "tests": tests}
            for (what, old, new), tests in session.drifts.items()
        ],
        "determinism": {
            "agreement": rate,
            "responses": responses,
            "calls": session.determinism,
        },
        "tokens": {"spent": dict(session.tokens_spent), "saved": dict(session.tokens_saved)},
    }


def write_reports(session: SeededSession, config: pytest.Config) -> None:
    """The reports the run asked for (--llm-report, --llm-report-html), and the CI job's
    summary where GitHub Actions gives one (GITHUB_STEP_SUMMARY). A report that cannot be
    written is said in the terminal summary, never a traceback."""
    from pytest_seeded.extension import write_atomically
    from pytest_seeded.report_html import html_report

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
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and session.tests:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(markdown_summary(session))
        except OSError as exc:
            errors.append(f"could not append to GITHUB_STEP_SUMMARY ({summary}): {exc}")
    session.report_error = "; ".join(errors) or None


def markdown_summary(session: SeededSession) -> str:
    """A short Markdown summary for a CI job's page: counts, what was compared, drift,
    agreement, tokens, and the calls that failed."""
    settings = session.settings
    lines = [
        "## pytest-seeded",
        "",
        f"mode **{settings.mode}**, seed {', '.join(map(str, settings.seeds))}; "
        f"{session.tests} tests used the LLM fixtures",
        "",
        "| calls | count |",
        "|---|---:|",
    ]
    lines += [
        f"| {label} | {session.totals[name]} |" for name, label in LABELS if session.totals[name]
    ]
    if session.compared:
        per_api = ", ".join(f"`{api}` {n}" for api, n in sorted(session.compared.items()))
        lines += ["", f"compared live, by API: {per_api}"]
    if session.drifts:
        lines += ["", "| what changed | recorded | live | tests |", "|---|---|---|---:|"]
        lines += [
            f"| {what} | `{old}` | `{new}` | {len(tests)} |"
            for (what, old, new), tests in session.drifts.items()
        ]
    rate, responses = suite_agreement(session.determinism)
    if rate is not None:
        lines += ["", f"agreement: **{rate:.1%}** of {responses} answers"]
    for label, counter in (
        ("spent", session.tokens_spent),
        ("saved by replay", session.tokens_saved),
    ):
        if counter:
            lines += ["", f"tokens {label}: {sum(counter.values()):,}"]
    failing = [
        (row["nodeid"], call)
        for row in session.rows
        for call in row["calls"]
        if call.get("verdict") in ("mismatched", "missing")
        or str(call.get("verdict", "")).startswith("drift (fail")
    ]
    if failing:
        lines += ["", "### Failing calls", ""]
        lines += [
            f"- `{nodeid}` call #{call.get('call')} ({call.get('api')}): {call.get('verdict')}"
            + (f" — {_md(str(call['why']))}" if call.get("why") else "")
            for nodeid, call in failing[:50]
        ]
        if len(failing) > 50:
            lines.append(f"- … and {len(failing) - 50} more")
    return "\n".join(lines) + "\n\n"


def _md(text: str) -> str:
    """Plain text safe inside one Markdown list item."""
    return text.replace("|", "\\|").replace("`", "'").replace("<", "&lt;")
