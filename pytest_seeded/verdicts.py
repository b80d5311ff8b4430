"""Where a test's outcome is decided: the call path records verdicts (a missing or changed
recording, a live difference, fingerprint drift, low agreement, a cut stream) and this module
turns them into the test's report.

A verdict raised inside an HTTP call can be swallowed: langchain turned a ``pytest.fail`` into
``AttributeError: 'Failed' object has no attribute 'generations'``, litellm wraps errors into
its own, and a test that expects an API error would pass. So the call only records; a call
that has no answer gets an HTTP 400 error (the SDK gives up at once, without retrying), and
the verdict becomes the test's outcome when pytest reports it, whatever the code did in
between.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from pytest_seeded.modes import Outcome

# When several verdicts were recorded, the strongest is reported.
_STRENGTH = {"failed": 2, "xfailed": 1, "skipped": 0}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str


def strongest(verdicts: list[Verdict]) -> Verdict | None:
    """The verdict to report: the first failure, else the first xfail, else the first skip."""
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: _STRENGTH[v.outcome])  # max keeps the first of equals


def refusal_body(message: str) -> bytes:
    """The body of the HTTP 400 a call gets when the plugin has no answer for it: an error in
    the shape OpenAI-compatible SDKs read, so they raise at once and do not retry."""
    error = {"message": message, "type": "pytest_seeded", "code": "pytest_seeded"}
    return json.dumps({"error": error}).encode()


def apply(report: pytest.TestReport, item: pytest.Item, verdict: Verdict) -> None:
    """Make the call phase's report say the verdict, in place of what the test body did."""
    if verdict.outcome == "failed":
        message = verdict.message
        if report.failed and report.longrepr is not None:
            crash = getattr(report.longrepr, "reprcrash", None)
            raised = crash.message if crash is not None else str(report.longrepr)
            # Not when what the test raised is the plugin's own refusal, said once already.
            if "pytest-seeded:" not in raised:
                message += f"\n\n(The test itself then failed with: {raised.splitlines()[0]})"
        report.outcome = "failed"
        report.longrepr = message
        return
    report.outcome = "skipped"
    if verdict.outcome == "xfailed":
        report.wasxfail = verdict.message
        report.longrepr = None
        return
    path, lineno, _ = item.reportinfo()
    report.longrepr = (str(path), (lineno or 0) + 1, f"Skipped: {verdict.message}")
