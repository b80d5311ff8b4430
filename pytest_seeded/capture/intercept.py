"""The one place that patches every client library, once for the run, and that opens and closes
each test's window: what the test's thread, its fixtures and what they start send, between the
first fixture's setup and the last one's teardown, goes to the test (routing.py)."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# Not ``from pytest_seeded.capture import routing``: that reads the package's attribute, which
# can be another in-process run's module.
from pytest_seeded.capture.probes import forget_all as forget_probes
from pytest_seeded.capture.routing import install as install_routing
from pytest_seeded.capture.routing import own

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls
    from pytest_seeded.capture.contract import Adapter, TestScoped

# Each with the library it needs installed, if any; looked up by name when the run installs
# them (pytester's in-process runs drop the modules a run imported: a module object kept from
# another run would route to another run's tests).
ADAPTERS = (
    ("pytest_seeded.capture.httpx2_seam", None),
    ("pytest_seeded.capture.httpx_seam", "httpx"),
    ("pytest_seeded.capture.urllib3_seam", "urllib3"),
    ("pytest_seeded.capture.urllib_seam", None),
    ("pytest_seeded.capture.aiohttp_seam", "aiohttp"),
    ("pytest_seeded.capture.guard", None),
)
# What changes for one test only, entered in this order.
TEST_SCOPED = (
    ("pytest_seeded.capture.caches", "ENVIRONMENT"),
    ("pytest_seeded.capture.credentials", "ENVIRONMENT"),
    ("pytest_seeded.capture.guard", "ENVIRONMENT"),
)


@functools.cache
def _test_scoped() -> tuple[TestScoped, ...]:
    # Looked up once: every replayed test opens a window.
    return tuple(getattr(importlib.import_module(name), attr) for name, attr in TEST_SCOPED)


def install() -> contextlib.ExitStack:
    """Patch every client library for the run: one imported already at once, one imported
    later as soon as it is (importing aiohttp to patch it cost a replayed run 0.3 s that most
    runs need not pay). Closing the stack undoes it all."""
    stack = contextlib.ExitStack()
    # What servers said they serve is asked again each run (capture/probes.py).
    stack.callback(forget_probes)
    try:
        stack.callback(install_routing())
        later = _AfterImport(stack)
        for name, library in ADAPTERS:
            if library is None or library in sys.modules:
                later.install(name)
            elif importlib.util.find_spec(library) is not None:
                later.pending[library] = name
        if later.pending:
            sys.meta_path.insert(0, later)
            stack.callback(later.remove)
    except BaseException:
        stack.close()
        raise
    return stack


class _AfterImport(importlib.abc.MetaPathFinder):
    """Installs an adapter right after its library's first import (before the code that
    imported it gets it back)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.pending: dict[str, str] = {}

    def install(self, name: str) -> None:
        adapter: Adapter = importlib.import_module(name).ADAPTER
        self.stack.callback(adapter.install())

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _ThenInstall(spec.loader, lambda: self._imported(fullname))
                return spec
        return None

    def _imported(self, library: str) -> None:
        name = self.pending.pop(library, None)
        if name is not None:
            self.install(name)


class _ThenInstall(importlib.abc.Loader):
    def __init__(self, loader: Any, then: Callable[[], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        self._then()

    def __getattr__(self, name: str) -> Any:  # get_data, is_package, ... for importlib
        return getattr(self._loader, name)


def window(calls: TestCalls) -> contextlib.ExitStack:
    """The test's window: what its thread does goes to it until the stack is closed, and the
    environment is set for it; a step that fails undoes the ones before it."""
    stack = contextlib.ExitStack()
    try:
        stack.callback(own(calls))
        for scoped in _test_scoped():
            if scoped.applies(calls):
                stack.callback(scoped.enter(calls))
    except BaseException:
        stack.close()
        raise
    return stack
