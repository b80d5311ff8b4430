"""Which test a request belongs to: the running test's calls, set for as long as it runs. Every
adapter asks here, so a request is routed the same way whichever client sent it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls

# One test runs at a time in a process (pytest-xdist's workers are processes of their own).
_active: TestCalls | None = None


def current() -> TestCalls | None:
    return _active


def route(calls: TestCalls) -> Callable[[], None]:
    """Route every request to this test's calls; the function returned stops it."""
    global _active
    _active = calls

    def stop() -> None:
        global _active
        _active = None

    return stop
