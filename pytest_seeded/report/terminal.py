"""The run's terminal summary: calls, snapshot files, fingerprint changes, determinism,
tokens."""

from __future__ import annotations

from pytest_seeded.determinism import suite_agreement
from pytest_seeded.report.labels import FILE_LABELS, count_labels, plain
from pytest_seeded.session import SeededSession


def summary_lines(session: SeededSession) -> list[str]:
    settings = session.settings
    seeds = ",".join(str(s) for s in settings.seeds)
    counts = ", ".join(
        f"{session.totals[name]} {label}"
        for name, label in count_labels(settings.on_drift)
        if session.totals[name]
    )
    lines = [
        f"mode {settings.mode}, seed {seeds}; {session.tests} tests used the LLM fixtures",
        f"calls: {counts or 'none'}",
    ]
    if session.compared:
        per_api = ", ".join(f"{api} {n}" for api, n in sorted(session.compared.items()))
        lines.append(f"compared live, by API: {per_api}")
    lines += _file_lines(session)
    for (what, old, new), tests in session.drifts.items():
        lines.append(f"{plain(what)} changed {old!r} -> {new!r} in {len(tests)} test(s):")
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
        unseeded = " (unseeded: its API takes no seed)" if m.get("unseeded") else ""
        lines.append(
            f"  {m['nodeid']} call #{m['call']} served by {m['fingerprint']!r}{unseeded}: "
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
            per_model = ", ".join(f"{plain(model)} {n:,}" for model, n in sorted(counter.items()))
            lines.append(f"tokens {label}: {sum(counter.values()):,} ({per_model})")
    return lines
