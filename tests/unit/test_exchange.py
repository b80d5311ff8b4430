"""The stored form of an exchange, without a server: an answer's body goes back as the bytes it
came as, through a snapshot file and back, and a request matches only a request that is the same
(issue 21: redteam 04 and 16)."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_seeded.apis.forms import stored_body
from pytest_seeded.apis.wire import SSEParser, encode_sse
from pytest_seeded.exchange import body_bytes, body_response
from pytest_seeded.storage.snapshot import (
    RecordedCall,
    RecordedRequest,
    RecordedResponse,
    Recording,
    dumps,
    keep_identities,
    loads,
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _through_a_file(response: RecordedResponse) -> RecordedResponse:
    """The response written into a snapshot file and read back."""
    call = RecordedCall(
        RecordedRequest("GET", "http://tool/x", None, is_http=True), response, None, ""
    )
    text = dumps(Recording(seed=1, calls=[call]))
    return loads(text, "x.seeded.jsonc").calls[0].response


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(["application/json", "text/plain", "text/csv"]))
def test_any_bytes_come_back_as_they_were(body: bytes, content_type: str) -> None:
    stored = body_response(content_type, 200, body)
    assert body_bytes(stored) == body
    assert body_bytes(_through_a_file(stored)) == body


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES, st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 2}]))
def test_json_in_a_servers_form_is_stored_readably_and_exactly(value: object, form: dict) -> None:  # type: ignore[type-arg]
    body = json.dumps(value, **form).encode()
    stored = body_response("application/json", 200, body)
    assert body_bytes(_through_a_file(stored)) == body
    if isinstance(value, dict | list):
        assert stored.body == value  # readable: the fields, not a string of them


def test_the_cases_that_were_re_serialised() -> None:
    # redteam 04: a JSON string, quoted text, a number's trailing zero, a text body shaped like
    # the base64 form, and JSON in an unknown spacing.
    for content_type, body in [
        ("application/json", b'"ok"'),
        ("text/plain", b'"hello"'),
        ("text/csv", b"1.50"),
        ("text/plain", b'{"base64": "aGVsbG8="}'),
        ("application/json", b'{ "a" : 1 }'),
    ]:
        assert body_bytes(_through_a_file(body_response(content_type, 200, body))) == body


def test_an_llm_answer_in_any_json_form_is_kept_as_its_fields() -> None:
    stored = body_response("application/json", 200, b'{ "choices" : [] }', loose=True)
    assert stored.body == {"choices": []}
    assert stored.format is None


def test_a_files_written_before_formats_read_as_they_did() -> None:
    assert body_bytes(RecordedResponse(200, "text/plain", body="hi")) == b"hi"
    assert body_bytes(RecordedResponse(200, "image/png", body={"base64": "AAE="})) == b"\x00\x01"
    assert body_bytes(RecordedResponse(200, "application/json", body={"a": 1})) == b'{"a": 1}'


def test_a_request_matches_only_the_same_request() -> None:
    def req(body: object) -> RecordedRequest:
        return RecordedRequest("POST", "/v1/x", body)

    assert req({"dry_run": True}) != req({"dry_run": 1})
    assert req({"n": 1.0}) != req({"n": 1})
    assert req({"a": 1, "b": [True]}) == req({"b": [True], "a": 1})


def test_repeated_fields_files_and_bytes_are_all_kept() -> None:
    form = "application/x-www-form-urlencoded"
    assert stored_body(b"ids=1&ids=2&q=x", form) == {"form": {"ids": ["1", "2"], "q": "x"}}
    assert stored_body(b"ids=999&ids=2", form) != stored_body(b"ids=1&ids=2", form)
    multipart = "multipart/form-data; boundary=B"
    raw = (
        b"--B\r\nContent-Disposition: form-data; name=docs; filename=a.txt\r\n\r\nfirst\r\n"
        b"--B\r\nContent-Disposition: form-data; name=docs; filename=b.txt\r\n\r\nsecond\r\n"
        b"--B--\r\n"
    )
    files = stored_body(raw, multipart)["files"]["docs"]
    assert [f["filename"] for f in files] == ["a.txt", "b.txt"]
    assert stored_body(b"\xff\x01", "application/octet-stream") != stored_body(
        b"\xfe\x01", "application/octet-stream"
    )


def test_a_tools_event_stream_keeps_every_field() -> None:
    raw = b': hello\nid: 7\nretry: 100\ndata: 1.10\n\nevent: x\ndata: {"a":1}\n\n'
    parser = SSEParser(exact=True)
    parser.feed(raw)
    parser.close()
    replayed = b"".join(encode_sse(parser.events))
    assert replayed.splitlines() == [
        b": hello",
        b"id: 7",
        b"retry: 100",
        b"data: 1.10",
        b"",
        b"event: x",
        b'data: {"a":1}',
        b"",
    ]


def test_a_call_keeps_at_most_the_newest_identities() -> None:
    def answer(fingerprint: str, earlier: tuple[RecordedCall, ...] = ()) -> RecordedCall:
        request = RecordedRequest("POST", "/v1/chat/completions", {"seed": 42})
        response = RecordedResponse(200, "application/json", body={"fp": fingerprint})
        return RecordedCall(request, response, fingerprint, fingerprint, "m", earlier)

    old = Recording(seed=42, calls=[answer("c", (answer("b"), answer("a")))])
    (kept,) = keep_identities(old, [answer("d")], limit=3)
    assert [c.fingerprint for c in kept.answers()] == ["d", "c", "b"]  # "a", the oldest, went
    (kept,) = keep_identities(old, [answer("d")], limit=1)
    assert kept.earlier == ()
    # An identity answered anew replaces its own old answer, and keeps the others.
    (kept,) = keep_identities(old, [answer("b")], limit=3)
    assert [c.fingerprint for c in kept.answers()] == ["b", "c", "a"]


def test_a_body_several_forms_fit_is_stored_the_same_way_in_every_process() -> None:
    # Formats were tried in a set's order, which moves with the string hash seed: an unchanged
    # ASCII-only compact answer was stored as json-compact or json-compact-ascii, and a
    # re-record rewrote its file.
    import subprocess
    import sys

    code = (
        "from pytest_seeded.exchange import body_response;"
        "print(body_response('application/json', 200, bytes([123, 34, 97, 34, 58, 49, 125])).format)"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in range(8)
    }
    assert seen == {"json-compact"}
