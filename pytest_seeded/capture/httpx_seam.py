"""Legacy httpx (the ``httpx`` package: litellm, and SDKs built before httpx2), at the same seam
as httpx2 (httpx2_seam.py): its requests are converted to httpx2's, handled by the same core,
and their answers converted back, streams still streaming. Used only if httpx is installed;
litellm's aiohttp transport is an httpx transport, so its async calls are caught here too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import httpx2

from pytest_seeded.capture.core import ahandle, handle
from pytest_seeded.capture.httpx2_seam import ForUrlAdapter
from pytest_seeded.capture.routing import Owner, owner

_ORIGINAL_FOR_URL = httpx.Client._transport_for_url
_ORIGINAL_ASYNC_FOR_URL = httpx.AsyncClient._transport_for_url
_IN_PROCESS = (httpx.MockTransport, httpx.ASGITransport, httpx.WSGITransport)


def _routed_calls(url: httpx.URL, transport: object) -> Owner | None:
    """The test that owns this request, if it goes to one."""
    calls = owner()
    if calls is None or isinstance(transport, _IN_PROCESS):
        return None
    return calls


def _for_url(self: httpx.Client, url: httpx.URL) -> httpx.BaseTransport:
    transport = _ORIGINAL_FOR_URL(self, url)
    calls = _routed_calls(url, transport)
    return transport if calls is None else _Routed(transport, calls)


def _async_for_url(self: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport:
    transport = _ORIGINAL_ASYNC_FOR_URL(self, url)
    calls = _routed_calls(url, transport)
    return transport if calls is None else _AsyncRouted(transport, calls)


def _modern(request: httpx.Request) -> httpx2.Request:
    return httpx2.Request(
        request.method,
        str(request.url),
        headers=request.headers.raw,
        content=request.read(),
        extensions=request.extensions,
    )


def _legacy(request: httpx2.Request) -> httpx.Request:
    return httpx.Request(
        request.method,
        str(request.url),
        headers=request.headers.raw,
        content=request.read(),
        extensions=request.extensions,
    )


class _Routed(httpx.BaseTransport):
    def __init__(self, real: httpx.BaseTransport, calls: Owner) -> None:
        self._real = real
        self._calls = calls

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = handle(self._calls, _modern(request), self._send)
        assert isinstance(answer.stream, httpx2.SyncByteStream)
        return httpx.Response(
            answer.status_code,
            headers=answer.headers.raw,
            stream=_Bridge(answer.stream),
            extensions=answer.extensions,
            request=request,
        )

    def _send(self, request: httpx2.Request) -> httpx2.Response:
        answer = self._real.handle_request(_legacy(request))
        assert isinstance(answer.stream, httpx.SyncByteStream)
        return httpx2.Response(
            answer.status_code,
            headers=answer.headers.raw,
            stream=_Bridge(answer.stream),
            extensions=answer.extensions,
            request=request,
        )


class _AsyncRouted(httpx.AsyncBaseTransport):
    def __init__(self, real: httpx.AsyncBaseTransport, calls: Owner) -> None:
        self._real = real
        self._calls = calls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await ahandle(self._calls, _modern(request), self._send)
        assert isinstance(answer.stream, httpx2.AsyncByteStream)
        return httpx.Response(
            answer.status_code,
            headers=answer.headers.raw,
            stream=_AsyncBridge(answer.stream),
            extensions=answer.extensions,
            request=request,
        )

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        answer = await self._real.handle_async_request(_legacy(request))
        assert isinstance(answer.stream, httpx.AsyncByteStream)
        return httpx2.Response(
            answer.status_code,
            headers=answer.headers.raw,
            stream=_AsyncBridge(answer.stream),
            extensions=answer.extensions,
            request=request,
        )


class _Bridge(httpx.SyncByteStream, httpx2.SyncByteStream):
    """A stream of either library handed to the other: both check only the base class."""

    def __init__(self, inner: httpx.SyncByteStream | httpx2.SyncByteStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        self._inner.close()


class _AsyncBridge(httpx.AsyncByteStream, httpx2.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream | httpx2.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


ADAPTER = ForUrlAdapter("httpx", ((httpx.Client, _for_url), (httpx.AsyncClient, _async_for_url)))
