"""Where requests are seeded and answered: at the HTTP transport, the one seam every openai call
shape passes through (plain, ``stream=True``, ``.stream()``, ``.parse()``, ``with_options()``,
async).

The fixture clients get a transport of their own. Clients that the code under test builds
itself are reached by patching httpx2's two default transports while a test uses the plugin;
only requests the openai SDK sent are touched, everything else passes through.

vcrpy is not used here, after measuring it: it patches dozens of classes per cassette (about
3.6 ms a call against 0.8 ms for an in-memory transport) and reads a whole stream before handing
it on, so a live stream would stop being a stream. One transport wrapper does both jobs without
either cost, and the files belong to syrupy.
"""

from __future__ import annotations

import functools
import json
import ssl
import warnings
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from pytest_seeded.compare import Comparison, compare, unified_diff
from pytest_seeded.determinism import measure
from pytest_seeded.forms import stored_body
from pytest_seeded.scrub import public_path, scrub_fields, scrub_values, sent_secrets
from pytest_seeded.session import COUNT_NAMES, JSON_PROPERTIES, USER_PROPERTY
from pytest_seeded.settings import DRIFT_POLICIES, Mode, TestSettings
from pytest_seeded.snapshot import (
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    LLMCall,
    RecordedCall,
    RecordedRequest,
    RecordedResponse,
    Recording,
)
from pytest_seeded.verdicts import Outcome, Verdict, refusal_body
from pytest_seeded.wire import (
    Choice,
    SSEParser,
    body_choices,
    body_fingerprint,
    encode_sse,
    render,
    stream_choices,
    stream_fingerprint,
    usage_tokens,
)

SEEDED_PATH_SUFFIXES = ("/chat/completions", "/completions")

_ORIGINAL_SYNC = httpx2.HTTPTransport.handle_request
_ORIGINAL_ASYNC = httpx2.AsyncHTTPTransport.handle_async_request

SyncSend = Callable[[httpx2.Request], httpx2.Response]
AsyncSend = Callable[[httpx2.Request], Awaitable[httpx2.Response]]


@dataclass
class CallStats:
    """What happened to one test's calls; carried to the report through user_properties."""

    recorded: int = 0
    replayed: int = 0
    matched: int = 0
    mismatched: int = 0
    drifted: int = 0
    rerecorded: int = 0
    missing: int = 0
    unreadable: int = 0
    # What happened to the test's snapshot file (at most one of these is 1).
    file_new: int = 0
    file_changed: int = 0
    file_unchanged: int = 0
    file_replayed: int = 0
    # --llm-mode=record-new: why this test was (re-)recorded.
    recorded_because: list[str] = field(default_factory=list)
    drifts: list[tuple[str | None, str | None]] = field(default_factory=list)
    determinism: list[dict[str, Any]] = field(default_factory=list)
    tokens_spent: dict[str, int] = field(default_factory=dict)
    tokens_saved: dict[str, int] = field(default_factory=dict)

    def as_properties(self, mode: str, seed: int) -> list[tuple[str, int | str]]:
        """The test's user properties: one plain name/value pair each, as JUnit XML and CI
        tools show them (numbers, or JSON text for lists and maps), and as they cross from
        pytest-xdist workers to the controller. Only what happened: pytest keeps every
        report until the run ends."""
        pairs: list[tuple[str, int | str]] = [
            (f"{USER_PROPERTY}.mode", mode),
            (f"{USER_PROPERTY}.seed", seed),
        ]
        for name in COUNT_NAMES:
            value = getattr(self, name)
            if value:
                pairs.append((f"{USER_PROPERTY}.{name}", value))
        for name in JSON_PROPERTIES:
            value = getattr(self, name)
            if value:
                # drifts are tuples: JSON makes them lists, as the session reads them.
                pairs.append((f"{USER_PROPERTY}.{name}", json.dumps(value)))
        return pairs


def _add_tokens(into: dict[str, int], response: RecordedResponse) -> None:
    usage = usage_tokens(response.events if response.events is not None else response.body)
    if usage is not None:
        model, tokens = usage
        into[model] = into.get(model, 0) + tokens


@dataclass(frozen=True)
class _Prepared:
    request: httpx2.Request
    recorded: RecordedRequest
    is_completion: bool
    # The credentials the request carried (none in replay: nothing is stored there).
    secrets: frozenset[str] = frozenset()


