"""What a capture adapter is: one module per client library (httpx2, legacy httpx, the clients
vcrpy patches) or per door out of the process (the network guard), each exposing an ``ADAPTER``
that says whether it applies to a test and enters its patch for it.

An adapter converts its library's request into an ``httpx2.Request`` (the exchange of
exchange.py) and hands it to the core (core.py), which answers it from the snapshot or sends it
and keeps the answer; the adapter converts the answer back. Adding a client library is one new
module here and one line in intercept.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls


class Adapter(Protocol):
    """One client library's (or one door's) patch."""

    # What it covers, as a message or the README names it.
    name: str

    def applies(self, calls: TestCalls) -> bool:
        """Whether this test needs the patch (a library that is not installed never does)."""
        ...

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        """Patch, routing what the library sends to ``calls``; the function returned undoes
        the patch."""
        ...
