"""One request as the plugin sees it, whichever client sent it: what is sent (seeded, asking
for plain bytes) and what is stored and matched (scrubbed, its body read as fields), and an
answer's body as it is stored. Every capture adapter converts into this at its seam."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx2

from pytest_seeded.apis.endpoints import SDK_OTHER, Endpoint, classify, seeded, sent_by_sdk
from pytest_seeded.apis.forms import stored_body
from pytest_seeded.apis.wire import SSEParser
from pytest_seeded.storage.scrub import (
    public_path,
    public_url,
    scrub_fields,
    scrub_stream,
    scrub_values,
    sent_secrets,
)
from pytest_seeded.storage.snapshot import (
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    RecordedRequest,
    RecordedResponse,
)


@dataclass(frozen=True)
class Prepared:
    """A request as it is sent (seeded) and as it is stored and matched (scrubbed)."""

    request: httpx2.Request
    recorded: RecordedRequest
    # The LLM API it calls; None for the test's other HTTP.
    endpoint: Endpoint | None
    # The credentials the request carried (none when nothing is sent: nothing is stored then).
    secrets: frozenset[str] = frozenset()

    @property
    def is_llm(self) -> bool:
        return self.endpoint is not None


def prepare(
    request: httpx2.Request,
    *,
    seed: int | None,
    sends: bool,
    scrub: frozenset[str],
    hook: Any,
) -> Prepared:
    """The request as it is sent and as it is stored. ``seed=None`` for a client whose request
    cannot be changed on its way out (vcr_clients.py): stored as sent. ``sends=False`` (replay)
    builds only the stored form."""
    raw = request.read()
    body = stored_body(raw, request.headers.get("content-type", ""))
    url = request.url
    endpoint = classify(request.method, url.path, body)
    if endpoint is None and sent_by_sdk(request.headers):
        endpoint = SDK_OTHER
    new_body = seeded(endpoint, body, seed) if endpoint is not None and seed is not None else None
    if new_body is not None and raw.lstrip()[:1] == b"{":
        body = new_body
    else:
        new_body = None
    if sends:
        headers = request.headers.copy()
        # Ask for plain bytes: what is recorded must be readable, and decoding a compressed
        # stream chunk by chunk is work for nothing.
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
    where = public_path(url, scrub) if endpoint is not None else public_url(url, scrub)
    stored = {"method": request.method, "path": where, "body": scrub_fields(body, scrub)}
    hook.pytest_seeded_scrub(request=stored, response=None)
    recorded = RecordedRequest(
        str(stored["method"]), str(stored["path"]), stored["body"], is_http=endpoint is None
    )
    secrets = sent_secrets(request, body) if sends else frozenset()
    return Prepared(request, recorded, endpoint, secrets)


# Error statuses never recorded: transient, or about the environment rather than the test.
_NOT_RECORDED = frozenset({401, 403, 407, 408, 409, 425, 429})


def recordable(prepared: Prepared, status: int) -> bool:
    """Whether an answer with this status is part of the recording: an LLM API's final answer
    to a bad request (400, 404, 422: a test of a fallback handles it) is; a transient failure
    (408, 409, 425, 429, 5xx) or one of the environment (401, 403, 407: credentials) is not,
    and its slot stays free for the client's retry. The other HTTP's answers always are."""
    if not prepared.is_llm or 200 <= status < 300:
        return True
    return 400 <= status < 500 and status not in _NOT_RECORDED


def stored_answer(
    prepared: Prepared, response: RecordedResponse, scrub: frozenset[str], hook: Any
) -> RecordedResponse:
    """An answer as it is stored: the scrubbed fields and every credential the request carried
    (a server or gateway may echo them) taken out, then the scrub hook."""
    stored = response.to_json()
    if "body" in stored:
        stored["body"] = scrub_values(scrub_fields(stored["body"], scrub), prepared.secrets)
    if "events" in stored:
        stored["events"] = scrub_stream(scrub_fields(stored["events"], scrub), prepared.secrets)
    hook.pytest_seeded_scrub(request=prepared.recorded.to_json(), response=stored)
    return RecordedResponse(
        int(stored["status"]),
        str(stored["content_type"]),
        body=stored.get("body"),
        events=stored.get("events"),
    )


def whole_answer(content_type: str, status: int, body: bytes) -> RecordedResponse:
    """An answer read whole, a stream's events included."""
    if content_type != SSE_CONTENT_TYPE:
        return body_response(content_type, status, body)
    parser = SSEParser()
    parser.feed(body)
    parser.close()
    return RecordedResponse(status, SSE_CONTENT_TYPE, events=parser.events)


def body_response(content_type: str, status: int, body: bytes) -> RecordedResponse:
    """A whole (not streamed) answer as it is stored: JSON as JSON, text as text, and bytes that
    are not UTF-8 text as base64, so they replay byte for byte."""
    content_type = content_type or JSON_CONTENT_TYPE
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return RecordedResponse(
            status, content_type, body={"base64": base64.b64encode(body).decode()}
        )
    parsed: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return RecordedResponse(status, content_type, body=parsed)


def body_bytes(response: RecordedResponse) -> bytes:
    """The bytes a stored whole answer replays as (the inverse of body_response)."""
    body = response.body
    if isinstance(body, str):
        return body.encode("utf-8", "backslashreplace")
    if (
        isinstance(body, dict)
        and list(body) == ["base64"]
        and "json" not in response.content_type
        and isinstance(body["base64"], str)
    ):
        return base64.b64decode(body["base64"])
    # A lone surrogate (valid JSON) goes back as the JSON escape the server sent.
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")
