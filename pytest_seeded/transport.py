"""The seam between HTTP clients and a test's calls (calls.py): every request an httpx2 client
sends while a test uses the plugin, whoever built the client and whatever its transport.

The seam is ``Client._transport_for_url``, the one method every httpx2 client asks for the
transport of each request: while a test runs, the transport it returns is wrapped, so default
transports, mounted ones and the aiohttp transport of ``openai.DefaultAioHttpClient`` are all
caught, sync and async, and a stream stays a stream. Legacy httpx (litellm, older SDKs) is
adapted to this seam in transport_httpx.py. Transports that never leave the process (mock,
ASGI, WSGI) are left alone.

vcrpy is not used on this path, after measuring it: it patches dozens of classes per cassette
(about 3.6 ms a call against 0.8 ms here), reads a whole stream before handing it on, so a live
stream would stop being a stream, and it cannot change what is sent, which seeding must.
"""

from __future__ import annotations

import importlib.util
import json
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import httpx2

from pytest_seeded.calls import Prepared, StreamCapture, TestCalls, body_response
from pytest_seeded.determinism import Sample
from pytest_seeded.snapshot import SSE_CONTENT_TYPE, RecordedResponse
from pytest_seeded.wire import encode_sse

# Set while the seam sends a request for real: a transport below it (aiohttp's, under
# DefaultAioHttpClient or litellm) may be one that vcrpy patches too (transport_vcr.py), and the
# request must be handled once, not twice.
SENDING: ContextVar[bool] = ContextVar("pytest_seeded_sending", default=False)

SyncSend = Callable[[httpx2.Request], httpx2.Response]
AsyncSend = Callable[[httpx2.Request], Awaitable[httpx2.Response]]

# Legacy httpx, where installed, goes through the same seam (transport_httpx.py).
_LEGACY_HTTPX = importlib.util.find_spec("httpx") is not None
_ORIGINAL_FOR_URL = httpx2.Client._transport_for_url
_ORIGINAL_ASYNC_FOR_URL = httpx2.AsyncClient._transport_for_url


# -- one request, sync and async ----------------------------------------------------------


def handle(calls: TestCalls, request: httpx2.Request, send: SyncSend) -> httpx2.Response:
    if calls.passes_through(request):
        return send(request)
    prepared = calls.prepare(request)
    offline = calls.answer_offline(prepared)
    if offline is not None:
        return _offline(offline, prepared, is_async=False)
    slot = calls.reserve()
    # --llm-repeat: the extra answers are read whole first, so the one the test gets can
    # still stream.
    extra: list[Sample] = []
    sending = SENDING.set(True)
    try:
        for _ in range(_repeats(calls, prepared)):
            response = send(_closing(prepared.request))
            extra.append(_sample(calls, prepared, response, response.read()))
        response = send(prepared.request)
    except BaseException:
        calls.drop(slot)
        raise
    finally:
        SENDING.reset(sending)
    if not calls.keeps(prepared, response.status_code):
        calls.drop(slot)
        return response
    if content_type(response) == SSE_CONTENT_TYPE:
        sync_stream = _TeeStream(response, _capture(calls, prepared, slot, response, extra))
        calls.open_streams.append(sync_stream)
        return _rebuilt(response, prepared.request, sync_stream)
    # read() decodes any content-encoding already: decoding again broke gzip answers.
    return _whole(calls, prepared, slot, response, response.read(), extra)


