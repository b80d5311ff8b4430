"""One request as the plugin sees it, whichever client sent it: what is sent (seeded, asking
for plain bytes) and what is stored and matched (scrubbed, its body read as fields), and an
answer's body as it is stored. Every capture adapter converts into this at its seam."""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import httpx2

from pytest_seeded.apis.endpoints import (
    SDK_OTHER,
    Endpoint,
    classify,
    seed_in,
    seeded,
    sent_by_sdk,
)
from pytest_seeded.apis.forms import stored_body
from pytest_seeded.apis.wire import NDJSON, stream_parser
from pytest_seeded.settings import host_listed
from pytest_seeded.storage.scrub import (
    is_secret_param,
    public_path,
    public_url,
    scrub_fields,
    scrub_stream,
    scrub_values,
    sent_secrets,
)
from pytest_seeded.storage.snapshot import (
    JSON_CONTENT_TYPE,
    JSON_FORM_ORDER,
    JSON_FORMS,
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
    # The seed the request carries (the run's, or its own); None: it goes unseeded.
    seed: Any = None
    # What the server says serves the call, where its answers do not (capture/probes.py).
    served: str | None = None

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
    seed_hosts: frozenset[str] = frozenset(),
) -> Prepared:
    """The request as it is sent and as it is stored. ``seed=None`` leaves the body as the code
    built it. ``sends=False`` (replay) builds only the stored form."""
    raw = request.read()
    body = stored_body(raw, request.headers.get("content-type", ""))
    url = request.url
    agent = request.headers.get("user-agent", "")
    endpoint = classify(request.method, url.path, body, url.host, agent)
    if endpoint is None and sent_by_sdk(request.headers):
        endpoint = SDK_OTHER
    at = endpoint.seed_at if endpoint is not None else ()
    if endpoint is not None and not at and _seeds_anything(url, seed_hosts):
        at = endpoint.host_seed_at
    new_body = seeded(at, body, seed) if at and seed is not None else None
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
    return Prepared(request, recorded, endpoint, secrets, seed_in(at, body))


def _seeds_anything(url: httpx2.URL, hosts: frozenset[str]) -> bool:
    """llm_seed_hosts: a server that takes a seed where the hosted API has none (llama.cpp and
    vLLM on Responses); the endpoint says where (Endpoint.host_seed_at)."""
    return host_listed(hosts, url.host, url.port)


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
    if "headers" in stored:
        stored["headers"] = _public_headers(stored["headers"], prepared, scrub)
    hook.pytest_seeded_scrub(request=prepared.recorded.to_json(), response=stored)
    return dataclasses.replace(
        response,
        status=int(stored["status"]),
        content_type=str(stored["content_type"]),
        body=stored.get("body"),
        events=stored.get("events"),
        headers=stored.get("headers"),
    )


def _public_headers(
    headers: dict[str, str], prepared: Prepared, scrub: frozenset[str]
) -> dict[str, str]:
    """A redirect's Location without user info or credential-named query parameters (a signed
    URL's signature), and without any credential the request carried."""
    public = dict(headers)
    location = public.get("location")
    if location is not None:
        url = prepared.request.url.join(location)
        secret = url.userinfo or any(is_secret_param(k) or k in scrub for k in url.params)
        if secret:  # otherwise kept as the server wrote it: the code follows that string
            public["location"] = (
                public_url(url, scrub) if "://" in location else public_path(url, scrub)
            )
    kept: dict[str, str] = scrub_values(public, prepared.secrets)
    return kept


def whole_answer(
    content_type: str, status: int, body: bytes, *, loose: bool = False
) -> RecordedResponse:
    """An answer read whole, a stream's events included."""
    if content_type != SSE_CONTENT_TYPE and not (loose and content_type in NDJSON):
        return body_response(content_type, status, body, loose=loose)
    parser = stream_parser(content_type, exact=not loose)
    parser.feed(body)
    parser.close()
    return RecordedResponse(status, content_type, events=parser.events)


# The answer headers that carry meaning to the code: where a redirect goes, when to retry.
MEANINGFUL_HEADERS = ("location", "retry-after")


def meaningful_headers(headers: httpx2.Headers) -> dict[str, str] | None:
    kept = {name: headers[name] for name in MEANINGFUL_HEADERS if name in headers}
    return kept or None


def body_response(
    content_type: str,
    status: int,
    body: bytes,
    *,
    loose: bool = False,
    headers: dict[str, str] | None = None,
) -> RecordedResponse:
    """A whole (not streamed) answer as it is stored, readably only where that form gives the
    same bytes back: JSON as JSON (in the form the server wrote it), text as text, anything else
    as base64. ``loose`` (an LLM API's answer, which the SDK parses) keeps JSON as JSON in any
    form: the snapshot is read for its fields."""
    content_type = content_type or JSON_CONTENT_TYPE
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        encoded = {"base64": base64.b64encode(body).decode()}
        return _kept(status, content_type, encoded, "base64", headers, body)
    try:
        parsed = json.loads(text)
    except ValueError:
        return _kept(status, content_type, text, "text", headers, body)
    for form in JSON_FORM_ORDER:
        if _dumped(parsed, form) == body:
            return _kept(status, content_type, parsed, form, headers, body)
    if loose:
        return RecordedResponse(status, content_type, body=parsed, headers=headers)
    return _kept(status, content_type, text, "text", headers, body)


def _kept(
    status: int,
    content_type: str,
    body: Any,
    form: str,
    headers: dict[str, str] | None,
    original: bytes,
) -> RecordedResponse:
    # The format is written only where the reading of older files would give other bytes.
    plain = RecordedResponse(status, content_type, body=body, headers=headers)
    if body_bytes(plain) == original:
        return plain
    return RecordedResponse(status, content_type, body=body, format=form, headers=headers)


def _dumped(body: Any, form: str) -> bytes:
    name = form.removesuffix("+newline")
    text = json.dumps(body, **JSON_FORMS[name]) + ("\n" if name != form else "")
    # A lone surrogate (valid JSON) goes back as the JSON escape the server sent.
    return text.encode("utf-8", "backslashreplace")


def body_bytes(response: RecordedResponse) -> bytes:
    """The bytes a stored whole answer replays as (the inverse of body_response)."""
    body, form = response.body, response.format
    if form == "text" or (form is None and isinstance(body, str)):
        return str(body).encode("utf-8", "backslashreplace")
    if form == "base64" or (
        form is None
        and isinstance(body, dict)
        and list(body) == ["base64"]
        and "json" not in response.content_type
        and isinstance(body["base64"], str)
    ):
        return base64.b64decode(body["base64"])
    return _dumped(body, form or "json")
