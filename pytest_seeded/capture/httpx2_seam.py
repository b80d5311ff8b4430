"""httpx2 (openai, anthropic and google-genai are built on it): every client, whoever built it
and whatever its transport.

The seam is ``Client._transport_for_url``, the one method every httpx2 client asks for the
transport of each request: for a request a test owns, the transport it returns is wrapped, so
default transports, mounted ones and the aiohttp transport of ``openai.DefaultAioHttpClient``
are all caught, sync and async, and a stream stays a stream. Transports that never leave the process
(mock, ASGI, WSGI, the fixture clients') are left alone. ``_transport_for_url`` is private:
httpx2 is bounded below its next major version in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from pytest_seeded.capture.core import ahandle, handle
from pytest_seeded.capture.routing import Owner, owner

_ORIGINAL_FOR_URL = httpx2.Client._transport_for_url
_ORIGINAL_ASYNC_FOR_URL = httpx2.AsyncClient._transport_for_url
_IN_PROCESS = (httpx2.MockTransport, httpx2.ASGITransport, httpx2.WSGITransport)


def in_process(transport: object) -> bool:
    """Whether a transport never leaves the process: what it answers is the test's own
    business. The fixture clients' transports route to the test themselves."""
    return isinstance(transport, _IN_PROCESS) or getattr(transport, "routes_itself", False)


class _Routed(httpx2.BaseTransport):
    def __init__(self, real: httpx2.BaseTransport, calls: Owner) -> None:
        self._real = real
        self._calls = calls

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return handle(self._calls, request, self._real.handle_request)


class _AsyncRouted(httpx2.AsyncBaseTransport):
    def __init__(self, real: httpx2.AsyncBaseTransport, calls: Owner) -> None:
        self._real = real
        self._calls = calls

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await ahandle(self._calls, request, self._real.handle_async_request)


def _for_url(self: httpx2.Client, url: httpx2.URL) -> httpx2.BaseTransport:
    transport = _ORIGINAL_FOR_URL(self, url)
    calls = owner()
    if calls is None or in_process(transport):
        return transport
    return _Routed(transport, calls)


def _async_for_url(self: httpx2.AsyncClient, url: httpx2.URL) -> httpx2.AsyncBaseTransport:
    transport = _ORIGINAL_ASYNC_FOR_URL(self, url)
    calls = owner()
    if calls is None or in_process(transport):
        return transport
    return _AsyncRouted(transport, calls)


class ForUrlAdapter:
    """The adapter of a library whose clients ask ``_transport_for_url`` for each request's
    transport (httpx2 here, legacy httpx in httpx_seam.py): the method of each client class is
    replaced for the run, and put back after it."""

    def __init__(self, name: str, patches: tuple[tuple[type, Callable[..., Any]], ...]) -> None:
        self.name = name
        self._patches = [(cls, cls.__dict__["_transport_for_url"], new) for cls, new in patches]

    def install(self) -> Callable[[], None]:
        for cls, _, new in self._patches:
            setattr(cls, "_transport_for_url", new)  # noqa: B010
        return self._restore

    def _restore(self) -> None:
        for cls, original, _ in self._patches:
            setattr(cls, "_transport_for_url", original)  # noqa: B010


ADAPTER = ForUrlAdapter("httpx2", ((httpx2.Client, _for_url), (httpx2.AsyncClient, _async_for_url)))