def is_sdk_request(request: httpx2.Request) -> bool:
    """Whether the openai SDK sent this request (it always adds its x-stainless-* headers)."""
    headers = request.headers
    return "x-stainless-lang" in headers or headers.get("user-agent", "").startswith("OpenAI/")


class TestCalls:
    """Every LLM call one test makes, answered according to the mode."""

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
        # What a message tells the user to run to re-record this test (hints.py): made only
        # when a message needs it.
        self._rerecord_command = rerecord_command
        # record-new: why a call cannot go out (no key for api.openai.com), said when one must.
        self.cannot_call: str | None = None
        self._used = [False] * (len(recorded.calls) if recorded else 0)
        # Slots in request order, filled when each response is complete, so concurrent calls
        # are written in the order the test made them. A slot whose attempt failed (an error
        # status the client may retry, a refused connection) is dropped, not left open.
        self.new_calls: dict[int, RecordedCall] = {}
        self._pending: set[int] = set()
        self._next_slot = 0
        # Each slot's first slot among the calls open at the same time: concurrent calls
        # reach the server in the scheduler's order, so they are stored by request instead,
        # and a re-record does not reorder the file.
        self._group: dict[int, int] = {}
        # Slots answered by the model (not from the snapshot, as record-new may).
        self.live_slots: set[int] = set()
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
        # Live streams handed to the test: each is read to its end at teardown at the latest.
        self.open_streams: list[_TeeStream | _AsyncTeeStream] = []

    # -- the two entry points -------------------------------------------------------------

    def handle(self, request: httpx2.Request, send: SyncSend) -> httpx2.Response:
        prepared = self._prepare(request)
        offline = self._answer_offline(prepared, is_async=False)
        if offline is not None:
            return offline
        slot = self._reserve()
        # --llm-repeat: the extra answers are read whole first, so the one the test gets can
        # still stream.
        extra: list[tuple[str | None, str]] = []
        try:
            for _ in range(self.repeat - 1):
                response = send(_closing(prepared.request))
                extra.append(self._sample(response, response.read()))
            response = send(prepared.request)
        except BaseException:
            self._pending.discard(slot)
            raise
        if not 200 <= response.status_code < 300:
            self._pending.discard(slot)
            return response
        if _content_type(response) == SSE_CONTENT_TYPE:
            stream = _TeeStream(response, _StreamCapture(response, self, prepared, slot, extra))
            self.open_streams.append(stream)
            return _rebuilt(response, prepared.request, stream)
        # read() decodes any content-encoding already: decoding again broke gzip answers.
        body = response.read()
        self._complete(prepared, slot, _json_response(response, body), extra)
        return _rebuilt(response, prepared.request, httpx2.ByteStream(body))

    async def ahandle(self, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
        prepared = self._prepare(request)
        offline = self._answer_offline(prepared, is_async=True)
        if offline is not None:
            return offline
        slot = self._reserve()
        extra: list[tuple[str | None, str]] = []
        try:
            for _ in range(self.repeat - 1):
                response = await send(_closing(prepared.request))
                extra.append(self._sample(response, await response.aread()))
            response = await send(prepared.request)
        except BaseException:
            self._pending.discard(slot)
            raise
        if not 200 <= response.status_code < 300:
            self._pending.discard(slot)
            return response
        if _content_type(response) == SSE_CONTENT_TYPE:
            stream = _AsyncTeeStream(
                response, _StreamCapture(response, self, prepared, slot, extra)
            )
            self.open_streams.append(stream)
            return _rebuilt(response, prepared.request, stream)
        body = await response.aread()
        self._complete(prepared, slot, _json_response(response, body), extra)
        return _rebuilt(response, prepared.request, httpx2.ByteStream(body))

    # -- shared steps ----------------------------------------------------------------------

    def _prepare(self, request: httpx2.Request) -> _Prepared:
        raw = request.read()
        body = stored_body(raw, request.headers.get("content-type", ""))
        path = request.url.path
        is_completion = request.method == "POST" and path.rstrip("/").endswith(SEEDED_PATH_SUFFIXES)
        seeded = is_completion and isinstance(body, dict) and "seed" not in body and _is_json(raw)
        if seeded:
            body = {**body, "seed": self.seed}
        # Replay sends nothing, so only the stored form of the request is needed.
        if self.mode != "replay":
            headers = request.headers.copy()
            # Ask for plain bytes: what is recorded must be readable, and decoding a
            # compressed stream chunk by chunk is work for nothing.
            headers["accept-encoding"] = "identity"
            if seeded:
                headers.pop("content-length", None)
                request = httpx2.Request(
                    request.method,
                    request.url,
                    headers=headers,
                    content=json.dumps(body).encode(),
                    extensions=request.extensions,
                )
            else:
                request.headers = headers
        # What is sent is encoded already: the scrub hook may change the stored form freely.
        stored = {
            "method": request.method,
            "path": public_path(request.url, self.scrub),
            "body": scrub_fields(body, self.scrub),
        }
        self.hook.pytest_seeded_scrub(request=stored, response=None)
        recorded = RecordedRequest(str(stored["method"]), str(stored["path"]), stored["body"])
        secrets = sent_secrets(request) if self.mode != "replay" else frozenset()
        return _Prepared(request, recorded, is_completion, secrets)

    def _answer_offline(self, prepared: _Prepared, *, is_async: bool) -> httpx2.Response | None:
        """The answer from the snapshot, where the mode gives one; None to call the model."""
        if self.mode == "replay":
            return self._replay(prepared, is_async=is_async)
        if self.mode != "record-new":
            return None
        # record-new: what the snapshot answers is replayed (and kept in the new recording);
        # the rest calls the model, and the test is recorded anew at teardown.
        found = self._find(prepared.recorded) if self.recorded is not None else None
        if found is not None:
            assert self.recorded is not None
            self._used[found] = True
            call = self.recorded.calls[found]
            slot = self._reserve()
            self.new_calls[slot] = call
            self._pending.discard(slot)
            return self._replay_response(call, prepared, is_async=is_async)
        if self.recorded is None:
            reason = "no snapshot"
        else:
            reason = f"the request of call #{self._next_slot + 1} is not in the snapshot"
        if reason not in self.stats.recorded_because:
            self.stats.recorded_because.append(reason)
        if self.cannot_call:
            return self._refuse(self.cannot_call, prepared)
        return None

    @functools.cached_property
    def rerecord_command(self) -> str:
        return self._rerecord_command()

    @property
    def rerecord_hint(self) -> str:
        return f"Re-record it with: {self.rerecord_command}"

    def decide(self, outcome: Outcome, message: str) -> None:
        """Record a verdict about this test: reported when pytest reports it (verdicts.py)."""
        self.verdicts.append(Verdict(outcome, message))

    def _refuse(self, message: str, prepared: _Prepared) -> httpx2.Response:
        """Fail the test, and the call in a way every SDK gives up on at once: an HTTP 400."""
        self.decide("failed", message)
        return httpx2.Response(
            400,
            headers={"content-type": JSON_CONTENT_TYPE},
            content=refusal_body(message),
            request=prepared.request,
        )

    def _reserve(self) -> int:
        slot = self._next_slot
        self._next_slot += 1
        self._group[slot] = self._group[min(self._pending)] if self._pending else slot
        self._pending.add(slot)
        return slot

    def _sample(self, response: httpx2.Response, raw: bytes) -> tuple[str | None, str]:
        """(fingerprint, output) of one repeated answer, for the determinism measure."""
        body = raw  # read whole by read()/aread(), which decode the content-encoding
        if _content_type(response) == SSE_CONTENT_TYPE:
            parser = SSEParser()
            parser.feed(body)
            parser.close()
            recorded = RecordedResponse(
                response.status_code, SSE_CONTENT_TYPE, events=parser.events
            )
        else:
            recorded = _json_response(response, body)
        _add_tokens(self.stats.tokens_spent, recorded)
        return _fingerprint_of(recorded), _output_of(recorded)

    def _find(self, wanted: RecordedRequest) -> int | None:
        assert self.recorded is not None
        for n, call in enumerate(self.recorded.calls):
            if not self._used[n] and call.request == wanted:
                return n
        return None

    def _lookup(self, prepared: _Prepared) -> RecordedCall | str:
        """The recorded call that answers this request, or why there is none."""
        if self.recorded is None:
            self.stats.missing += 1
            return self._missing_message()
        found = self._find(prepared.recorded)
        if found is None:
            self.stats.missing += 1
            return self._mismatch_message(prepared.recorded)
        self._used[found] = True
        return self.recorded.calls[found]

    def _replay(self, prepared: _Prepared, *, is_async: bool) -> httpx2.Response:
        call = self._lookup(prepared)
        if isinstance(call, str):
            return self._refuse(call, prepared)
        return self._replay_response(call, prepared, is_async=is_async)

    def _replay_response(
        self, call: RecordedCall, prepared: _Prepared, *, is_async: bool
    ) -> httpx2.Response:
        self.stats.replayed += 1
        response = call.response
        _add_tokens(self.stats.tokens_saved, response)
        return replay_response(response, prepared.request, is_async=is_async)

    def _complete(
        self,
        prepared: _Prepared,
        slot: int,
        response: RecordedResponse,
        extra: list[tuple[str | None, str]],
    ) -> None:
        _add_tokens(self.stats.tokens_spent, response)
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
        call = RecordedCall(
            prepared.recorded, response, _fingerprint_of(response), _output_of(response)
        )
        self.new_calls[slot] = call
        self.live_slots.add(slot)
        self._pending.discard(slot)
        if extra:
            self._measure(slot + 1, [(call.fingerprint, call.output), *extra])
        if self.mode == "live":
            self._check_live(prepared, slot, call)

    def incomplete_stream(self, slot: int, events: int) -> None:
        self.decide(
            "failed",
            f"pytest-seeded: the stream of call #{slot + 1} of {self.nodeid} ended after "
            f"{events} events without its closing 'data: [DONE]': the server stopped early and "
            "the answer may be cut short. Nothing of this test was recorded; the snapshot on "
            f"disk ({self.snapshot_path}) is unchanged.",
        )

    def _measure(self, number: int, samples: list[tuple[str | None, str]]) -> None:
        measures = measure(number, samples)
        self.stats.determinism += [{"nodeid": self.nodeid, **m.to_json()} for m in measures]
        worst = min(measures, key=lambda m: m.agreement)
        if worst.agreement < self.min_agreement:
            self.decide(
                "failed",
                f"pytest-seeded: call #{number} of {self.nodeid} agreed with itself in "
                f"{worst.agreement:.0%} of {worst.responses} answers (seed {self.seed}, "
                f"fingerprint {worst.fingerprint!r}, {worst.distinct} distinct), below "
                f"--llm-min-agreement {self.min_agreement:g}; first divergence at character "
                f"{worst.divergence_char}, token {worst.divergence_token}",
            )

    def _check_live(self, prepared: _Prepared, slot: int, live: RecordedCall) -> None:
        expected = self._lookup(prepared)
        if isinstance(expected, str):
            # The test goes on with the live answer; it fails when pytest reports it.
            self.decide("failed", expected)
            return
        number = slot + 1
        if self.rerecord:
            return
        if expected.fingerprint != live.fingerprint and not self._drift(expected, live, number):
            return
        info = LLMCall(
            nodeid=self.nodeid,
            seed=self.seed,
            number=number,
            request=prepared.recorded,
            fingerprint=live.fingerprint,
            policy=str(self.settings.compare),
        )
        hook = self.hook
        before = hook.pytest_seeded_normalize(text=expected.output, call=info)
        after = hook.pytest_seeded_normalize(text=live.output, call=info)
        expected_text = expected.output if before is None else str(before)
        live_text = live.output if after is None else str(after)
        decided = hook.pytest_seeded_compare(expected=expected_text, actual=live_text, call=info)
        how = "pytest_seeded_compare hook"
        if decided is None:
            verdict = compare(
                self.settings.compare,
                expected_text,
                live_text,
                _choices_of(expected.response),
                _choices_of(live.response),
            )
            how = f"compare {self.settings.compare}"
        else:
            verdict = Comparison(bool(decided))
        if verdict.equal:
            self.stats.matched += 1
            return
        self.stats.mismatched += 1
        score = "" if verdict.score is None else f", score {verdict.score:.3f}"
        problem = f"{verdict.problem}\n" if verdict.problem else ""
        diff = unified_diff(expected_text, live_text, "snapshot", "live")
        self.decide(
            "failed",
            f"pytest-seeded: live output of call #{number} differs from the snapshot "
            f"(seed {self.seed}, fingerprint {live.fingerprint!r}, {how}{score})\n"
            f"snapshot: {self.snapshot_path}\n{problem}{diff}"
            f"If the new output is right, re-record it with: {self.rerecord_command}",
        )

    def _drift(self, expected: RecordedCall, live: RecordedCall, number: int) -> bool:
        """Apply the drift policy; True when the outputs should still be compared."""
        old, new = expected.fingerprint, live.fingerprint
        chosen = self.hook.pytest_seeded_fingerprint_changed(old=old, new=new, item=self.item)
        policy = self.settings.on_drift if chosen is None else str(chosen)
        if policy not in DRIFT_POLICIES:
            self.decide(
                "failed",
                f"pytest-seeded: pytest_seeded_fingerprint_changed returned {chosen!r}; it "
                f"should return one of {', '.join(DRIFT_POLICIES)} or None",
            )
            return False
        self.stats.drifts.append((old, new))
        message = (
            f"pytest-seeded: system_fingerprint changed for call #{number} of "
            f"{self.nodeid}: recorded {old!r}, live {new!r}. "
            "The model or its serving setup changed, so the snapshot cannot be compared. "
            f"{self.rerecord_hint}"
        )
        if policy == "warn":
            self.stats.drifted += 1
            warnings.warn(FingerprintDriftWarning(message), stacklevel=1)
            return True
        if policy == "record":
            self.stats.rerecorded += 1
            self.rerecord = True
            return False
        self.stats.drifted += 1
        outcome: Outcome = (
            "xfailed" if policy == "xfail" else "failed" if policy == "fail" else "skipped"
        )
        self.decide(outcome, message)
        return False

    def _missing_message(self) -> str:
        return (
            f"pytest-seeded: no snapshot for {self.nodeid} with seed {self.seed}.\n"
            f"Expected: {self.snapshot_path}\n"
            f"Record it with: {self.rerecord_command}"
        )

    def _mismatch_message(self, wanted: RecordedRequest) -> str:
        assert self.recorded is not None
        unused = [c for n, c in enumerate(self.recorded.calls) if not self._used[n]]
        rerecord = self.rerecord_hint
        if not unused:
            return (
                f"pytest-seeded: {self.nodeid} made more calls than its snapshot holds "
                f"({len(self.recorded.calls)} recorded, seed {self.seed}).\n"
                f"Snapshot: {self.snapshot_path}\nUnrecorded request:\n"
                f"{_request_text(wanted)}\n{rerecord}"
            )
        nearest = next((c for c in unused if c.request.path == wanted.path), unused[0])
        diff = unified_diff(
            _request_text(nearest.request), _request_text(wanted), "recorded request", "request"
        )
        return (
            f"pytest-seeded: a request of {self.nodeid} does not match its snapshot "
            f"(seed {self.seed}); the prompt, model, parameters or seed changed.\n"
            f"Snapshot: {self.snapshot_path}\n{diff}{rerecord}"
        )

    def check_all_used(self) -> None:
        """Fail a test that made fewer calls than its snapshot holds: the test changed since it
        was recorded, or the file was edited (a call pasted twice, a bad merge). Either way the
        snapshot no longer describes the test, and replay would hide it."""
        if self.recorded is None or all(self._used):
            return
        left = [n + 1 for n, used in enumerate(self._used) if not used]
        made = sum(self._used)
        pytest.fail(
            f"pytest-seeded: {self.nodeid} made {made} call{'s' * (made != 1)}, but its snapshot "
            f"holds {len(self._used)} (seed {self.seed}): recorded call"
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
            if isinstance(stream, _AsyncTeeStream):
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
        """How many calls the test made (each one once, whatever its retries)."""
        return self._next_slot

    def writes_snapshot(self) -> bool:
        """Whether this test's snapshot is (re-)written at teardown, if the test passes."""
        if self.mode == "record" or self.rerecord:
            return True
        if self.mode != "record-new":
            return False
        if self.recorded is not None and not all(self._used) and not self.stats.recorded_because:
            left = len(self._used) - sum(self._used)
            self.stats.recorded_because.append(
                f"the snapshot holds {left} call{'s' * (left != 1)} the test no longer makes"
            )
        return bool(self.stats.recorded_because)

    def finished_calls(self) -> list[RecordedCall] | None:
        """The new recording's calls in a stable order (the order the test made them, and by
        request among calls that were open at once), or None if a call never completed."""
        if self._pending:
            return None

        groups = {slot: self._group.get(slot, slot) for slot in self.new_calls}
        sizes = Counter(groups.values())

        def order(slot: int) -> tuple[int, str]:
            group = groups[slot]
            if sizes[group] == 1:
                return group, ""
            return group, json.dumps(self.new_calls[slot].request.to_json(), sort_keys=True)

        return [self.new_calls[slot] for slot in sorted(self.new_calls, key=order)]


class FingerprintDriftWarning(pytest.PytestWarning):
    """A live call's fingerprint differs from the snapshot's (with ``--llm-on-drift=warn``)."""


def _fingerprint_of(response: RecordedResponse) -> str | None:
    if response.events is not None:
        return stream_fingerprint(response.events)
    return body_fingerprint(response.body)


def _output_of(response: RecordedResponse) -> str:
    return render(_choices_of(response))


def _choices_of(response: RecordedResponse) -> dict[int, Choice]:
    if response.events is not None:
        return stream_choices(response.events)
    return body_choices(response.body)


def replay_response(
    response: RecordedResponse, request: httpx2.Request, *, is_async: bool
) -> httpx2.Response:
    """The HTTP answer a recorded response replays as: its status, content type and body, or
    its events as a stream, chunk by chunk."""
    headers = {"content-type": response.content_type}
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream
    if response.events is not None:
        stream = _AsyncReplayStream(response.events) if is_async else _ReplayStream(response.events)
    else:
        body = response.body
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        stream = httpx2.ByteStream(text.encode())
    return httpx2.Response(response.status, headers=headers, stream=stream, request=request)


# -- the transports -----------------------------------------------------------------------


class SeededTransport(httpx2.BaseTransport):
    """The fixture client's transport, one per run: every request goes to the running test's
    TestCalls, so the client (and openai's lazily built resources) is made once, not per test."""

    def __init__(self, real: Callable[[], httpx2.HTTPTransport]) -> None:
        self._real = real

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        calls = _active
        if calls is None:
            raise RuntimeError(
                "pytest-seeded: the seeded_llm client was used outside the test that asked for "
                "it (after its teardown, or from another thread's test); ask for seeded_llm in "
                "the test that uses it"
            )
        return calls.handle(request, lambda r: _ORIGINAL_SYNC(self._real(), r))


class AsyncSeededTransport(httpx2.AsyncBaseTransport):
    """The async fixture client's transport. Its real transport is made per test, because an
    async connection pool belongs to the event loop it was first used in; and it asks the
    server to close each connection, because a sync fixture teardown has no loop to close a
    pool in, and a pooled socket left open would warn (an error under filterwarnings=error)."""

    def __init__(self, calls: TestCalls, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._calls = calls
        self._ssl_context = ssl_context
        self._real: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._calls.ahandle(request, self._send)

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        if self._real is None:
            self._real = httpx2.AsyncHTTPTransport(verify=self._ssl_context())
        request.headers["connection"] = "close"
        return await _ORIGINAL_ASYNC(self._real, request)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()


# The test whose calls the patched default transports route to (one test runs at a time in a
# process; xdist workers are processes of their own).
_active: TestCalls | None = None


def _patched_sync(self: httpx2.HTTPTransport, request: httpx2.Request) -> httpx2.Response:
    calls = _active
    if calls is None or not is_sdk_request(request):
        return _ORIGINAL_SYNC(self, request)
    return calls.handle(request, lambda r: _ORIGINAL_SYNC(self, r))


async def _patched_async(
    self: httpx2.AsyncHTTPTransport, request: httpx2.Request
) -> httpx2.Response:
    calls = _active
    if calls is None or not is_sdk_request(request):
        return await _ORIGINAL_ASYNC(self, request)
    return await calls.ahandle(request, lambda r: _ORIGINAL_ASYNC(self, r))


def activate(calls: TestCalls) -> None:
    """Route the openai clients the code under test builds itself to this test's calls."""
    global _active
    _active = calls
    httpx2.HTTPTransport.handle_request = _patched_sync  # type: ignore[method-assign]
    httpx2.AsyncHTTPTransport.handle_async_request = _patched_async  # type: ignore[method-assign]


def deactivate() -> None:
    global _active
    _active = None
    httpx2.HTTPTransport.handle_request = _ORIGINAL_SYNC  # type: ignore[method-assign]
    httpx2.AsyncHTTPTransport.handle_async_request = _ORIGINAL_ASYNC  # type: ignore[method-assign]


# -- response streams ---------------------------------------------------------------------


class _ReplayStream(httpx2.SyncByteStream):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from encode_sse(self.events)


class _AsyncReplayStream(httpx2.AsyncByteStream):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in encode_sse(self.events):
            yield chunk


class _StreamCapture:
    """Keeps what passes through a live stream and completes the call when it ends."""

    def __init__(
        self,
        response: httpx2.Response,
        calls: TestCalls,
        prepared: _Prepared,
        slot: int,
        extra: list[tuple[str | None, str]],
    ) -> None:
        self._response = response
        self._calls = calls
        self._prepared = prepared
        self._slot = slot
        self._extra = extra
        self._parser = SSEParser()
        self._decompress = _decompressor(response)
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
        if self._prepared.is_completion and not (events and events[-1].get("data") == "[DONE]"):
            # A completion stream always ends with [DONE]: without it the server stopped early
            # and cleanly (a crash, a proxy's timeout), and the answer may be cut short. The
            # slot stays open, so nothing of this test is written.
            self._calls.incomplete_stream(self._slot, len(events))
            return
        recorded = RecordedResponse(self._response.status_code, SSE_CONTENT_TYPE, events=events)
        self._calls._complete(self._prepared, self._slot, recorded, self._extra)


class _TeeStream(httpx2.SyncByteStream):
    """Hands each chunk on as it arrives (a stream stays a stream) while keeping a copy."""

    def __init__(self, response: httpx2.Response, capture: _StreamCapture) -> None:
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


class _AsyncTeeStream(httpx2.AsyncByteStream):
    def __init__(self, response: httpx2.Response, capture: _StreamCapture) -> None:
        self._inner = response.stream
        self.capture = capture
        self._iterator: AsyncIterator[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx2.AsyncByteStream)
        self._iterator = self._inner.__aiter__()
        async for chunk in self._iterator:
            yield self.capture.take(chunk)
        self.capture.finish()

    async def aclose(self) -> None:
        try:
            if self._iterator is not None:
                async for chunk in self._iterator:
                    self.capture.take(chunk)
                self.capture.finish()
        finally:
            assert isinstance(self._inner, httpx2.AsyncByteStream)
            await self._inner.aclose()


# -- helpers ------------------------------------------------------------------------------


def _closing(request: httpx2.Request) -> httpx2.Request:
    """A copy of the request on a connection of its own. The repeats of --llm-repeat follow
    each other at once: on a pooled connection that a server (llama.cpp's) closes after a
    stream, the next one could go out before the close arrived and fail with "Server
    disconnected without sending a response"."""
    headers = request.headers.copy()
    headers["connection"] = "close"
    return httpx2.Request(
        request.method,
        request.url,
        headers=headers,
        content=request.read(),
        extensions=request.extensions,
    )


def _is_json(raw: bytes) -> bool:
    return raw.lstrip()[:1] == b"{"


def _content_type(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _decompressor(response: httpx2.Response) -> Any:
    encoding = response.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        # wbits 47: accept a gzip or a zlib header, whichever the server sent.
        return zlib.decompressobj(47)
    return None


def _json_response(response: httpx2.Response, body: bytes) -> RecordedResponse:
    content_type = _content_type(response) or JSON_CONTENT_TYPE
    text = body.decode("utf-8", errors="replace")
    parsed: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return RecordedResponse(response.status_code, content_type, body=parsed)


def _rebuilt(
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


def _request_text(request: RecordedRequest) -> str:
    body = json.dumps(request.body, indent=2, sort_keys=True, ensure_ascii=False)
    return f"{request.method} {request.path}\n{body}\n"
