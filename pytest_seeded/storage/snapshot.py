"""The snapshot format: every call one test made under one seed, as versioned, readable JSON.

A file holds ``schema_version``, ``seed``, ``recorded`` (when, and with which versions: optional,
for people and for ``--llm-max-age``) and ``calls``; each call its request (method, path, JSON
body with the seed), what answered it (``fingerprint``: the ``system_fingerprint``, and
``model``: the model the answer names), the output text for humans, and the response (a JSON
body, or a stream's events one per line so git diffs read well). A call answered under more than
one identity keeps the others' answers in ``earlier``, most recent first.
The test's other HTTP (tools, retrieval) sits among the calls in the order it was made: its
request has a ``url`` (host included) instead of a ``path``, and it has no fingerprint or output.

Re-recording is byte-stable: a call whose request, fingerprint and output are unchanged keeps
its stored response as it was (ids, timestamps and server timings included), and a recording
whose calls are all unchanged keeps its file, provenance included, byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pytest_seeded.errors import SnapshotFormatError
from pytest_seeded.storage.compact import compact, expand

SCHEMA_VERSION = 1
_LINE_END = re.compile(r"[\r\n]")
JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream"


@dataclass(frozen=True, eq=False)
class RecordedRequest:
    method: str
    # An LLM call's path (and query), without the host: the same recording serves any server.
    # For the test's other HTTP (is_http), the whole URL: the host says which service it was.
    path: str
    body: Any
    is_http: bool = False

    def to_json(self) -> dict[str, Any]:
        where = "url" if self.is_http else "path"
        return {"method": self.method, where: self.path, "body": self.body}

    @functools.cached_property
    def _key(self) -> tuple[str, str, bool, str]:
        # Compared as JSON text: in Python true == 1 and 1.0 == 1, and a request that changed
        # so must not match the recording of the other.
        body = json.dumps(self.body, sort_keys=True, ensure_ascii=False, default=repr)
        return (self.method, self.path, self.is_http, body)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordedRequest) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


# How a stored body is written back as bytes (exchange.body_bytes): JSON in one of the forms
# servers write it (spacing, ASCII escapes, indentation, a final newline), text, or base64.
JSON_FORMS: dict[str, dict[str, Any]] = {
    "json": {"ensure_ascii": False},
    "json-ascii": {},
    "json-compact": {"separators": (",", ":"), "ensure_ascii": False},
    "json-compact-ascii": {"separators": (",", ":")},
    "json-indent": {"indent": 2, "ensure_ascii": False},
    "json-indent-ascii": {"indent": 2},
}
# Tried in this order, the first that gives the bytes back is kept: a fixed order, so a body
# that several forms fit (ASCII-only JSON) is stored the same way on every re-record.
JSON_FORM_ORDER = (*JSON_FORMS, *(f"{name}+newline" for name in JSON_FORMS))
BODY_FORMATS = frozenset({"text", "base64", *JSON_FORM_ORDER})


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    content_type: str
    body: Any = None
    # For streams: each SSE event as {"data": parsed JSON or raw text} (plus "event" if named,
    # and "id", "retry" and "comments" where the server sent them).
    events: list[dict[str, Any]] | None = None
    # How the body's bytes are written back (exchange.body_bytes): None for the reading older
    # files have (text as text, {"base64": ...} as bytes, anything else as JSON).
    format: str | None = None
    # The headers that carry meaning to the code (Location, Retry-After), by lower-case name.
    headers: dict[str, str] | None = None
    # A stream the code closed before its end: kept as far as the code read it.
    cut_by_client: bool = False

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "content_type": self.content_type}
        if self.headers:
            out["headers"] = self.headers
        if self.events is not None:
            out["events"] = self.events
            if self.cut_by_client:
                out["cut_by_client"] = True
        else:
            if self.format is not None:
                out["format"] = self.format
            out["body"] = self.body
        return out


@dataclass(frozen=True)
class RecordedCall:
    request: RecordedRequest
    response: RecordedResponse
    fingerprint: str | None
    output: str
    # The model the answer says served it (Gemini's modelVersion): with the fingerprint, the
    # call's identity. None in files written before it was stored, and for errors.
    model: str | None = None
    # Answers recorded for the same request under other identities (a provider serving one
    # model from several backends), most recent first: a live run compares with the one of
    # its identity. Replay answers with the call's own (most recent) answer.
    earlier: tuple[RecordedCall, ...] = ()

    @property
    def is_http(self) -> bool:
        """Whether this is the test's other HTTP (a tool, a retrieval service), not an LLM
        call: it has no fingerprint or output, and is never seeded or compared."""
        return self.request.is_http

    @property
    def identity(self) -> tuple[str | None, str | None]:
        return self.fingerprint, self.model

    def answers(self) -> list[RecordedCall]:
        """This call's answer and the earlier identities', most recent first."""
        return [self, *self.earlier]

    def to_json(self) -> dict[str, Any]:
        if self.request.is_http:
            return {"request": self.request.to_json(), "response": self.response.to_json()}
        out = {"request": self.request.to_json(), **self._answer_json()}
        if self.earlier:
            out["earlier"] = [e._answer_json() for e in self.earlier]
        return out

    def _answer_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fingerprint": self.fingerprint}
        if self.model is not None:
            out["model"] = self.model
        out["output"] = self.output
        out["response"] = self.response.to_json()
        return out

    def same_as(self, other: RecordedCall) -> bool:
        """Whether a new answer says what this recorded one says, for the same request: what
        decides whether a re-record changes the file (not ids, timestamps or timings)."""
        return (
            self.request == other.request
            and self._same_answer(other)
            and len(self.earlier) == len(other.earlier)
            and all(a._same_answer(b) for a, b in zip(self.earlier, other.earlier, strict=True))
        )

    def _same_answer(self, other: RecordedCall) -> bool:
        return (
            self.fingerprint == other.fingerprint
            and self.model == other.model
            and self.output == other.output
            and self.response.status == other.response.status
            and self.response.is_stream == other.response.is_stream
        )


@dataclass(frozen=True)
class LLMCall:
    """What the hooks are told about a call (live mode)."""

    nodeid: str
    seed: int
    number: int  # 1-based, in the order the test made its calls
    request: RecordedRequest
    fingerprint: str | None
    policy: str


@dataclass
class Recording:
    seed: int
    calls: list[RecordedCall] = field(default_factory=list)
    # The text this recording was read from, kept so that replay hands syrupy the file's own
    # text back instead of dumping it again.
    source: str | None = None
    # When and with what it was recorded: {"at": ISO time, "pytest_seeded": ..., "openai": ...}.
    provenance: dict[str, str] | None = None

    @property
    def recorded_at(self) -> datetime | None:
        at = (self.provenance or {}).get("at")
        return datetime.fromisoformat(at) if at else None


def keep_identities(
    old: Recording | None, new: list[RecordedCall], limit: int = 3
) -> list[RecordedCall]:
    """The new calls, each with the answers its request had under other identities in the old
    recording: re-recording under one fingerprint or model keeps what the others answered.
    An identity answered anew replaces its old answer; at most ``limit`` identities are kept,
    the newest first (the oldest go)."""
    if old is None:
        return new
    pool: list[RecordedCall | None] = [c for c in old.calls if not c.is_http]
    out = []
    for call in new:
        found = None
        if not call.is_http:
            found = next(
                (n for n, o in enumerate(pool) if o is not None and o.request == call.request),
                None,
            )
        if found is None:
            out.append(call)
            continue
        previous = pool[found]
        assert previous is not None
        pool[found] = None
        others = [a for a in previous.answers() if not _same_identity(a, call)]
        seen: set[tuple[str | None, str | None]] = set()
        earlier = []
        for answer in others:
            if answer.identity not in seen:
                seen.add(answer.identity)
                earlier.append(replace(answer, earlier=()))
        out.append(replace(call, earlier=tuple(earlier[: max(limit - 1, 0)])))
    return out


def _same_identity(old: RecordedCall, new: RecordedCall) -> bool:
    # A file written before the model was stored: its answer is the new one's forebear when
    # the fingerprints agree.
    if old.model is None and old.fingerprint == new.fingerprint:
        return True
    return old.identity == new.identity


def reuse_unchanged(old: Recording | None, new: list[RecordedCall]) -> list[RecordedCall]:
    """The new calls, each replaced by an old one that says the same (so its stored form,
    volatile fields and all, stays as it was in the file)."""
    if old is None:
        return new
    pool: list[RecordedCall | None] = list(old.calls)
    out = []
    for call in new:
        found = next((n for n, o in enumerate(pool) if o is not None and o.same_as(call)), None)
        if found is None:
            out.append(call)
        else:
            out.append(pool[found])  # type: ignore[arg-type]
            pool[found] = None
    return out


def unchanged(old: Recording | None, calls: list[RecordedCall]) -> bool:
    """Whether ``calls`` (from reuse_unchanged) are exactly the old recording's, in any order:
    concurrent calls may reach the server in another order each run."""
    if old is None:
        return False
    return Counter(map(id, old.calls)) == Counter(map(id, calls))


def dumps(recording: Recording) -> str:
    head: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "seed": recording.seed}
    if recording.provenance:
        head["recorded"] = recording.provenance
    lines = ["{"]
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    if not recording.calls:
        lines.append('  "calls": []')
    else:
        lines.append('  "calls": [')
        for n, call in enumerate(recording.calls):
            comma = "," if n < len(recording.calls) - 1 else ""
            lines.append(_dump_call(call.to_json(), indent=4) + comma)
        lines.append("  ]")
    lines.append("}")
    return utf8_safe("\n".join(lines) + "\n")


def utf8_safe(text: str) -> str:
    """JSON text with each lone UTF-16 surrogate (valid JSON, as a gateway that splits an emoji
    sends it, but not valid UTF-8) written as its JSON escape, as the server wrote it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _event_lines(events: list[Any]) -> list[str]:
    """One event a line; a run of texts (compact.py) several to a line."""
    lines: list[str] = []
    texts: list[str] = []
    for event in [*events, None]:
        if isinstance(event, str):
            texts.append(json.dumps(event, ensure_ascii=False))
            if sum(len(t) + 2 for t in texts) < 90:
                continue
        if texts:
            lines.append(", ".join(texts))
            texts = []
        if event is not None and not isinstance(event, str):
            lines.append(json.dumps(event, ensure_ascii=False, separators=(", ", ": ")))
    return lines


