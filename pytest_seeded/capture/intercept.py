"""The one place that enters every capture adapter for a test, and undoes them after it."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from typing import TYPE_CHECKING

from pytest_seeded.capture.routing import route

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls
    from pytest_seeded.capture.contract import Adapter

# In the order they are entered. Looked up in sys.modules by name, not kept as module objects:
# pytester's in-process runs drop the modules a run imported, and a kept one would be another
# run's copy, routing to another run's test.
# Each with the library it needs installed, if any.
ADAPTERS = (
    ("pytest_seeded.capture.httpx2_seam", None),
    ("pytest_seeded.capture.httpx_seam", "httpx"),
    ("pytest_seeded.capture.vcr_clients", "vcr"),
    ("pytest_seeded.capture.caches", None),
    ("pytest_seeded.capture.credentials", None),
    ("pytest_seeded.capture.guard", None),
)
_installed: dict[str, bool] = {}


def _has(library: str | None) -> bool:
    if library is None:
        return True
    if library not in _installed:
        _installed[library] = importlib.util.find_spec(library) is not None
    return _installed[library]


def intercept(calls: TestCalls) -> contextlib.ExitStack:
    """Route everything the test may send to its calls, for as long as it runs; closing the
    stack undoes it all, and a step that fails undoes the ones before it."""
    stack = contextlib.ExitStack()
    try:
        stack.callback(route(calls))
        for name, library in ADAPTERS:
            if not _has(library):
                continue
            adapter: Adapter = importlib.import_module(name).ADAPTER
            if adapter.applies(calls):
                stack.callback(adapter.enter(calls))
    except BaseException:
        stack.close()
        raise
    return stack
