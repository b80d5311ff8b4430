"""The one core every adapter hands its requests to, sans I/O: ``begin`` says whether a request
is answered here (from the snapshot, or refused) or sent, and an ``Outgoing`` takes what the
server answered. The sync and async shells below differ only in ``await``.

vcrpy is not used, after measuring and attacking it: it patches dozens of classes per cassette
(about 3.6 ms a call against 0.8 ms here), reads a whole stream before handing it on (a stream
closed early hung), cannot change what is sent (seeding must), un-patches process-wide while a
thread connects (force_reset: threads' requests went unrecorded), decoded gzip twice on
requests and aiohttp, and its http.client stand-in swallowed exceptions raised under
``with urlopen(...)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx2

from pytest_seeded.apis.wire import NDJSON
from pytest_seeded.calls import passes_through
from pytest_seeded.capture.probes import served
from pytest_seeded.capture.routing import Owner, Stray, note_stray, owner
from pytest_seeded.capture.streams import (
    AsyncTeeStream,
    StreamCapture,
    TeeStream,
    decompressor,
    replay_response,
)
from pytest_seeded.errors import NetworkInReplayError
from pytest_seeded.exchange import Prepared, body_response, meaningful_headers
from pytest_seeded.storage.snapshot import SSE_CONTENT_TYPE

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls
    from pytest_seeded.determinism import Sample

# Set while the core sends a request for real: a transport below it (aiohttp's, under
# DefaultAioHttpClient or litellm) may be one another adapter patches too (aiohttp_seam.py),
# and the request must be handled once, not twice.
SENDING: ContextVar[bool] = ContextVar("pytest_seeded_sending", default=False)


def claimed() -> Owner | None:
    """The owner of a request a lower-level adapter (urllib3, urllib, aiohttp) sees, unless
    the core is sending it already."""
    return None if SENDING.get() else owner()


SyncSend = Callable[[httpx2.Request], httpx2.Response]
AsyncSend = Callable[[httpx2.Request], Awaitable[httpx2.Response]]


@dataclass
class Outgoing:
    """A request the mode sends: its slot in the recording, and the extra answers
    --llm-repeat asks for."""

    calls: TestCalls
    prepared: Prepared
    slot: int
    extra: list[Sample] = field(default_factory=list)

    @property
    def request(self) -> httpx2.Request:
        return self.prepared.request

    def repeats(self) -> list[httpx2.Request]:
        """The extra copies --llm-repeat sends first (LLM calls only), each on a connection of
        its own: the repeats follow each other at once, and on a pooled connection that a
        server (llama.cpp's) closes after a stream, the next one could go out before the close
        arrived and fail with "Server disconnected without sending a response"."""
        if not self.prepared.is_llm:
            return []
        request = self.request
        headers = request.headers.copy()
        headers["connection"] = "close"
        return [
            httpx2.Request(
                request.method,
                request.url,
                headers=headers,
                content=request.read(),
                extensions=request.extensions,
            )
            for _ in range(self.calls.repeat - 1)
        ]

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Around the sends: a failed attempt (a refused connection) frees its slot, for the
        client's retry."""
        token = SENDING.set(True)
        try:
            yield
        except BaseException as exc:
            self.calls.drop(self.slot, self.prepared, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            SENDING.reset(token)

    def sample(self, response: httpx2.Response, body: bytes) -> None:
        """One of --llm-repeat's extra answers, read whole."""
        assert self.prepared.endpoint is not None  # only LLM calls are repeated
        self.extra.append(
            self.calls.sample(
                self.prepared.endpoint, content_type(response), response.status_code, body
            )
        )

    def kept(self, response: httpx2.Response) -> bool:
        """Whether the answer is part of the recording; a transient failure frees the slot."""
        if self.calls.keeps(self.prepared, response.status_code):
            return True
        self.calls.drop(self.slot, self.prepared, f"HTTP {response.status_code}")
        return False

    def is_stream(self, response: httpx2.Response) -> bool:
        """SSE from anyone; newline-delimited JSON from an LLM API (Ollama's streams). A tool's
        NDJSON answer is kept as its bytes, read whole."""
        kind = content_type(response)
        return kind == SSE_CONTENT_TYPE or (kind in NDJSON and self.prepared.is_llm)

    def tee(
        self, response: httpx2.Response, stream_class: type[TeeStream] | type[AsyncTeeStream]
    ) -> httpx2.Response:
        """The answer handed on as a stream that keeps a copy; the call completes at its end."""
        capture = StreamCapture(
            self.calls,
            self.prepared,
            self.slot,
            response.status_code,
            self.extra,
            decompressor(response.headers.get("content-encoding", "")),
            content_type(response),
        )
        stream = stream_class(response, capture)
        self.calls.open_streams.append(stream)
        return rebuilt(response, self.request, stream)

    def whole(self, response: httpx2.Response, body: bytes) -> httpx2.Response:
        """A whole answer, read (and decoded, once) by the client library: kept, and handed on."""
        recorded = body_response(
            content_type(response),
            response.status_code,
            body,
            loose=self.prepared.is_llm,
            headers=meaningful_headers(response.headers),
        )
        self.calls.complete(self.prepared, self.slot, recorded, self.extra)
        return rebuilt(response, self.request, httpx2.ByteStream(body))


def begin(
    calls: Owner, request: httpx2.Request, *, is_async: bool
) -> httpx2.Response | Outgoing | None:
    """What becomes of a request: None to send it untouched (passthrough, telemetry, a stray in
    a run that sends), the answer to hand back (from the snapshot, or a refusal), or an
    Outgoing to send."""
    if isinstance(calls, Stray):
        stray(calls, request)
        return None
    if passes_through(request, calls.rules.sends, calls.passthrough):
        return None
    prepared = calls.prepare(request)
    offline = calls.answer_offline(prepared)
    if isinstance(offline, httpx2.Response):
        return offline
    if offline is not None:
        return replay_response(offline, prepared.request, is_async=is_async)
    if prepared.endpoint is not None and prepared.endpoint.probe is not None:
        found = served(prepared.endpoint, prepared.request, prepared.recorded.body)
        prepared = dataclasses.replace(prepared, served=found)
    return Outgoing(calls, prepared, calls.reserve())


def stray(found: Stray, request: httpx2.Request) -> None:
    """A request no running test owns: refused where its test answers from the snapshot (no
    snapshot holds it), sent and noted otherwise."""
    url = request.url
    what = f"{request.method} {url.scheme}://{url.netloc.decode()}{url.path}"
    if passes_through(request, found.calls.rules.sends, found.calls.passthrough):
        return None
    if found.refused:
        raise NetworkInReplayError(
            f"pytest-seeded: {what} was refused: it was made by {found.why}, outside any test's "
            "window, and in replay nothing leaves the process. Join the thread (or await the "
            "task) before the test ends, or make the fixture that sends it function-scoped."
        )
    note_stray(found, what)
    return None


def handle(calls: Owner, request: httpx2.Request, send: SyncSend) -> httpx2.Response:
    step = begin(calls, request, is_async=False)
    if step is None:
        return send(request)
    if isinstance(step, httpx2.Response):
        return step
    with step.sending():
        for repeat in step.repeats():
            answer = send(repeat)
            step.sample(answer, answer.read())
        response = send(step.request)
    if not step.kept(response):
        return response
    if step.is_stream(response):
        return step.tee(response, TeeStream)
    # read() decodes any content-encoding already: decoding again broke gzip answers.
    return step.whole(response, response.read())


async def ahandle(calls: Owner, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
    step = begin(calls, request, is_async=True)
    if step is None:
        return await send(request)
    if isinstance(step, httpx2.Response):
        return step
    with step.sending():
        for repeat in step.repeats():
            answer = await send(repeat)
            step.sample(answer, await answer.aread())
        response = await send(step.request)
    if not step.kept(response):
        return response
    if step.is_stream(response):
        return step.tee(response, AsyncTeeStream)
    return step.whole(response, await response.aread())


def content_type(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def rebuilt(
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
