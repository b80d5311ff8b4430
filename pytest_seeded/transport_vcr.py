"""The clients outside httpx (requests, urllib3, urllib's http.client, aiohttp used directly,
boto3, tornado, httplib2), caught by vcrpy's patches and answered from the test's own ledger.

vcrpy patches each of those libraries at its connection class and asks a cassette what to do
with each request. The cassette here holds nothing itself: it hands every request to the running
test's calls (calls.py), so these requests are matched, recorded, replayed and refused exactly as
the httpx seam's are, in the same file. vcrpy cannot change what is sent, so a request made this
way is never seeded (an LLM call through requests is recorded as it was sent), and it reads a
streamed answer whole before handing it on; the httpx seams (transport.py) are used for httpx
and httpx2, which is where LLM SDKs send their calls. Entering vcrpy's patches costs about
0.6 ms a test, so a replayed test enters them only when its recording holds other HTTP.
"""

from __future__ import annotations

import contextlib
import http
import zlib
from typing import Any

import httpx2
from vcr.patch import CassettePatcherBuilder  # type: ignore[import-untyped]

from pytest_seeded.calls import Prepared, TestCalls, body_response
from pytest_seeded.snapshot import SSE_CONTENT_TYPE, RecordedResponse
from pytest_seeded.transport import SENDING, body_bytes


class LedgerCassette:
    """What vcrpy's stubs ask of a cassette, answered by one test's calls."""

    # httpx and httpx2 go through the plugin's own seam (transport.py).
    skip_patchers = ("httpx", "httpx2")
    custom_patches = ()

    def __init__(self, calls: TestCalls) -> None:
        self._calls = calls
        self._path = calls.nodeid
        # The answer can_play_response_for found, handed out by play_response.
        self._answer: dict[str, Any] | None = None

    @property
    def write_protected(self) -> bool:
        # Asked only of a request can_play_response_for declined; in replay that is one to a
        # passthrough host, which filter_request lets through.
        return self._calls.mode == "replay"

    def filter_request(self, request: Any) -> Any:
        if SENDING.get() or self._calls.passes_through(_modern(request)):
            return None
        return request

    def can_play_response_for(self, request: Any) -> bool:
        if SENDING.get():  # sent by the httpx seam, which handles it (transport.py)
            return False
        modern = _modern(request)
        if self._calls.passes_through(modern):
            return False
        answer = self._calls.answer_offline(self._calls.prepare(modern, seed=False))
        if answer is None:
            return False
        if isinstance(answer, httpx2.Response):  # a refusal (the test fails) or telemetry
            self._answer = _vcr_response(answer.status_code, "application/json", answer.read())
        else:
            self._answer = _vcr_response(answer.status, answer.content_type, _bytes(answer))
        return True

    def play_response(self, request: Any) -> dict[str, Any]:
        answer, self._answer = self._answer, None
        assert answer is not None, "vcrpy played a response it did not ask for"
        return answer

    def append(self, request: Any, response: dict[str, Any]) -> None:
        """A request went out and its whole answer came back: keep it like any other."""
        if SENDING.get():
            return
        calls = self._calls
        prepared: Prepared = calls.prepare(_modern(request), seed=False)
        status = int(response["status"]["code"])
        if not calls.keeps(prepared, status):
            return
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        content_type = _first(headers.get("content-type")).split(";")[0].strip().lower()
        body = response.get("body", {}).get("string") or b""
        if isinstance(body, str):
            body = body.encode()
        if _first(headers.get("content-encoding")).lower() in ("gzip", "deflate"):
            # Headers are not stored, so the body is kept decoded.
            body = zlib.decompressobj(47).decompress(body)
        slot = calls.reserve()
        if content_type == SSE_CONTENT_TYPE:
            capture = calls.stream_capture(prepared, slot, status, [])
            capture.take(body)
            capture.finish()
        else:
            calls.complete(prepared, slot, body_response(content_type, status, body), [])


def patches(calls: TestCalls) -> contextlib.ExitStack:
    """vcrpy's patches, entered, routed to this test's calls; closing the stack undoes them."""
    stack = contextlib.ExitStack()
    for patcher in CassettePatcherBuilder(LedgerCassette(calls)).build():
        stack.enter_context(patcher)
    return stack


def _modern(request: Any) -> httpx2.Request:
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    headers = {str(k): str(v) for k, v in dict(request.headers).items()}
    return httpx2.Request(request.method, request.uri, headers=headers, content=body or b"")


def _bytes(response: RecordedResponse) -> bytes:
    if response.events is None:
        return body_bytes(response)
    from pytest_seeded.wire import encode_sse

    return b"".join(encode_sse(response.events))


def _vcr_response(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return {
        "status": {"code": status, "message": reason},
        "headers": {"content-type": [content_type], "content-length": [str(len(body))]},
        "body": {"string": body},
    }


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)
