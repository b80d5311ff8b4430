"""When a snapshot file may be deleted: only when its test is gone.

syrupy deletes, under ``--snapshot-update``, every snapshot it did not see asserted in the run.
For recordings that is wrong in many ordinary runs (a ``-k`` subset, ``-x``, another seed, a
setup error, a crashed worker), and a recording can be paid for or impossible to make again.
So the plugin decides two things syrupy cannot:

- **ownership**: a file belongs to a test if any collected test (deselected ones too) has its
  name, under any seed or naming; such files are hidden from syrupy's unused-snapshot
  discovery, so syrupy never reports or deletes them;
- **completeness**: syrupy may delete the remaining (orphaned) files only after a run that
  collected without error, selected every test, and ran every one of them to the end; any
  other run sets syrupy's own ``--snapshot-no-cleanup`` and says why.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from typing import Any

import pytest

from pytest_seeded.storage.naming import (
    SNAPSHOT_SUFFIX,
    base_name,
    matrix_seed,
    owner_key,
    owner_keys,
    snapshot_folder,
)


class Ownership:
    """Which snapshot folders and names the collected tests own."""

    def __init__(self, items: Iterable[pytest.Item], unknown_modules: Iterable[str]) -> None:
        self._keys: dict[str, set[str]] = {}
        # The test functions collected in each folder, whatever their parameters.
        self._functions: dict[str, set[str]] = {}
        # (folder, base name) -> the first test that has it, and (with a seed matrix's seed)
        # -> the first test of that seed, to find two tests on one file.
        self._first: dict[tuple[str, str], str] = {}
        seen: dict[tuple[str, str, int | None], str] = {}
        self.collisions: dict[str, str] = {}
        for item in items:
            if not isinstance(item, pytest.Function):
                continue
            folder = snapshot_folder(str(item.path))
            keys = owner_keys(item)
            self._keys.setdefault(folder, set()).update(keys)
            self._functions.setdefault(folder, set()).update(map(_function_of, keys))
            base = base_name(item)
            self._first.setdefault((folder, base), item.nodeid)
            other = seen.setdefault((folder, base, matrix_seed(item)), item.nodeid)
            if other != item.nodeid:
                self.collisions[item.nodeid] = other
                self.collisions.setdefault(other, item.nodeid)
        # A module that failed to collect, or skipped itself at collection (importorskip,
        # pytest.skip(allow_module_level=True)), still owns every file in its folder: its tests
        # are unknown, not gone.
        self._whole = {snapshot_folder(path) for path in unknown_modules}

    def current_owner(self, path: str) -> str | None:
        """The collected test whose name, under today's naming, is this file's."""
        folder, name = os.path.split(os.path.normpath(path))
        return self._first.get((folder, owner_key(name.removesuffix(SNAPSHOT_SUFFIX))))

    def owns(self, path: str) -> bool:
        folder, name = os.path.split(os.path.normpath(path))
        if folder in self._whole:
            return True
        key = owner_key(name.removesuffix(SNAPSHOT_SUFFIX))
        if key in self._keys.get(folder, ()):
            return True
        # A test this run did not collect is not gone while its module still defines it (a
        # definition under an if, a platform's test); one whose function was collected under
        # other parameters is.
        function = _function_of(key)
        if function in self._functions.get(folder, ()):
            return False
        return function in _defined_in(_module_of(folder))


def _function_of(key: str) -> str:
    """The test function an owner key names: TestA.test_b[params] -> test_b."""
    return key.split("[", 1)[0].rsplit(".", 1)[-1]


def _module_of(folder: str) -> str:
    """The test module of a snapshot folder: tests/__snapshots__/test_x -> tests/test_x.py."""
    return os.path.join(os.path.dirname(os.path.dirname(folder)), os.path.basename(folder) + ".py")


_DEFINITION = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)", re.MULTILINE)


@functools.lru_cache(maxsize=256)
def _defined_in(module: str) -> frozenset[str]:
    """The names of the functions a module's source defines; none if it is gone."""
    try:
        with open(module, encoding="utf-8", errors="replace") as handle:
            return frozenset(_DEFINITION.findall(handle.read()))
    except OSError:
        return frozenset()


