"""Which test a request belongs to. Every adapter asks here, so a request is routed the same way
whichever client sent it, from whichever thread or task.

A test owns what the thread that runs it does from its setup's first fixture to its teardown's
last (the window, plugin.py), whatever event loop or context it runs in (pytest-asyncio runs a
test in a context of its own), and what the threads and pool jobs it starts do: a thread
started inside the window carries its test, and a pool's worker runs each job for the test that
submitted it. A request
made for a test that has finished (a thread that outlived it), or by a fixture wider than one
test while a test sets up, is a stray: no snapshot holds it (``Stray``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls


@dataclass(frozen=True)
class Stray:
    """A request no running test owns, made where the plugin watches: refused when the test it
    came from answers from its snapshot, sent and noted (never recorded) otherwise."""

    calls: TestCalls
    why: str

    @property
    def refused(self) -> bool:
        return not self.calls.rules.sends


Owner: TypeAlias = "TestCalls | Stray"
# The owner of a pool job (set while it runs): a test's calls, or a Stray.
_owner: ContextVar[Owner | None] = ContextVar("pytest_seeded_owner", default=None)
# The owner of what a thread the test started does.
_THREAD_OWNER = "_pytest_seeded_owner"
# The open window, innermost last (a wider fixture's setup inside a test's window is a Stray),
# and the thread that runs it.
_window: list[Owner] = []
_window_thread: list[int] = []
# What strays did in a run that sends: printed in the run's summary.
strays: list[str] = []


def _lookup() -> Owner | None:
    found = _owner.get()
    if found is not None:
        return found
    thread = threading.current_thread()
    found = getattr(thread, _THREAD_OWNER, None)
    if found is None and _window and _window_thread[-1] == thread.ident:
        found = _window[-1]
    return found


def owner() -> Owner | None:
    """Who owns what the current thread sends now: a test's calls, a Stray, or None (nothing of
    the plugin's: collection, a test without the LLM fixtures)."""
    found = _lookup()
    if found is None and _window:
        # A thread no test started (a library's background thread, started at import) sending
        # while a test runs: not that test's, whatever the timing.
        running = _window[-1]
        calls = running.calls if isinstance(running, Stray) else running
        name = threading.current_thread().name
        return Stray(calls, f"the thread {name!r}, which no test started")
    if found is None or isinstance(found, Stray) or not found.finished:
        return found
    return Stray(found, f"a thread or task started by {found.nodeid} after it finished")


def current() -> TestCalls | None:
    """The running test whose request this is, if any."""
    found = owner()
    return found if not isinstance(found, Stray) else None


def own(calls: Owner) -> Callable[[], None]:
    """What the current thread does belongs to ``calls`` until the function returned is called."""
    _window.append(calls)
    _window_thread.append(threading.get_ident())

    def close() -> None:
        _window.pop()
        _window_thread.pop()

    return close


def note_stray(stray: Stray, what: str) -> None:
    strays.append(f"{what}: {stray.why} (not recorded)")


_ORIGINAL_START = threading.Thread.start
_ORIGINAL_SUBMIT = ThreadPoolExecutor.submit


def _start(self: threading.Thread) -> None:
    found = _lookup()
    if found is not None:
        setattr(self, _THREAD_OWNER, found)
    _ORIGINAL_START(self)


def _submit(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    # A pool outlives its jobs and serves many tests: the job, not the worker, carries the test.
    found = _lookup()
    if found is None:
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)

    def owned(*a: Any, **k: Any) -> Any:
        token = _owner.set(found)
        try:
            return fn(*a, **k)
        finally:
            _owner.reset(token)

    return _ORIGINAL_SUBMIT(self, owned, *args, **kwargs)


def install() -> Callable[[], None]:
    """Threads and pool jobs carry their test, for the rest of the run."""
    strays.clear()
    _window.clear()
    _window_thread.clear()
    threading.Thread.start = _start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]

    def uninstall() -> None:
        threading.Thread.start = _ORIGINAL_START  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = _ORIGINAL_SUBMIT  # type: ignore[method-assign]

    return uninstall