def _dump_call(call: dict[str, Any], indent: int) -> str:
    # Pretty-print the call, but keep each stream event on one line: a 200-chunk stream would
    # otherwise take thousands of lines and drown the diff that matters. Each events list is
    # swapped for a marker, dumped, and put back one event a line.
    streams: list[list[Any]] = []
    for answer in [call, *call.get("earlier", [])]:
        response = answer["response"]
        if "events" in response:
            events = response["events"]
            if "path" in call["request"]:  # an LLM call's stream: written small (compact.py)
                common, events = compact(events)
                if common:
                    rest = {k: v for k, v in response.items() if k != "events"}
                    response.clear()
                    response.update(rest, event_fields=common)
            streams.append(events)
            response["events"] = f"\x00events{len(streams) - 1}\x00"
    text = json.dumps(call, indent=2, ensure_ascii=False)
    for n, events in enumerate(streams):
        marker = json.dumps(f"\x00events{n}\x00")
        line_start = text.rindex("\n", 0, text.index(marker)) + 1
        pad = " " * (len(text[line_start:]) - len(text[line_start:].lstrip(" ")))
        rendered = ",\n".join(f"{pad}  {line}" for line in _event_lines(events))
        text = text.replace(marker, f"[\n{rendered}\n{pad}]" if events else "[]", 1)
    pad = " " * indent
    return "\n".join(pad + line for line in text.split("\n"))


