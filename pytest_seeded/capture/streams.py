"""Streams, both ways: a live stream handed on chunk by chunk while a copy is kept (a stream
stays a stream), and a recorded stream replayed as its events. The capture is shared by sync
and async streams; only the iteration differs."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx2

from pytest_seeded.apis.wire import encode_events, stream_parser
from pytest_seeded.exchange import Prepared, body_bytes
from pytest_seeded.messages import cut_stream
from pytest_seeded.storage.snapshot import RecordedResponse

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls
    from pytest_seeded.determinism import Sample


class StreamCapture:
    """Keeps what passes through a live stream and completes the call when it ends."""

    def __init__(
        self,
        calls: TestCalls,
        prepared: Prepared,
        slot: int,
        status: int,
        extra: list[Sample],
        decompress: Any = None,
        content_type: str = "text/event-stream",
    ) -> None:
        self._calls = calls
        self._prepared = prepared
        self._status = status
        self._extra = extra
        self._content_type = content_type
        self._parser = stream_parser(content_type, exact=prepared.endpoint is None)
        self._decompress = decompress
        self.done = False
        self.slot = slot

    def take(self, chunk: bytes) -> bytes:
        data = self._decompress.decompress(chunk) if self._decompress else chunk
        self._parser.feed(data)
        return data

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        self._parser.close()
        events = self._parser.events
        endpoint = self._prepared.endpoint
        if endpoint is not None and not endpoint.stream_complete(events):
            # The slot stays open, so nothing of this test is written.
            calls = self._calls
            calls.decide(
                "failed",
                cut_stream(calls.test, self.slot + 1, len(events), endpoint.stream_end_says),
            )
            return
        recorded = RecordedResponse(self._status, self._content_type, events=events)
        self._calls.complete(self._prepared, self.slot, recorded, self._extra)

    def cut(self) -> None:
        """The code closed the stream (or left it) before its end: kept as far as it read,
        whole events only, marked so, and replayed the same way. Nothing waits for the rest:
        an endless stream (a log tail, a watch) has none."""
        if self.done:
            return
        self.done = True
        recorded = RecordedResponse(
            self._status, self._content_type, events=self._parser.events, cut_by_client=True
        )
        self._calls.complete(self._prepared, self.slot, recorded, self._extra)


class TeeStream(httpx2.SyncByteStream):
    """Hands each chunk on as it arrives while keeping a copy."""

    is_async = False

    def __init__(self, response: httpx2.Response, capture: StreamCapture) -> None:
        self._inner = response.stream
        self.capture = capture
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        assert isinstance(self._inner, httpx2.SyncByteStream)
        self._iterator = iter(self._inner)
        try:
            for chunk in self._iterator:
                yield self.capture.take(chunk)
        except Exception:
            # The server broke the stream off: not the client's cut. finish() says whether what
            # came is a whole answer.
            self.capture.finish()
            raise
        self.capture.finish()

    def close(self) -> None:
        self.capture.cut()
        assert isinstance(self._inner, httpx2.SyncByteStream)
        self._inner.close()


class AsyncTeeStream(httpx2.AsyncByteStream):
    is_async = True

    def __init__(self, response: httpx2.Response, capture: StreamCapture) -> None:
        self._inner = response.stream
        self.capture = capture
        self._iterator: AsyncIterator[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx2.AsyncByteStream)
        self._iterator = self._inner.__aiter__()
        try:
            async for chunk in self._iterator:
                yield self.capture.take(chunk)
        except Exception:
            self.capture.finish()
            raise
        self.capture.finish()

    def close(self) -> None:
        # At teardown there is no event loop to close the connection in: it is dropped.
        self.capture.cut()

    async def aclose(self) -> None:
        self.capture.cut()
        assert isinstance(self._inner, httpx2.AsyncByteStream)
        await self._inner.aclose()


def finish_open(calls: TestCalls) -> None:
    """At teardown: a stream the test left unread and unclosed is kept as far as it was read
    (cut by the client), and closed."""
    for stream in calls.open_streams:
        if not stream.capture.done:
            stream.close()


class ReplayStream(httpx2.SyncByteStream):
    def __init__(self, response: RecordedResponse) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        assert self.response.events is not None
        yield from encode_events(self.response.content_type, self.response.events)


class AsyncReplayStream(httpx2.AsyncByteStream):
    def __init__(self, response: RecordedResponse) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert self.response.events is not None
        for chunk in encode_events(self.response.content_type, self.response.events):
            yield chunk


def replay_response(
    response: RecordedResponse, request: httpx2.Request, *, is_async: bool
) -> httpx2.Response:
    """The HTTP answer a recorded response replays as: its status, content type and body, or
    its events as a stream, chunk by chunk."""
    headers = {"content-type": response.content_type, **(response.headers or {})}
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream
    if response.events is not None:
        stream = AsyncReplayStream(response) if is_async else ReplayStream(response)
    else:
        stream = httpx2.ByteStream(body_bytes(response))
    return httpx2.Response(response.status, headers=headers, stream=stream, request=request)


def recorded_bytes(response: RecordedResponse) -> bytes:
    """A recorded answer's whole body, a stream's events included."""
    if response.events is None:
        return body_bytes(response)
    return b"".join(encode_events(response.content_type, response.events))


def decompressor(encoding: str) -> Any:
    """A decoder for a stream whose server ignored ``accept-encoding: identity``."""
    if encoding.lower() in ("gzip", "deflate"):
        # wbits 47: accept a gzip or a zlib header, whichever the server sent.
        return zlib.decompressobj(47)
    return None
