"""aiohttp's ``ClientSession`` used directly (openai's ``DefaultAioHttpClient`` and litellm's
aiohttp transport go through the httpx seams, above it).

The seam is a client middleware (aiohttp 3.12+), which aiohttp calls once per hop, inside its
redirect handling: ``ClientSession._request`` is wrapped for the run to put it innermost, after
the session's own middlewares, so they see a replayed answer as a real one. The request's body
is read as the bytes aiohttp built (``json=``, ``data=``, forms and multipart included) and
handed to the core; the answer comes back as aiohttp's ``ClientResponse`` whose content the
core feeds as it arrives. ``ClientResponse``'s constructor and ``_request`` are private:
aiohttp is bounded below its next major version.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
from aiohttp import ClientResponse, ClientSession, RequestInfo, streams
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from pytest_seeded.capture.bodies import FRAMING, araw_chunks, received
from pytest_seeded.capture.core import ahandle, claimed

_ORIGINAL_REQUEST = ClientSession._request
_SUPPORTED = "middlewares" in inspect.signature(ClientSession._request).parameters
# A parameter of ClientResponse's constructor in the newer 3.x releases only.
_TAKES_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


async def _request(self: ClientSession, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
    if claimed() is not None:
        middlewares = kwargs.get("middlewares")
        own = self._middlewares if middlewares is None else middlewares
        kwargs["middlewares"] = (*own, _middleware)
    return await _ORIGINAL_REQUEST(self, method, url, *args, **kwargs)


async def _middleware(req: Any, handler: Any) -> ClientResponse:
    found = claimed()
    if found is None:
        return await handler(req)  # type: ignore[no-any-return]
    raw = await _body_bytes(req)
    request = httpx2.Request(
        req.method, str(req.url), headers=list(req.headers.items()), content=raw
    )

    async def send(out: httpx2.Request) -> httpx2.Response:
        content = out.read()
        if content != raw:
            await _set_body(req, content)
        for name in ("accept-encoding", "connection"):
            if name in out.headers:
                req.headers[name] = out.headers[name]
        real = await handler(req)
        decoded = getattr(getattr(real, "_session", None), "_auto_decompress", True)
        headers = [
            (k, v)
            for k, v in real.headers.items()
            # aiohttp decoded the bytes already: the core must not decode them again.
            if not (decoded and k.lower() == "content-encoding")
        ]
        return received(real.status, headers, real.reason, _RawStream(real))

    answer = await ahandle(found, request, send)
    return _response(req, answer)


async def _body_bytes(req: Any) -> bytes:
    """The bytes aiohttp built for the body (json=, data=, a form, multipart). Payloads have
    as_bytes() from aiohttp 3.12.x on; before it, the payload is written to a collector, and
    the request is given those bytes back (a file's payload is read once)."""
    body = req.body
    if not body:
        return b""
    as_bytes = getattr(body, "as_bytes", None)
    if as_bytes is not None:
        return await as_bytes()  # type: ignore[no-any-return]
    sink = _Collector()
    await body.write(sink)
    raw = b"".join(sink.chunks)
    await _set_body(req, raw)
    return raw


async def _set_body(req: Any, content: bytes) -> None:
    update = getattr(req, "update_body", None)
    if update is not None and inspect.iscoroutinefunction(update):
        await update(content)
    else:  # aiohttp 3.12.0
        req.update_body_from_data(content)
    # 3.12.0 kept the old length: the server read a cut body.
    if "Content-Length" in req.headers:
        req.headers["Content-Length"] = str(len(content))


class _Collector:
    """What a payload's write() asks of a writer."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.chunks.append(bytes(data))


class _RawStream(httpx2.AsyncByteStream):
    def __init__(self, response: ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_any():
            yield chunk

    async def aclose(self) -> None:
        self._response.release()


class _NoConnection:
    """What a StreamReader asks of its protocol: flow control, which a fed answer needs not."""

    _reading_paused = False
    # Read as "more may come": the core feeds the content as it arrives.
    connected = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


class _Answered(ClientResponse):
    """A ClientResponse whose content the core's answer feeds; closing or releasing it early
    closes the answer there (a stream is kept as far as the code read it)."""

    _feeder: asyncio.Task[None] | None = None
    _answer: httpx2.Response | None = None

    def _stop(self) -> None:
        if self._feeder is not None and not self._feeder.done():
            self._feeder.cancel()

    def close(self) -> None:
        self._stop()
        super().close()

    def release(self) -> Any:
        self._stop()
        return super().release()


def _response(req: Any, answer: httpx2.Response) -> ClientResponse:
    loop = asyncio.get_running_loop()
    url = URL(str(req.url))
    extra: dict[str, Any] = {"stream_writer": _Written()} if _TAKES_STREAM_WRITER else {}
    response = _Answered(
        req.method,
        url,
        writer=None,
        continue100=None,
        timer=None,  # type: ignore[arg-type]
        request_info=RequestInfo(url, req.method, req.headers, url),
        traces=[],
        loop=loop,
        session=None,  # type: ignore[arg-type]
        **extra,
    )
    response.status = answer.status_code
    response.reason = answer.reason_phrase
    headers = CIMultiDict(
        (k, v) for k, v in answer.headers.multi_items() if k.lower() not in FRAMING
    )
    response._headers = CIMultiDictProxy(headers)
    response._raw_headers = tuple((k.encode(), v.encode()) for k, v in headers.items())
    content = streams.StreamReader(_NoConnection(), 2**16, loop=loop)  # type: ignore[arg-type]
    response.content = content
    response._feeder = loop.create_task(_feed(answer, content))
    return response


class _Written:
    output_size = 0


async def _feed(answer: httpx2.Response, content: streams.StreamReader) -> None:
    try:
        async for chunk in araw_chunks(answer):
            content.feed_data(chunk)
        content.feed_eof()
    except BaseException as exc:
        if not isinstance(exc, asyncio.CancelledError):
            content.set_exception(exc)
        raise
    finally:
        with contextlib.suppress(Exception):
            await answer.aclose()


class _Adapter:
    name = "aiohttp 3.12+ (ClientSession)"

    def install(self) -> Callable[[], None]:
        if not _SUPPORTED:
            return lambda: None
        ClientSession._request = _request  # type: ignore[method-assign,assignment]

        def undo() -> None:
            ClientSession._request = _ORIGINAL_REQUEST  # type: ignore[method-assign]

        return undo


ADAPTER = _Adapter()