async def ahandle(calls: TestCalls, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
    if calls.passes_through(request):
        return await send(request)
    prepared = calls.prepare(request)
    offline = calls.answer_offline(prepared)
    if offline is not None:
        return _offline(offline, prepared, is_async=True)
    slot = calls.reserve()
    extra: list[Sample] = []
    sending = SENDING.set(True)
    try:
        for _ in range(_repeats(calls, prepared)):
            response = await send(_closing(prepared.request))
            body = await response.aread()
            extra.append(_sample(calls, prepared, response, body))
        response = await send(prepared.request)
    except BaseException:
        calls.drop(slot)
        raise
    finally:
        SENDING.reset(sending)
    if not calls.keeps(prepared, response.status_code):
        calls.drop(slot)
        return response
    if content_type(response) == SSE_CONTENT_TYPE:
        async_stream = _AsyncTeeStream(response, _capture(calls, prepared, slot, response, extra))
        calls.open_streams.append(async_stream)
        return _rebuilt(response, prepared.request, async_stream)
    return _whole(calls, prepared, slot, response, await response.aread(), extra)


def _sample(calls: TestCalls, prepared: Prepared, response: httpx2.Response, body: bytes) -> Sample:
    assert prepared.endpoint is not None  # only LLM calls are repeated
    return calls.sample(prepared.endpoint, content_type(response), response.status_code, body)


def _repeats(calls: TestCalls, prepared: Prepared) -> int:
    """The extra calls --llm-repeat makes: LLM calls only, never the test's other HTTP."""
    return calls.repeat - 1 if prepared.is_llm else 0


def _offline(
    answer: RecordedResponse | httpx2.Response, prepared: Prepared, *, is_async: bool
) -> httpx2.Response:
    if isinstance(answer, httpx2.Response):
        return answer
    return replay_response(answer, prepared.request, is_async=is_async)


def _capture(
    calls: TestCalls,
    prepared: Prepared,
    slot: int,
    response: httpx2.Response,
    extra: list[Sample],
) -> StreamCapture:
    return calls.stream_capture(
        prepared, slot, response.status_code, extra, _decompressor(response)
    )


def _whole(
    calls: TestCalls,
    prepared: Prepared,
    slot: int,
    response: httpx2.Response,
    body: bytes,
    extra: list[Sample],
) -> httpx2.Response:
    recorded = body_response(content_type(response), response.status_code, body)
    calls.complete(prepared, slot, recorded, extra)
    return _rebuilt(response, prepared.request, httpx2.ByteStream(body))


def replay_response(
    response: RecordedResponse, request: httpx2.Request, *, is_async: bool
) -> httpx2.Response:
    """The HTTP answer a recorded response replays as: its status, content type and body, or
    its events as a stream, chunk by chunk."""
    headers = {"content-type": response.content_type}
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream
    if response.events is not None:
        stream = _AsyncReplayStream(response.events) if is_async else _ReplayStream(response.events)
    else:
        stream = httpx2.ByteStream(body_bytes(response))
    return httpx2.Response(response.status, headers=headers, stream=stream, request=request)


def body_bytes(response: RecordedResponse) -> bytes:
    body = response.body
    if isinstance(body, str):
        return body.encode()
    if (
        isinstance(body, dict)
        and list(body) == ["base64"]
        and "json" not in response.content_type
        and isinstance(body["base64"], str)
    ):
        import base64

        return base64.b64decode(body["base64"])
    return json.dumps(body, ensure_ascii=False).encode()


# -- the fixture clients' transports ------------------------------------------------------


class SeededTransport(httpx2.BaseTransport):
    """The fixture client's transport, one per run: every request goes to the running test's
    calls, so the client (and openai's lazily built resources) is made once, not per test."""

    def __init__(self, real: Callable[[], httpx2.HTTPTransport]) -> None:
        self._real = real

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        calls = _active
        if calls is None:
            raise RuntimeError(
                "pytest-seeded: the seeded_llm client was used outside the test that asked for "
                "it (after its teardown, or from another thread's test); ask for seeded_llm in "
                "the test that uses it"
            )
        return handle(calls, request, self._real().handle_request)


class AsyncSeededTransport(httpx2.AsyncBaseTransport):
    """The async fixture client's transport. Its real transport is made per test, because an
    async connection pool belongs to the event loop it was first used in; and it asks the
    server to close each connection, because a sync fixture teardown has no loop to close a
    pool in, and a pooled socket left open would warn (an error under filterwarnings=error)."""

    def __init__(self, calls: TestCalls, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._calls = calls
        self._ssl_context = ssl_context
        self._real: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await ahandle(self._calls, request, self._send)

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        if self._real is None:
            self._real = httpx2.AsyncHTTPTransport(verify=self._ssl_context())
        request.headers["connection"] = "close"
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()


# -- every other httpx2 client ------------------------------------------------------------

# The test whose calls the clients route to (one test runs at a time in a process; xdist
# workers are processes of their own).
_active: TestCalls | None = None
# Transports that never leave the process: what they answer is the test's own business.
IN_PROCESS = (
    httpx2.MockTransport,
    httpx2.ASGITransport,
    httpx2.WSGITransport,
    SeededTransport,
    AsyncSeededTransport,
)


class _Routed(httpx2.BaseTransport):
    def __init__(self, real: httpx2.BaseTransport, calls: TestCalls) -> None:
        self._real = real
        self._calls = calls

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return handle(self._calls, request, self._real.handle_request)


class _AsyncRouted(httpx2.AsyncBaseTransport):
    def __init__(self, real: httpx2.AsyncBaseTransport, calls: TestCalls) -> None:
        self._real = real
        self._calls = calls

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await ahandle(self._calls, request, self._real.handle_async_request)


def _for_url(self: httpx2.Client, url: httpx2.URL) -> httpx2.BaseTransport:
    transport = _ORIGINAL_FOR_URL(self, url)
    calls = _active
    if calls is None or isinstance(transport, IN_PROCESS):
        return transport
    return _Routed(transport, calls)


def _async_for_url(self: httpx2.AsyncClient, url: httpx2.URL) -> httpx2.AsyncBaseTransport:
    transport = _ORIGINAL_ASYNC_FOR_URL(self, url)
    calls = _active
    if calls is None or isinstance(transport, IN_PROCESS):
        return transport
    return _AsyncRouted(transport, calls)


def activate(calls: TestCalls) -> None:
    """Route every client the code under test uses to this test's calls."""
    global _active
    _active = calls
    httpx2.Client._transport_for_url = _for_url  # type: ignore[method-assign]
    httpx2.AsyncClient._transport_for_url = _async_for_url  # type: ignore[method-assign]
    if _LEGACY_HTTPX:
        _legacy().activate()


def deactivate() -> None:
    global _active
    _active = None
    httpx2.Client._transport_for_url = _ORIGINAL_FOR_URL  # type: ignore[method-assign]
    httpx2.AsyncClient._transport_for_url = _ORIGINAL_ASYNC_FOR_URL  # type: ignore[method-assign]
    if _LEGACY_HTTPX:
        _legacy().deactivate()


def _legacy() -> Any:
    """transport_httpx, looked up in sys.modules: a package attribute left by an earlier import
    (pytester's in-process runs drop modules between runs) could be bound to another copy of
    this module, whose test is not the running one."""
    return importlib.import_module("pytest_seeded.transport_httpx")


# -- response streams ---------------------------------------------------------------------


class _ReplayStream(httpx2.SyncByteStream):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from encode_sse(self.events)


class _AsyncReplayStream(httpx2.AsyncByteStream):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in encode_sse(self.events):
            yield chunk


class _TeeStream(httpx2.SyncByteStream):
    """Hands each chunk on as it arrives (a stream stays a stream) while keeping a copy."""

    is_async = False

    def __init__(self, response: httpx2.Response, capture: StreamCapture) -> None:
        self._inner = response.stream
        self.capture = capture
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        assert isinstance(self._inner, httpx2.SyncByteStream)
        self._iterator = iter(self._inner)
        for chunk in self._iterator:
            yield self.capture.take(chunk)
        self.capture.finish()

    def drain(self) -> None:
        """Read what the test left unread (from where it stopped, or all of it)."""
        assert isinstance(self._inner, httpx2.SyncByteStream)
        try:
            for chunk in self._iterator if self._iterator is not None else self._inner:
                self.capture.take(chunk)
            self.capture.finish()
        finally:
            self._inner.close()

    def close(self) -> None:
        # A caller that stops reading early still gets the whole stream recorded: read the rest.
        try:
            if self._iterator is not None:
                for chunk in self._iterator:
                    self.capture.take(chunk)
                self.capture.finish()
        finally:
            assert isinstance(self._inner, httpx2.SyncByteStream)
            self._inner.close()


class _AsyncTeeStream(httpx2.AsyncByteStream):
    is_async = True

    def __init__(self, response: httpx2.Response, capture: StreamCapture) -> None:
        self._inner = response.stream
        self.capture = capture
        self._iterator: AsyncIterator[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx2.AsyncByteStream)
        self._iterator = self._inner.__aiter__()
        async for chunk in self._iterator:
            yield self.capture.take(chunk)
        self.capture.finish()

    def drain(self) -> None:
        raise RuntimeError("an async stream is read in its event loop")  # see finish_streams

    async def aclose(self) -> None:
        try:
            if self._iterator is not None:
                async for chunk in self._iterator:
                    self.capture.take(chunk)
                self.capture.finish()
        finally:
            assert isinstance(self._inner, httpx2.AsyncByteStream)
            await self._inner.aclose()


# -- helpers ------------------------------------------------------------------------------


def _closing(request: httpx2.Request) -> httpx2.Request:
    """A copy of the request on a connection of its own. The repeats of --llm-repeat follow
    each other at once: on a pooled connection that a server (llama.cpp's) closes after a
    stream, the next one could go out before the close arrived and fail with "Server
    disconnected without sending a response"."""
    headers = request.headers.copy()
    headers["connection"] = "close"
    return httpx2.Request(
        request.method,
        request.url,
        headers=headers,
        content=request.read(),
        extensions=request.extensions,
    )


def content_type(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _decompressor(response: httpx2.Response) -> Any:
    encoding = response.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        # wbits 47: accept a gzip or a zlib header, whichever the server sent.
        return zlib.decompressobj(47)
    return None


def _rebuilt(
    response: httpx2.Response,
    request: httpx2.Request,
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream,
) -> httpx2.Response:
    # The body handed on is decoded, so the encoding and length headers no longer hold.
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx2.Response(
        response.status_code,
        headers=headers,
        stream=stream,
        request=request,
        extensions=response.extensions,
    )
