"""The clients outside httpx (requests, urllib3, urllib's http.client, aiohttp used directly,
boto3, tornado, httplib2), caught by vcrpy's patches and answered from the test's own ledger.

vcrpy patches each of those libraries at its connection class and asks a cassette what to do
with each request. The cassette here holds nothing itself: it hands every request to the running
test's calls (calls.py), so these requests are matched, recorded, replayed and refused exactly as
the httpx seams' are, in the same file. vcrpy cannot change what is sent, so a request made this
way is never seeded (an LLM call through requests is recorded as it was sent), and it reads a
streamed answer whole before handing it on; the httpx seams are used for httpx and httpx2,
which is where LLM SDKs send their calls. vcrpy's patch builder is not public API: vcrpy is
bounded below its next major version in pyproject.toml.
"""

from __future__ import annotations

import contextlib
import http
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx2

from pytest_seeded.capture.core import SENDING
from pytest_seeded.capture.streams import StreamCapture, recorded_bytes
from pytest_seeded.exchange import Prepared, body_response
from pytest_seeded.storage.snapshot import SSE_CONTENT_TYPE

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls


class LedgerCassette:
    """What vcrpy's stubs ask of a cassette, answered by one test's calls."""

    # httpx and httpx2 go through the plugin's own seam (httpx2_seam.py, httpx_seam.py).
    skip_patchers = ("httpx", "httpx2")
    custom_patches = ()

    def __init__(self, calls: TestCalls) -> None:
        self._calls = calls
        self._path = calls.nodeid
        # The answer can_play_response_for found, handed out by play_response.
        self._answer: dict[str, Any] | None = None

    @property
    def write_protected(self) -> bool:
        # Asked only of a request can_play_response_for declined; when nothing is sent (replay)
        # that is one to a passthrough host, which filter_request lets through.
        return not self._calls.rules.sends

    def filter_request(self, request: Any) -> Any:
        if SENDING.get() or self._calls.passes_through(_modern(request)):
            return None
        return request

    def can_play_response_for(self, request: Any) -> bool:
        if SENDING.get():  # sent by the httpx seams' core, which handles it (core.py)
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
            self._answer = _vcr_response(answer.status, answer.content_type, recorded_bytes(answer))
        return True

    def play_response(self, request: Any) -> dict[str, Any]:
        answer, self._answer = self._answer, None
        assert answer is not None, "vcrpy played a response it did not ask for"
        return answer

    def append(self, request: Any, response: dict[str, Any]) -> None:
        """A request went out and its whole answer came back: keep it like any other."""
        calls = self._calls
        modern = _modern(request)
        # Sent by the httpx seams' core (which keeps it), or to a passthrough or telemetry
        # host (never recorded).
        if SENDING.get() or calls.passes_through(modern):
            return
        prepared: Prepared = calls.prepare(modern, seed=False)
        status = int(response["status"]["code"])
        if not calls.keeps(prepared, status):
            calls.drop(calls.reserve(), prepared, f"HTTP {status}")
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
            capture = StreamCapture(calls, prepared, slot, status, [])
            capture.take(body)
            capture.finish()
        else:
            calls.complete(prepared, slot, body_response(content_type, status, body), [])


class _VcrClients:
    """requests, urllib3, http.client, aiohttp, boto3, tornado, httplib2: vcrpy's patches."""

    name = "requests, urllib3, urllib, aiohttp (through vcrpy)"

    def applies(self, calls: TestCalls) -> bool:
        # Entering vcrpy's patches costs about 0.6 ms a test: a run that sends enters them
        # always; one that does not (replay) only when its recording holds other HTTP (without
        # them the network guard still fails a test whose client went around).
        recorded = calls.ledger.recorded
        return calls.rules.sends or (
            recorded is not None and any(call.is_http for call in recorded.calls)
        )

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        from vcr.patch import CassettePatcherBuilder  # type: ignore[import-untyped]
        from vcr.stubs import VCRHTTPResponse  # type: ignore[import-untyped]

        stack = contextlib.ExitStack()
        try:
            for patcher in CassettePatcherBuilder(LedgerCassette(calls)).build():
                stack.enter_context(patcher)
            # vcrpy's stand-in for http.client's response returns True from close(), and
            # urllib's `with urlopen(...) as r:` returns close()'s value from __exit__: an
            # exception raised in that block (a failing assert) was swallowed.
            original_close = VCRHTTPResponse.close
            VCRHTTPResponse.close = _close_returning_none(original_close)
            stack.callback(setattr, VCRHTTPResponse, "close", original_close)
        except BaseException:
            stack.close()
            raise
        return stack.close


ADAPTER = _VcrClients()


def _close_returning_none(close: Any) -> Any:
    def closed(self: Any) -> None:
        close(self)

    return closed


def _modern(request: Any) -> httpx2.Request:
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    headers = {str(k): str(v) for k, v in dict(request.headers).items()}
    return httpx2.Request(request.method, request.uri, headers=headers, content=body or b"")


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
