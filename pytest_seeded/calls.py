"""One test's calls: what each mode does with a request, and what the test is told.

A request reaches this module from a transport seam (transport.py) as an ``httpx2.Request``,
whichever client sent it; it leaves as an answer from the snapshot, a refusal, or a slot for the
transport to fill with the server's answer. Nothing here does I/O, and sync and async clients
share all of it.

What each mode does with a request (the one place to read it):

============  ===========================================================================
replay        answered from the snapshot; a request it does not hold fails the test
record        sent; the answers are written as the test's snapshot if the test passes
record-new    answered from the snapshot where it can; the rest is sent, and the test is
              recorded anew
live          sent; each LLM answer is judged against the snapshot (live.py); nothing is
              written unless the drift policy says "record"
============  ===========================================================================

An LLM call (endpoints.py) is seeded with the run's seed where its API takes one. The test's
other HTTP is never seeded or compared, but is recorded and replayed with its test the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2
import pytest

from pytest_seeded import live
from pytest_seeded.determinism import Sample
from pytest_seeded.endpoints import (
    SDK_OTHER,
    Endpoint,
    add_tokens,
    classify,
    identity_of,
    is_telemetry,
    output_of,
    seeded,
    sent_by_sdk,
)
from pytest_seeded.forms import stored_body
from pytest_seeded.ids import ServerIds
from pytest_seeded.ledger import Ledger, request_text
from pytest_seeded.scrub import public_path, public_url, scrub_fields, scrub_values, sent_secrets
from pytest_seeded.settings import Mode, TestSettings
from pytest_seeded.snapshot import (
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    RecordedCall,
    RecordedRequest,
    RecordedResponse,
    Recording,
)
from pytest_seeded.stats import CallStats
from pytest_seeded.verdicts import Outcome, Verdict, refusal_body
from pytest_seeded.wire import SSEParser


@dataclass(frozen=True)
class Prepared:
    """A request as it is sent (seeded) and as it is stored and matched (scrubbed)."""

    request: httpx2.Request
    recorded: RecordedRequest
    # The LLM API it calls; None for the test's other HTTP.
    endpoint: Endpoint | None
    # The credentials the request carried (none in replay: nothing is stored there).
    secrets: frozenset[str] = frozenset()

    @property
    def is_llm(self) -> bool:
        return self.endpoint is not None


class OpenStream(Protocol):
    """A live stream handed to the test (transport.py): read to its end at teardown at the
    latest."""

    @property
    def capture(self) -> StreamCapture: ...

    @property
    def is_async(self) -> bool: ...

    def drain(self) -> None: ...


# Error statuses never recorded: transient, or about the environment rather than the test.
_NOT_RECORDED = frozenset({401, 403, 407, 408, 409, 425, 429})


def _sample(endpoint: Endpoint, response: RecordedResponse) -> Sample:
    fingerprint, model = identity_of(endpoint, response)
    vectors = endpoint.vectors(response) if endpoint.vectors is not None else None
    return Sample(fingerprint or model, output_of(endpoint, response), vectors)


def _api(endpoint: Endpoint | None) -> str:
    return "http" if endpoint is None else endpoint.name


class TestCalls:
    """Every call one test makes, answered according to the mode."""

    __test__ = False  # not a test class, whatever pytest's collection thinks of the name

    def __init__(
        self,
        *,
        item: pytest.Item,
        mode: Mode,
        settings: TestSettings,
        repeat: int = 1,
        min_agreement: float = 1.0,
        scrub: frozenset[str] = frozenset(),
        snapshot_path: str,
        recorded: Recording | None,
        rerecord_command: Callable[[], str] = lambda: "pytest --llm-mode=record",
        passthrough: frozenset[str] = frozenset(),
    ) -> None:
        self.item = item
        # item.ihook builds a hook proxy on every access: take it once per test.
        self.hook = item.ihook
        self.mode = mode
        self.settings = settings
        self.seed = settings.seed
        self.repeat = repeat if mode != "replay" else 1
        self.min_agreement = min_agreement
        self.scrub = scrub
        self.nodeid = item.nodeid
        self.snapshot_path = snapshot_path
        self.recorded = recorded
        self.ledger = Ledger(recorded)
        # Hosts (host or host:port) whose requests pass untouched: llm_passthrough_hosts.
        self.passthrough = passthrough
        # What a message tells the user to run to re-record this test (hints.py): made only
        # when a message needs it.
        self._rerecord_command = rerecord_command
        # record-new: why a call cannot go out (no key for api.openai.com), said when one must.
        self.cannot_call: str | None = None
        # Set when the drift policy says "record": live calls are written at teardown.
        self.rerecord = False
        # The test's call phase outcome ("passed", "failed", "skipped"), set when pytest reports
        # it; None if the test never got that far. A test that did not pass records nothing.
        self.outcome: str | None = None
        self.stats = CallStats()
        # What the calls decided about the test (verdicts.py); the call phase's report says
        # the strongest, teardown any that came later.
        self.verdicts: list[Verdict] = []
        self.verdicts_reported = 0
        self.open_streams: list[OpenStream] = []
        # live: the ids the server made this run, for the recorded ones (ids.py).
        self.ids = ServerIds()

    # -- a request comes in ---------------------------------------------------------------

    def passes_through(self, request: httpx2.Request) -> bool:
        """Whether the request goes out untouched: telemetry outside replay, and other HTTP to
        a host named in llm_passthrough_hosts (alone, or with its port). An LLM call is never
        let through unrecorded, whatever its host."""
        url = request.url
        if is_telemetry(url.host, url.path):
            return self.mode != "replay"
        if not self.passthrough:
            return False
        if url.host not in self.passthrough and f"{url.host}:{url.port}" not in self.passthrough:
            return False
        body = stored_body(request.read(), request.headers.get("content-type", ""))
        return classify(request.method, url.path, body) is None and not sent_by_sdk(request.headers)

    def prepare(self, request: httpx2.Request, *, seed: bool = True) -> Prepared:
        """The request as it is sent and as it is stored. ``seed=False`` for a client whose
        request cannot be changed on its way out (transport_vcr.py): stored as sent."""
        raw = request.read()
        body = stored_body(raw, request.headers.get("content-type", ""))
        url = request.url
        endpoint = classify(request.method, url.path, body)
        if endpoint is None and sent_by_sdk(request.headers):
            endpoint = SDK_OTHER
        new_body = seeded(endpoint, body, self.seed) if endpoint is not None and seed else None
        if new_body is not None and raw.lstrip()[:1] == b"{":
            body = new_body
        else:
            new_body = None
        # Replay sends nothing, so only the stored form of the request is needed.
        if self.mode != "replay":
            headers = request.headers.copy()
            # Ask for plain bytes: what is recorded must be readable, and decoding a
            # compressed stream chunk by chunk is work for nothing.
            headers["accept-encoding"] = "identity"
            if new_body is not None:
                headers.pop("content-length", None)
                request = httpx2.Request(
                    request.method,
                    url,
                    headers=headers,
                    content=json.dumps(new_body).encode(),
                    extensions=request.extensions,
                )
            else:
                request.headers = headers
        # What is sent is encoded already: the scrub hook may change the stored form freely.
        where = (
            public_path(url, self.scrub) if endpoint is not None else public_url(url, self.scrub)
        )
        stored = {"method": request.method, "path": where, "body": scrub_fields(body, self.scrub)}
        self.hook.pytest_seeded_scrub(request=stored, response=None)
        recorded = RecordedRequest(
            str(stored["method"]), str(stored["path"]), stored["body"], is_http=endpoint is None
        )
        secrets = sent_secrets(request) if self.mode != "replay" else frozenset()
        return Prepared(request, recorded, endpoint, secrets)

    def answer_offline(self, prepared: Prepared) -> RecordedResponse | httpx2.Response | None:
        """The answer from the snapshot where the mode gives one (a recorded response, or a
        refusal that fails the test); None to send the request."""
        if self.mode == "replay":
            url = prepared.request.url
            if is_telemetry(url.host, url.path):
                # Never recorded (passes_through sends it in the other modes), never sent here.
                return httpx2.Response(204, request=prepared.request)
            call = self.ledger.take(prepared.recorded)
            if call is None:
                # Replay reserves no slot: this is the call after the ones answered so far.
                return self._refuse(self._missing(prepared, self.ledger.used + 1), prepared)
            return self._replayed(call, prepared.endpoint)
        if self.mode != "record-new":
            return None
        # record-new: what the snapshot answers is replayed (and kept in the new recording);
        # the rest is sent, and the test is recorded anew at teardown.
        call = self.ledger.take(prepared.recorded)
        if call is not None:
            self.ledger.fill(self.ledger.reserve(), call, live=False)
            return self._replayed(call, prepared.endpoint)
        if self.recorded is None:
            reason = "no snapshot"
        else:
            reason = f"the request of call #{self.ledger.made + 1} is not in the snapshot"
        if reason not in self.stats.recorded_because:
            self.stats.recorded_because.append(reason)
        if self.cannot_call and prepared.is_llm:
            return self._refuse(self.cannot_call, prepared)
        return None

    def _replayed(self, call: RecordedCall, endpoint: Endpoint | None) -> RecordedResponse:
        self.stats.note(self.ledger.used, _api(endpoint), "replayed", call.identity)
        if endpoint is None:
            self.stats.http_replayed += 1
        else:
            self.stats.replayed += 1
            add_tokens(self.stats.tokens_saved, endpoint, call.response)
        return call.response

    def reserve(self) -> int:
        return self.ledger.reserve()

    def drop(self, slot: int) -> None:
        """The attempt failed (a refused connection): the client may retry it."""
        self.ledger.drop(slot)

    def keeps(self, prepared: Prepared, status: int) -> bool:
        """Whether an answer with this status is part of the test's recording. An LLM API's
        final answer to a bad request (400, 404, 422: a test of a fallback handles it) is
        recorded like any answer; a transient failure (408, 409, 425, 429, 5xx) or one of the
        environment (401, 403, 407: credentials) is not, and its slot stays free for the
        client's retry. The other HTTP's answers are recorded whatever they say."""
        if not prepared.is_llm or 200 <= status < 300:
            return True
        return 400 <= status < 500 and status not in _NOT_RECORDED

    # -- the answer comes back ------------------------------------------------------------

    def sample(self, endpoint: Endpoint, content_type: str, status: int, body: bytes) -> Sample:
        """(fingerprint, output) of one repeated answer (--llm-repeat), read whole."""
        if content_type == SSE_CONTENT_TYPE:
            parser = SSEParser()
            parser.feed(body)
            parser.close()
            recorded = RecordedResponse(status, SSE_CONTENT_TYPE, events=parser.events)
        else:
            recorded = body_response(content_type, status, body)
        add_tokens(self.stats.tokens_spent, endpoint, recorded)
        return _sample(endpoint, recorded)

    def complete(
        self,
        prepared: Prepared,
        slot: int,
        response: RecordedResponse,
        extra: list[Sample],
    ) -> None:
        """A sent request's whole answer: kept for the recording, and judged in live mode."""
        if prepared.endpoint is not None:
            add_tokens(self.stats.tokens_spent, prepared.endpoint, response)
        stored = response.to_json()
        for key in ("body", "events"):
            if key in stored:
                # A server or gateway may echo the request's credentials in its answer.
                stored[key] = scrub_values(scrub_fields(stored[key], self.scrub), prepared.secrets)
        self.hook.pytest_seeded_scrub(request=prepared.recorded.to_json(), response=stored)
        response = RecordedResponse(
            int(stored["status"]),
            str(stored["content_type"]),
            body=stored.get("body"),
            events=stored.get("events"),
        )
        endpoint = prepared.endpoint
        if endpoint is None:  # the test's other HTTP
            self.ledger.fill(slot, RecordedCall(prepared.recorded, response, None, ""), live=True)
            self.stats.note(slot + 1, "http", "sent" if self.mode == "live" else "recorded")
            return
        fingerprint, model = identity_of(endpoint, response)
        call = RecordedCall(
            prepared.recorded, response, fingerprint, output_of(endpoint, response), model
        )
        self.ledger.fill(slot, call, live=True)
        if self.mode != "live":
            self.stats.note(slot + 1, endpoint.name, "recorded", call.identity)
        if extra:
            live.agreement(self, slot + 1, [_sample(endpoint, response), *extra])
        if self.mode == "live":
            live.check(self, prepared, slot + 1, call)

    def expected_for(self, prepared: Prepared) -> RecordedCall | None:
        """live: the recorded call a live answer is judged against; None (and the test fails)
        when the snapshot holds none for the request. Ids the server made earlier in the test
        are matched as the recorded ones (ids.py)."""
        call = self.ledger.take(self.ids.translate(prepared.recorded))
        if call is None:
            # The test goes on with the live answer; it fails when pytest reports it.
            self.decide("failed", self._missing(prepared, self.ledger.made))
        return call

    def stream_capture(
        self,
        prepared: Prepared,
        slot: int,
        status: int,
        extra: list[Sample],
        decompress: Any = None,
    ) -> StreamCapture:
        return StreamCapture(self, prepared, slot, status, extra, decompress)

    def incomplete_stream(self, slot: int, events: int, end: str) -> None:
        self.decide(
            "failed",
            f"pytest-seeded: the stream of call #{slot + 1} of {self.nodeid} ended after "
            f"{events} events without its {end}: the server stopped early and the answer may "
            "be cut short. Nothing of this test was recorded; the snapshot "
            f"on disk ({self.snapshot_path}) is unchanged.",
        )

    # -- verdicts -------------------------------------------------------------------------

    @functools.cached_property
    def rerecord_command(self) -> str:
        return self._rerecord_command()

    @property
    def rerecord_hint(self) -> str:
        return f"Re-record it with: {self.rerecord_command}"

    def decide(self, outcome: Outcome, message: str) -> None:
        """Record a verdict about this test: reported when pytest reports it (verdicts.py)."""
        self.verdicts.append(Verdict(outcome, message))

    def _refuse(self, message: str, prepared: Prepared) -> httpx2.Response:
        """Fail the test, and the call in a way every SDK gives up on at once: an HTTP 400."""
        self.decide("failed", message)
        return httpx2.Response(
            400,
            headers={"content-type": JSON_CONTENT_TYPE},
            content=refusal_body(message),
            request=prepared.request,
        )

    def _missing(self, prepared: Prepared, number: int) -> str:
        """Count a request the snapshot does not hold, and say why."""
        message = self._unmatched_message(prepared.recorded)
        self.stats.missing += 1
        self.stats.note(number, _api(prepared.endpoint), "missing", why=message)
        return message

    def _unmatched_message(self, wanted: RecordedRequest) -> str:
        if self.recorded is None:
            return (
                f"pytest-seeded: no snapshot for {self.nodeid} with seed {self.seed}.\n"
                f"Expected: {self.snapshot_path}\n"
                f"Record it with: {self.rerecord_command}"
            )
        if wanted.is_http:
            return (
                f"pytest-seeded: {self.nodeid} made a request its snapshot does not hold: "
                f"{wanted.method} {wanted.path}\nIn replay nothing leaves the process. "
                f"Snapshot: {self.snapshot_path}\n{self.rerecord_hint}\nIf this host should "
                "be reached in every mode (a local service), add it to the "
                "llm_passthrough_hosts ini option."
            )
        diff = self.ledger.why_unmatched(wanted)
        if diff is None:
            return (
                f"pytest-seeded: {self.nodeid} made more calls than its snapshot holds "
                f"({self.ledger.size} recorded, seed {self.seed}).\n"
                f"Snapshot: {self.snapshot_path}\nUnrecorded request:\n"
                f"{request_text(wanted)}\n{self.rerecord_hint}"
            )
        return (
            f"pytest-seeded: a request of {self.nodeid} does not match its snapshot "
            f"(seed {self.seed}); the prompt, model, parameters or seed changed.\n"
            f"Snapshot: {self.snapshot_path}\n{diff}{self.rerecord_hint}"
        )

    # -- teardown -------------------------------------------------------------------------

    def check_all_used(self) -> None:
        """Fail a test that made fewer calls than its snapshot holds: the test changed since it
        was recorded, or the file was edited (a call pasted twice, a bad merge). Either way the
        snapshot no longer describes the test, and replay would hide it. A live run sends the
        other HTTP for real, so only its LLM calls are held to the snapshot."""
        left = self.ledger.unused()
        if self.mode == "live" and self.recorded is not None:
            left = [n for n in left if not self.recorded.calls[n - 1].is_http]
        if not left:
            return
        made = self.ledger.used
        size = self.ledger.size
        pytest.fail(
            f"pytest-seeded: {self.nodeid} made {made} call{'s' * (made != 1)}, but its snapshot "
            f"holds {size} (seed {self.seed}): recorded call"
            f"{'s' * (len(left) != 1)} #{', #'.join(map(str, left))} went unused. The test "
            "changed since it was recorded, or the file was edited.\n"
            f"Snapshot: {self.snapshot_path}\n{self.rerecord_hint}",
            pytrace=False,
        )

    def finish_streams(self) -> None:
        """At teardown: read the rest of every stream the test left unread and unclosed, so it
        is recorded or compared within its own test; an async one cannot be read without the
        test's event loop, so it fails the test, saying how to close it."""
        for stream in self.open_streams:
            capture = stream.capture
            if capture.done:
                continue
            if stream.is_async:
                self.decide(
                    "failed",
                    f"pytest-seeded: the stream of call #{capture.slot + 1} of {self.nodeid} was "
                    "neither read to its end nor closed, so it was not recorded or compared. "
                    "Read it to the end, or close it in the test (`async with` the stream, or "
                    "`await stream.close()`).",
                )
                continue
            try:
                stream.drain()
            except Exception as exc:
                self.decide(
                    "failed",
                    f"pytest-seeded: the stream of call #{capture.slot + 1} of {self.nodeid} was "
                    f"left unread; reading the rest of it at teardown failed ({exc!r}), so it was "
                    "not recorded or compared.",
                )

    @property
    def made(self) -> int:
        return self.ledger.made

    def writes_snapshot(self) -> bool:
        """Whether this test's snapshot is (re-)written at teardown, if the test passes."""
        if self.mode == "record" or self.rerecord:
            return True
        if self.mode != "record-new":
            return False
        left = len(self.ledger.unused())
        if self.recorded is not None and left and not self.stats.recorded_because:
            self.stats.recorded_because.append(
                f"the snapshot holds {left} call{'s' * (left != 1)} the test no longer makes"
            )
        return bool(self.stats.recorded_because)

    def finished_calls(self) -> list[RecordedCall] | None:
        return self.ledger.finished_calls()


class StreamCapture:
    """Keeps what passes through a live stream and completes the call when it ends."""

    def __init__(
        self,
        calls: TestCalls,
        prepared: Prepared,
        slot: int,
        status: int,
        extra: list[Sample],
        decompress: Any,
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
            self._calls.incomplete_stream(self.slot, len(events), endpoint.stream_end)
            return
        recorded = RecordedResponse(self._status, SSE_CONTENT_TYPE, events=events)
        self._calls.complete(self._prepared, self.slot, recorded, self._extra)


def body_response(content_type: str, status: int, body: bytes) -> RecordedResponse:
    """A whole (not streamed) answer as it is stored: JSON as JSON, text as text, and bytes that
    are not UTF-8 text as base64, so they replay byte for byte."""
    content_type = content_type or JSON_CONTENT_TYPE
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return RecordedResponse(
            status, content_type, body={"base64": base64.b64encode(body).decode()}
        )
    parsed: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return RecordedResponse(status, content_type, body=parsed)
