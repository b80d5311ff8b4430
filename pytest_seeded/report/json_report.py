"""The run's report as JSON, for dashboards (--llm-report)."""

from __future__ import annotations

import os
from typing import Any

from pytest_seeded.determinism import suite_agreement
from pytest_seeded.report.labels import FILE_LABELS, LABELS
from pytest_seeded.session import SeededSession

REPORT_VERSION = 1


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
            # Files no collected test owns, kept (no --snapshot-update, or a partial run):
            # merge-reports prunes those every shard agrees on.
            "orphans": [os.path.relpath(p, session.root or None) for p in session.kept_orphans],
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
        # One row per test (its outcome and calls): what the HTML page lists, and what
        # merge-reports joins across shards (report/merge.py).
        "rows": session.rows,
    }
