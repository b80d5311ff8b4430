"""Sharded runs, one report: ``python -m pytest_seeded merge-reports SHARD.json ... --json
OUT.json --html OUT.html`` joins the ``--llm-report`` files of a run split over machines (CI
shards, pytest-split, several xdist hosts) into one report of the same schema: counts summed,
lists joined, and one HTML page and one CI step summary from them.

Each shard's report is rebuilt as the session it came from and added test by test, the way a
run adds its tests: so a merged report says what one run of all the shards would have said.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pytest_seeded.compare import parse_policy
from pytest_seeded.report.html import html_report
from pytest_seeded.report.json_report import REPORT_VERSION, json_report
from pytest_seeded.report.labels import FILE_LABELS, LABELS
from pytest_seeded.report.markdown import markdown_summary
from pytest_seeded.session import SeededSession
from pytest_seeded.settings import RunSettings
from pytest_seeded.storage.naming import SNAPSHOT_SUFFIX


class MergeError(Exception):
    """A shard's report that cannot be joined: says which file and why."""


def _read(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise MergeError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(doc, dict) or doc.get("report_version") != REPORT_VERSION:
        raise MergeError(
            f"{path}: not a pytest-seeded --llm-report file of report_version {REPORT_VERSION}"
        )
    if "rows" not in doc:
        raise MergeError(
            f"{path}: written by an older pytest-seeded, without its tests' rows; re-run that "
            "shard with this version"
        )
    return doc


def merge(paths: list[str]) -> SeededSession:
    """The shards' reports as one run's session."""
    docs = [_read(path) for path in paths]
    if not docs:
        raise MergeError("no shard report given")
    first = docs[0]
    for path, doc in zip(paths, docs, strict=True):
        if doc["mode"] != first["mode"]:
            raise MergeError(
                f"{path}: mode {doc['mode']!r}, but {paths[0]} is {first['mode']!r}: shards of "
                "one run share a mode"
            )
    seeds = sorted({seed for doc in docs for seed in doc["seeds"]})
    settings = RunSettings(
        mode=first["mode"],
        mode_source="merged shards",
        seeds=tuple(seeds),
        seed_source="merged shards",
        base_url=None,
        compare=parse_policy(str(first["compare"])),
        on_drift=str(first["on_drift"]),
        repeat=int(first.get("repeat", 1)),
    )
    session = SeededSession(settings=settings)
    for doc in docs:
        _add(session, doc)
    # An orphan is a file no shard's collection owns: one every shard lists. A shard that did
    # not see a folder (shards split by path) lists none of it, so nothing of it is pruned.
    lists = [set(doc["files"].get("orphans", [])) for doc in docs]
    session.kept_orphans = sorted(set.intersection(*lists))
    return session


def prune(orphans: list[str]) -> list[str]:
    """Delete the merged orphans (paths relative to the current folder, the repository's
    root); only snapshot files, only those still there."""
    deleted = []
    for path in orphans:
        if path.endswith(SNAPSHOT_SUFFIX) and os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)
            deleted.append(path)
    return deleted


def _add(session: SeededSession, doc: dict[str, Any]) -> None:
    session.tests += int(doc["tests"])
    session.rows += doc["rows"]
    for name, _ in LABELS:
        session.totals[name] += int(doc["calls"].get(name, 0))
    for name, label in FILE_LABELS:
        session.totals[name] += int(doc["files"].get(label, 0))
    session.deleted += doc["files"].get("deleted", [])
    session.compared.update(doc.get("compared", {}))
    session.recorded_because.update(doc.get("recorded_because", {}))
    for change in doc.get("fingerprint_changes", []):
        key = (change["what"], change["old"], change["new"])
        tests = session.drifts.setdefault(key, [])
        tests[:] = sorted({*tests, *change["tests"]})
    session.determinism += doc.get("determinism", {}).get("calls", [])
    session.tokens_spent.update(doc.get("tokens", {}).get("spent", {}))
    session.tokens_saved.update(doc.get("tokens", {}).get("saved", {}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_seeded merge-reports",
        description="Join the --llm-report files of a sharded run into one report.",
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD.json")
    parser.add_argument("--json", metavar="OUT.json", help="the merged JSON report")
    parser.add_argument("--html", metavar="OUT.html", help="the merged HTML page")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete the snapshot files every shard found no test for (run from the rootdir)",
    )
    args = parser.parse_args(argv)
    try:
        session = merge(args.shards)
    except MergeError as exc:
        print(f"pytest-seeded merge-reports: {exc}", file=sys.stderr)
        return 2
    for path in session.kept_orphans:
        print(f"orphan (no shard's tests own it): {path}")
    if args.prune:
        session.deleted = prune(session.kept_orphans)
        session.kept_orphans = [p for p in session.kept_orphans if p not in session.deleted]
        for path in session.deleted:
            print(f"deleted {path}")
    if args.json:
        Path(args.json).write_text(json.dumps(json_report(session), indent=2) + "\n")
    if args.html:
        Path(args.html).write_text(html_report(session).rstrip() + "\n", encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(markdown_summary(session))
    calls = ", ".join(f"{session.totals[n]} {label}" for n, label in LABELS if session.totals[n])
    shards = len(args.shards)
    print(f"pytest-seeded: {shards} shard(s), {session.tests} tests; calls: {calls or 'none'}")
    return 0
