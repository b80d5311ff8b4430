"""What the adapters share: a request body of any form as the bytes that go out, and an answer
handed to a library that reads a file (urllib3, http.client) as one, chunk by chunk."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import httpx2


def request_bytes(body: Any) -> bytes:
    """The bytes a body sends: bytes or text as they are (text as UTF-8, as the clients encode
    it), a file read to its end, an iterable's chunks joined."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return request_bytes(body.read())
    if isinstance(body, Iterable):
        return b"".join(request_bytes(chunk) for chunk in body)
    raise TypeError(f"pytest-seeded: cannot read a request body of type {type(body).__name__}")


# Headers that described the bytes as the server framed or encoded them: not the answer's once
# the core has read and decoded it.
FRAMING = ("content-length", "transfer-encoding", "content-encoding")


def received(
    status: int,
    headers: Any,
    reason: str | None,
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream,
) -> httpx2.Response:
    """A library's answer as the core reads it: status, headers and reason as they came, the
    bytes still to be read from ``stream``."""
    reason_phrase = (reason or "").encode("latin-1", "replace")
    return httpx2.Response(
        status, headers=headers, stream=stream, extensions={"reason_phrase": reason_phrase}
    )


def raw_chunks(answer: httpx2.Response) -> Iterator[bytes]:
    """An answer's bytes as they come; one built with its content (a refusal, telemetry's
    answer) holds them already."""
    if answer.is_stream_consumed:
        return iter((answer.content,))
    return answer.iter_raw()


async def araw_chunks(answer: httpx2.Response) -> AsyncIterator[bytes]:
    if answer.is_stream_consumed:
        yield answer.content
        return
    async for chunk in answer.aiter_raw():
        yield chunk


class ChunkReader(io.RawIOBase):
    """A file over an answer's chunks; closing it closes the answer, read to its end or not
    (a stream the code closes early is kept as far as it read: streams.py)."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._left = b""
        self._close = close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()
