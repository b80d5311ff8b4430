"""The run's summary in Markdown, for a CI job's page (GitHub Actions' GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from pytest_seeded.determinism import suite_agreement
from pytest_seeded.report.labels import count_labels, plain
from pytest_seeded.session import SeededSession


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
        f"| {label} | {session.totals[name]} |"
        for name, label in count_labels(settings.on_drift)
        if session.totals[name]
    ]
    if session.compared:
        per_api = ", ".join(f"`{api}` {n}" for api, n in sorted(session.compared.items()))
        lines += ["", f"compared live, by API: {per_api}"]
    if session.drifts:
        lines += ["", "| what changed | recorded | live | tests |", "|---|---|---|---:|"]
        lines += [
            f"| {_md(what)} | {_code(old)} | {_code(new)} | {len(tests)} |"
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
            f"- {_code(nodeid)} call #{call.get('call')} ({_md(str(call.get('api')))}): "
            f"{_md(str(call.get('verdict')))}"
            + (f" — {_md(str(call['why']))}" if call.get("why") else "")
            for nodeid, call in failing[:50]
        ]
        if len(failing) > 50:
            lines.append(f"- … and {len(failing) - 50} more")
    return "\n".join(lines) + "\n\n"


def _md(text: str) -> str:
    """Plain text safe inside one Markdown table cell or list item: one line, no markup."""
    text = plain(text)
    for char in "\\`*_[]<>!|#":
        text = text.replace(char, "\\" + char)
    return text


def _code(value: object) -> str:
    """A value from the run as inline code in a table cell: one line, no backtick to end it."""
    text = plain(value).replace("`", "'").replace("|", "\\|")
    return f"`{text}`"
