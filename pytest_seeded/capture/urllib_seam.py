"""urllib.request (``urlopen`` and openers): at ``AbstractHTTPHandler.do_open``, which every
HTTP and HTTPS handler calls once per hop, below urllib's redirect handling.

The request is converted to an ``httpx2.Request`` and handed to the core; the answer comes back
as a real ``http.client.HTTPResponse``, parsed from the status line, headers and bytes the core
hands over, so it reads, streams, closes and works as a context manager exactly as urllib's
own (vcrpy's stand-in returned a true value from ``close()``, and ``with urlopen(...)`` then
swallowed the exception raised inside it). http.client used directly has no such seam: the
network guard refuses it in replay.
"""

from __future__ import annotations

import copy
import http.client
import io
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx2

from pytest_seeded.capture.bodies import (
    FRAMING,
    ChunkReader,
    raw_chunks,
    received,
    request_bytes,
)
from pytest_seeded.capture.core import claimed, handle

_ORIGINAL = urllib.request.AbstractHTTPHandler.do_open
# The framing headers, and the connection's: the answer is handed on as one read to its end.
_FRAMING = (*FRAMING, "connection")


def _do_open(
    self: urllib.request.AbstractHTTPHandler, http_class: Any, req: Any, **kwargs: Any
) -> Any:
    found = claimed()
    if found is None:
        return _ORIGINAL(self, http_class, req, **kwargs)
    headers = dict(req.unredirected_hdrs)
    headers.update({k: v for k, v in req.headers.items() if k not in headers})
    raw = request_bytes(req.data)
    request = httpx2.Request(
        req.get_method(), req.full_url, headers=list(headers.items()), content=raw
    )

    def send(out: httpx2.Request) -> httpx2.Response:
        sent = copy.copy(req)
        sent.headers = dict(req.headers)
        sent.unredirected_hdrs = dict(req.unredirected_hdrs)
        content = out.read()
        if content != raw or req.data is not None:
            sent.data = content  # drops the old length: set it after
            sent.unredirected_hdrs["Content-length"] = str(len(content))
        if "accept-encoding" in out.headers:
            sent.headers.pop("Accept-encoding", None)
            sent.unredirected_hdrs["Accept-encoding"] = out.headers["accept-encoding"]
        real = _ORIGINAL(self, http_class, sent, **kwargs)
        return received(real.status, real.getheaders(), real.reason, _RawStream(real))

    answer = handle(found, request, send)
    head = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
    head += [f"{k}: {v}" for k, v in answer.headers.multi_items() if k.lower() not in _FRAMING]
    # Read to the end of the bytes: no length, so http.client reads until the answer ends.
    head.append("Connection: close")
    wire = ChunkReader(_framed(head, raw_chunks(answer)), answer.close)
    response = http.client.HTTPResponse(_Socket(wire), method=req.get_method(), url=req.full_url)  # type: ignore[arg-type]
    response.begin()
    # As do_open sets them.
    response.url = req.get_full_url()
    response.msg = response.reason  # type: ignore[assignment]
    return response


def _framed(head: list[str], body: Iterator[bytes]) -> Iterator[bytes]:
    yield ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
    yield from body


class _Socket:
    """What http.client asks of a socket: a file to read the answer from."""

    def __init__(self, wire: ChunkReader) -> None:
        self._wire = wire

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._wire)


class _RawStream(httpx2.SyncByteStream):
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._response.read1(65536):
            yield chunk

    def close(self) -> None:
        self._response.close()


class _Adapter:
    name = "urllib.request"

    def install(self) -> Callable[[], None]:
        urllib.request.AbstractHTTPHandler.do_open = _do_open  # type: ignore[method-assign]

        def undo() -> None:
            urllib.request.AbstractHTTPHandler.do_open = _ORIGINAL  # type: ignore[method-assign]

        return undo


ADAPTER = _Adapter()
