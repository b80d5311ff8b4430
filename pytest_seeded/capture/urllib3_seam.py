"""urllib3 2.x, and what is built on it: requests, botocore (boto3), urllib3 used directly.

The seam is ``HTTPConnectionPool._make_request``, the one method every pool calls once per
attempt, below urllib3's and requests' redirects and retries: each hop of a redirect and each
retry is an exchange of its own, as the code saw it. The request is converted to an
``httpx2.Request`` and handed to the core; what goes out is the core's (seeded) request; the
answer comes back as urllib3's own ``HTTPResponse`` over the core's bytes, decoded once (by the
core), streaming when the server streamed. ``_make_request`` is private: urllib3 1.x has
another, and is left to the network guard.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import httpx2
import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.response import HTTPResponse

from pytest_seeded.capture.bodies import ChunkReader, raw_chunks, received, request_bytes
from pytest_seeded.capture.core import claimed, handle

_SUPPORTED = int(importlib.metadata.version("urllib3").split(".")[0]) == 2
_ORIGINAL = HTTPConnectionPool._make_request
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _url(pool: HTTPConnectionPool, url: str) -> str:
    if "://" in url:  # through a proxy, urllib3 asks for the absolute form
        return url
    host = f"[{pool.host}]" if ":" in (pool.host or "") else pool.host
    port = "" if pool.port in (None, _DEFAULT_PORTS.get(pool.scheme)) else f":{pool.port}"
    return f"{pool.scheme}://{host}{port}{url}"


def _make_request(
    self: HTTPConnectionPool,
    conn: Any,
    method: str,
    url: str,
    body: Any = None,
    headers: Any = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    found = claimed()
    if found is None or args:
        return _ORIGINAL(self, conn, method, url, body, headers, *args, **kwargs)
    sent_headers = urllib3.HTTPHeaderDict(headers if headers is not None else self.headers)
    raw = request_bytes(body)
    request = httpx2.Request(
        method, _url(self, url), headers=list(sent_headers.items()), content=raw
    )
    kwargs.pop("chunked", None)  # the body is bytes now

    def send(out: httpx2.Request) -> httpx2.Response:
        content = out.read()
        out_headers = urllib3.HTTPHeaderDict(sent_headers)
        for name in ("accept-encoding", "connection"):
            if name in out.headers:
                out_headers[name] = out.headers[name]
        out_headers.discard("transfer-encoding")
        if content or "content-length" in out_headers:
            out_headers["content-length"] = str(len(content))
        # --llm-repeat's copies ask for a connection of their own (core.Outgoing.repeats): one
        # each, read whole and closed, so the pool's connection serves the request itself.
        own = out_headers.get("connection") == "close"
        using = self._new_conn() if own else conn
        real = _ORIGINAL(
            self,
            using,
            out.method,
            url,
            body=content,
            headers=out_headers,
            **{**kwargs, "preload_content": False, "decode_content": False},
        )
        if own:
            data = real.read(decode_content=False)
            using.close()
            return received(
                real.status, list(real.headers.items()), real.reason, httpx2.ByteStream(data)
            )
        return received(real.status, list(real.headers.items()), real.reason, _RawStream(real))

    answer = handle(found, request, send)
    return HTTPResponse(
        body=ChunkReader(raw_chunks(answer), answer.close),
        headers=urllib3.HTTPHeaderDict(answer.headers.multi_items()),
        status=answer.status_code,
        version=11,
        reason=answer.reason_phrase,
        preload_content=kwargs.get("preload_content", True),
        decode_content=kwargs.get("decode_content", True),
        pool=self,
        connection=kwargs.get("response_conn"),
        retries=kwargs.get("retries"),
        request_method=method,
        request_url=url,
        enforce_content_length=False,
    )


class _RawStream(httpx2.SyncByteStream):
    """A urllib3 answer's bytes as they came (the core decodes them, once)."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def __iter__(self) -> Any:
        # One read of what has arrived at a time: stream(n) waits for n bytes, so the first
        # event of a slow stream would wait for the next 64 KB. read1 came with urllib3 2.3.
        read1 = getattr(self._response, "read1", None)
        if read1 is None:
            yield from self._response.stream(1024, decode_content=False)
            return
        while chunk := read1(65536, decode_content=False):
            yield chunk

    def close(self) -> None:
        self._response.release_conn()
        self._response.close()


class _Adapter:
    name = "urllib3 2.x (requests, botocore, urllib3)"

    def install(self) -> Callable[[], None]:
        if not _SUPPORTED:
            return lambda: None
        HTTPConnectionPool._make_request = _make_request  # type: ignore[method-assign]

        def undo() -> None:
            HTTPConnectionPool._make_request = _ORIGINAL  # type: ignore[method-assign]

        return undo


ADAPTER = _Adapter()