def loads(text: str, path: str) -> Recording:
    """Parse and validate a snapshot file's text; any problem raises SnapshotFormatError."""
    if not text.strip():
        raise SnapshotFormatError(path, "the file is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if "\n<<<<<<< " in f"\n{text}" and "\n>>>>>>> " in text:
            raise SnapshotFormatError(
                path,
                "holds git merge conflict markers (<<<<<<< ... >>>>>>>): keep one side by hand, "
                "or re-record the test rather than merge two recordings",
            ) from None
        raise SnapshotFormatError(
            path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise SnapshotFormatError(path, "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise SnapshotFormatError(path, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise SnapshotFormatError(path, f"expected a JSON object, got {_kind(doc)}")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            problem = (
                f"schema_version {version} is newer than this pytest-seeded understands "
                f"({SCHEMA_VERSION}); upgrade pytest-seeded"
            )
        else:
            problem = f"schema_version must be {SCHEMA_VERSION}, got {version!r}"
        raise SnapshotFormatError(path, problem)
    seed = _need(doc, "seed", int, path, "")
    provenance = _provenance(doc.get("recorded"), path)
    calls_raw = _need(doc, "calls", list, path, "")
    calls = [_load_call(raw, path, f"calls[{n}]") for n, raw in enumerate(calls_raw)]
    return Recording(seed=seed, calls=calls, source=text, provenance=provenance)


def _provenance(raw: Any, path: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise SnapshotFormatError(path, "field 'recorded' should be an object of strings")
    at = raw.get("at")
    if at is not None:
        try:
            datetime.fromisoformat(at)
        except ValueError:
            raise SnapshotFormatError(
                path,
                "recorded.at should be an ISO 8601 time, like 2026-11-25T13:31:00+00:00; "
                f"got {at!r}",
            ) from None
    return dict(raw)


def _load_call(raw: Any, path: str, where: str) -> RecordedCall:
    if not isinstance(raw, dict):
        raise SnapshotFormatError(path, f"{where}: expected an object, got {_kind(raw)}")
    req = _need(raw, "request", dict, path, where)
    if "body" not in req:
        raise SnapshotFormatError(path, f"{where}.request: missing field 'body'")
    is_http = "url" in req and "path" not in req
    request = RecordedRequest(
        method=_need(req, "method", str, path, f"{where}.request"),
        path=_need(req, "url" if is_http else "path", str, path, f"{where}.request"),
        body=req["body"],
        is_http=is_http,
    )
    call = _load_answer(raw, request, path, where)
    earlier = raw.get("earlier", [])
    if not isinstance(earlier, list) or (is_http and earlier):
        raise SnapshotFormatError(
            path, f"{where}.earlier: expected a list of an LLM call's answers, got {_kind(earlier)}"
        )
    answers = tuple(
        _load_answer(e, request, path, f"{where}.earlier[{n}]") for n, e in enumerate(earlier)
    )
    return replace(call, earlier=answers) if answers else call


def _load_answer(raw: Any, request: RecordedRequest, path: str, where: str) -> RecordedCall:
    """One answer to a request: its identity, output and response."""
    if not isinstance(raw, dict):
        raise SnapshotFormatError(path, f"{where}: expected an object, got {_kind(raw)}")
    resp = _need(raw, "response", dict, path, where)
    identity = {}
    for key in ("fingerprint", "model"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise SnapshotFormatError(
                path, f"{where}.{key}: expected a string or null, got {_kind(value)}"
            )
        identity[key] = value
    status = _need(resp, "status", int, path, f"{where}.response")
    if not 100 <= status <= 599:
        raise SnapshotFormatError(path, f"{where}.response.status: {status} is not an HTTP status")
    content_type = _need(resp, "content_type", str, path, f"{where}.response")
    if not content_type.isascii() or not content_type.isprintable():
        raise SnapshotFormatError(
            path,
            f"{where}.response.content_type: {content_type!a} cannot be an HTTP header "
            "(printable ASCII only)",
        )
    headers = _headers(resp.get("headers"), path, f"{where}.response.headers")
    if "events" in resp:
        events = _need(resp, "events", list, path, f"{where}.response")
        common = resp.get("event_fields", {})
        if not isinstance(common, dict):
            raise SnapshotFormatError(path, f"{where}.response.event_fields: expected an object")
        if common or any(not isinstance(e, dict) or "at" in e for e in events):
            try:
                events = expand(common, events)
            except ValueError as exc:
                raise SnapshotFormatError(path, f"{where}.response.events{exc}") from None
        for n, event in enumerate(events):
            if not isinstance(event, dict) or not ("data" in event or _event_fields(event)):
                raise SnapshotFormatError(
                    path, f"{where}.response.events[{n}]: expected an object with 'data'"
                )
            for key in ("id", "retry"):
                if key in event and (
                    not isinstance(event[key], str) or _LINE_END.search(event[key])
                ):
                    raise SnapshotFormatError(
                        path, f"{where}.response.events[{n}].{key}: expected a string on one line"
                    )
            comments = event.get("comments", [])
            if not isinstance(comments, list) or not all(
                isinstance(c, str) and not _LINE_END.search(c) for c in comments
            ):
                raise SnapshotFormatError(
                    path,
                    f"{where}.response.events[{n}].comments: expected a list of one-line strings",
                )
            name = event.get("event")
            if "event" in event and (not isinstance(name, str) or _LINE_END.search(name)):
                raise SnapshotFormatError(
                    path,
                    f"{where}.response.events[{n}].event: {name!r} cannot be replayed as an "
                    "event name (a string on one line)",
                )
        cut = resp.get("cut_by_client", False)
        if not isinstance(cut, bool):
            raise SnapshotFormatError(
                path, f"{where}.response.cut_by_client: expected true or false, got {_kind(cut)}"
            )
        response = RecordedResponse(
            status, content_type, events=events, headers=headers, cut_by_client=cut
        )
    elif "body" in resp:
        body = resp["body"]
        if _is_base64_body(body, content_type):
            try:
                base64.b64decode(body["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise SnapshotFormatError(
                    path,
                    f"{where}.response.body.base64: not valid base64, so the bytes it stands "
                    "for cannot be replayed",
                ) from None
        form = resp.get("format")
        if form is not None and form not in BODY_FORMATS:
            raise SnapshotFormatError(
                path,
                f"{where}.response.format: {form!r} is not one of "
                f"{', '.join(sorted(BODY_FORMATS))}",
            )
        response = RecordedResponse(status, content_type, body=body, format=form, headers=headers)
    else:
        raise SnapshotFormatError(path, f"{where}.response: needs 'body' or 'events'")
    output = "" if request.is_http else _need(raw, "output", str, path, where)
    return RecordedCall(request, response, identity["fingerprint"], output, identity["model"])


def _event_fields(event: dict[str, Any]) -> bool:
    return any(key in event for key in ("event", "id", "retry", "comments"))


def _headers(raw: Any, path: str, where: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and (k + v).isascii() and (k + v).isprintable()
        for k, v in raw.items()
    ):
        raise SnapshotFormatError(
            path, f"{where}: expected an object of header names to values (printable ASCII)"
        )
    return raw


def _is_base64_body(body: Any, content_type: str) -> bool:
    """A body stored as base64: bytes that were not UTF-8 text (exchange.body_response)."""
    return (
        isinstance(body, dict)
        and list(body) == ["base64"]
        and isinstance(body["base64"], str)
        and "json" not in content_type
    )


def _need(obj: dict[str, Any], key: str, kind: type, path: str, where: str) -> Any:
    prefix = f"{where}: " if where else ""
    if key not in obj:
        raise SnapshotFormatError(path, f"{prefix}missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SnapshotFormatError(
            path, f"{prefix}field {key!r} should be {_name(kind)}, got {_kind(value)}"
        )
    return value


def _name(kind: type) -> str:
    return {int: "a whole number", str: "a string", list: "a list", dict: "an object"}.get(
        kind, kind.__name__
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}[
        type(value)
    ]
