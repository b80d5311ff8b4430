"""What a capture adapter is: one module per client library (httpx2, legacy httpx, urllib3,
urllib, aiohttp) or per door out of the process (the network guard), each exposing an
``ADAPTER`` that patches its library once for the run.

An adapter converts its library's request into an ``httpx2.Request`` at its seam and hands it,
with the test that owns it (routing.py), to the core (core.py), which answers it from the
snapshot or sends it and keeps the answer; the adapter converts the answer back. The bytes of a
body, its one decoding and its streaming are the core's business, never an adapter's. Adding a
client library is one new module here and one line in intercept.py.

What changes per test is the environment, not a library: the proxy variables a subprocess
inherits, frameworks' answer caches, credential placeholders (``TestScoped``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls


class Adapter(Protocol):
    """One client library's (or one door's) patch, entered once for the run."""

    # What it covers, as a message or the README names it.
    name: str

    def install(self) -> Callable[[], None]:
        """Patch, routing each request to the test that owns it; the function returned undoes
        the patch at the end of the run."""
        ...


class TestScoped(Protocol):
    """A change to the process's environment that lasts one test."""

    name: str

    def applies(self, calls: TestCalls) -> bool:
        """Whether this test needs it."""
        ...

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        """Make the change; the function returned undoes it."""
        ...
