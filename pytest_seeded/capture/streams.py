"""Streams, both ways: a live stream handed on chunk by chunk while a copy is kept (a stream
stays a stream), and a recorded stream replayed as its events. The capture is shared by sync
and async streams; only the iteration differs."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx2

from pytest_seeded.apis.wire import SSEParser, encode_sse
from pytest_seeded.exchange import Prepared, body_bytes
from pytest_seeded.messages import cut_stream, stream_left_open, stream_unreadable
from pytest_seeded.storage.snapshot import SSE_CONTENT_TYPE, RecordedResponse

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
    ) -> None:
        self._calls = calls
        self._prepared = prepared
        self._status = status
        self._extra = extra
        self._parser = SSEParser()
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
                cut_stream(calls.test, self.slot + 1, len(events), endpoint.stream_end),
            )
            return
        recorded = RecordedResponse(self._status, SSE_CONTENT_TYPE, events=events)
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


class AsyncTeeStream(httpx2.AsyncByteStream):
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
        raise RuntimeError("an async stream is read in its event loop")  # see finish_open

    async def aclose(self) -> None:
        try:
            if self._iterator is not None:
                async for chunk in self._iterator:
                    self.capture.take(chunk)
                self.capture.finish()
        finally:
            assert isinstance(self._inner, httpx2.AsyncByteStream)
            await self._inner.aclose()


def finish_open(calls: TestCalls) -> None:
    """At teardown: read the rest of every stream the test left unread and unclosed, so it is
    recorded or compared within its own test; an async one cannot be read without the test's
    event loop, so it fails the test, saying how to close it."""
    for stream in calls.open_streams:
        capture = stream.capture
        if capture.done:
            continue
        if stream.is_async:
            calls.decide("failed", stream_left_open(calls.test, capture.slot + 1))
            continue
        try:
            stream.drain()
        except Exception as exc:
            calls.decide("failed", stream_unreadable(calls.test, capture.slot + 1, exc))


class ReplayStream(httpx2.SyncByteStream):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from encode_sse(self.events)


class AsyncReplayStream(httpx2.AsyncByteStream):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in encode_sse(self.events):
            yield chunk


def replay_response(
    response: RecordedResponse, request: httpx2.Request, *, is_async: bool
) -> httpx2.Response:
    """The HTTP answer a recorded response replays as: its status, content type and body, or
    its events as a stream, chunk by chunk."""
    headers = {"content-type": response.content_type}
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream
    if response.events is not None:
        stream = AsyncReplayStream(response.events) if is_async else ReplayStream(response.events)
    else:
        stream = httpx2.ByteStream(body_bytes(response))
    return httpx2.Response(response.status, headers=headers, stream=stream, request=request)


def recorded_bytes(response: RecordedResponse) -> bytes:
    """A recorded answer's whole body, a stream's events included."""
    if response.events is None:
        return body_bytes(response)
    return b"".join(encode_sse(response.events))


def decompressor(encoding: str) -> Any:
    """A decoder for a stream whose server ignored ``accept-encoding: identity``."""
    if encoding.lower() in ("gzip", "deflate"):
        # wbits 47: accept a gzip or a zlib header, whichever the server sent.
        return zlib.decompressobj(47)
    return None