class RunWatch:
    """Watches the run for what makes it incomplete, and holds the collected tests (deselected
    ones included) for ownership. Registered as a plugin; works on pytest-xdist's controller
    (from the reports workers forward) and on a plain run alike."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.items: list[pytest.Item] = []
        self.unknown_modules: list[str] = []
        self.problems: list[str] = []
        self.deselected = 0
        self.expected: int | None = None
        self.finished = 0
        self._ownership: Ownership | None = None
        # Set at session end when deletion was held back: why, for the summary.
        self.held_back: list[str] = []
        # The user listed the files' extension in --snapshot-ignore-file-extensions.
        self.user_ignores_ours = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Before -k, -m and --deselect remove anything: deselected tests still own their files.
        self.items = list(items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed or (report.skipped and report.nodeid):
            path = report.nodeid.split("::", 1)[0]
            self.unknown_modules.append(os.path.join(self.config.rootpath, path))
        if report.failed:
            self.problems.append(f"collecting {report.nodeid or 'the tests'} failed")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not hasattr(self.config, "workerinput"):
            self.expected = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.expected = len(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        if error:
            self.problems.append(f"a pytest-xdist worker went down ({error})")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.finished += 1

    def ownership(self) -> Ownership:
        if self._ownership is None:
            self._ownership = Ownership(self.items, self.unknown_modules)
        return self._ownership

    def incomplete(self, session: pytest.Session, exitstatus: int) -> list[str]:
        """Why this run cannot tell which snapshot files are unused; empty if it can."""
        reasons = list(dict.fromkeys(self.problems))
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            reasons.append(f"the run ended with exit status {int(exitstatus)}")
        option = self.config.option
        if self.deselected or option.keyword or option.markexpr or option.deselect:
            reasons.append("tests were deselected (-k, -m or --deselect)")
        if getattr(option, "lf", False) or getattr(option, "stepwise", False):
            reasons.append("--lf or --sw runs a part of the suite")
        if any("::" in arg for arg in option.file_or_dir or ()):
            reasons.append("test ids (path::name) select a part of a module")
        if session.shouldfail or session.shouldstop:
            reasons.append(f"the run stopped early ({session.shouldfail or session.shouldstop})")
        if self.expected is not None and self.finished < self.expected:
            reasons.append(f"{self.expected - self.finished} selected tests did not run")
        return reasons


WATCH_KEY = pytest.StashKey[RunWatch]()


def orphans_after(config: pytest.Config) -> tuple[list[str], list[str]]:
    """After syrupy's session end: the plugin's orphaned files it deleted, and those it kept
    (a run that could not tell, or no --snapshot-update). Workers report nothing: their
    controller decides."""
    report = getattr(getattr(config, "_syrupy", None), "report", None)
    if report is None or hasattr(config, "workerinput") or report.disable_unused_snapshots:
        return [], []
    try:
        ours = sorted(c.location for c in report.unused if c.location.endswith(SNAPSHOT_SUFFIX))
    except Exception:  # syrupy's report could not be built: it deleted nothing either
        return [], []
    deleted = [p for p in ours if not os.path.exists(p)]
    kept = [p for p in ours if os.path.exists(p)]
    return deleted, kept


def unowned_files(config: pytest.Config) -> list[str]:
    """The snapshot files in the collected tests' folders that no collected test owns
    (deselected ones included): what a complete --snapshot-update run would delete. Listed by
    every shard of a sharded run, which deletes none (merge-reports prunes what all agree on)."""
    watch = config.stash[WATCH_KEY]
    ownership = watch.ownership()
    folders = sorted({snapshot_folder(str(item.path)) for item in watch.items})
    found = []
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if name.endswith(SNAPSHOT_SUFFIX) and not ownership.owns(path):
                found.append(path)
    return found
