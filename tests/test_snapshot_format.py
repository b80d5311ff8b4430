"""Unit tests of the pure parts: the snapshot format and the wire helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_seeded.apis.wire import (
    SSEParser,
    body_output,
    encode_sse,
    stream_fingerprint,
    stream_output,
)
from pytest_seeded.errors import SnapshotFormatError
from pytest_seeded.storage.snapshot import (
    RecordedCall,
    RecordedRequest,
    RecordedResponse,
    Recording,
    dumps,
    loads,
)


def _recording() -> Recording:
    chunk = {"choices": [{"index": 0, "delta": {"content": "héllo"}}], "system_fingerprint": "fp"}
    return Recording(
        seed=7,
        calls=[
            RecordedCall(
                RecordedRequest("POST", "/v1/chat/completions", {"model": "m", "seed": 7}),
                RecordedResponse(200, "application/json", body={"choices": []}),
                "fp_1",
                "out",
            ),
            RecordedCall(
                RecordedRequest("POST", "/v1/chat/completions", {"model": "m", "stream": True}),
                RecordedResponse(
                    200, "text/event-stream", events=[{"data": chunk}, {"data": "[DONE]"}]
                ),
                None,
                "héllo",
            ),
        ],
    )


def test_dump_and_load_round_trip() -> None:
    recording = _recording()
    text = dumps(recording)
    loaded = loads(text, "x.seeded.jsonc")
    assert loaded.calls == recording.calls
    assert loaded.seed == 7
    assert loaded.source == text
    assert dumps(loaded) == text
    # Valid JSON, every event on one line, non-ASCII kept readable.
    doc = json.loads(text)
    assert doc["schema_version"] == 1
    assert '          {"data": "[DONE]"}' in text.splitlines()
    assert "héllo" in text


def test_an_empty_recording_round_trips() -> None:
    text = dumps(Recording(seed=1))
    assert loads(text, "p").calls == []


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("null", "expected a JSON object, got null"),
        (
            '{"schema_version": 1, "seed": true, "calls": []}',
            "'seed' should be a whole number, got a boolean",
        ),
        ('{"schema_version": 0, "seed": 1, "calls": []}', "schema_version must be 1, got 0"),
        ('{"schema_version": 1, "seed": 1, "calls": {}}', "'calls' should be a list"),
        (
            '{"schema_version": 1, "seed": 1, "calls": [3]}',
            "calls[0]: expected an object, got a number",
        ),
        (
            '{"schema_version": 1, "seed": 1, "calls": [{"request": {"method": "POST", "path": "/"}, '
            '"response": {}, "output": "", "fingerprint": null}]}',
            "calls[0].request: missing field 'body'",
        ),
        (
            '{"schema_version": 1, "seed": 1, "calls": [{"request": {"method": "POST", "path": "/", "body": 1}, '
            '"response": {"status": 200, "content_type": "x", "events": [1]}, "output": "", "fingerprint": null}]}',
            "calls[0].response.events[0]: expected an object with 'data'",
        ),
        (
            '{"schema_version": 1, "seed": 1, "calls": [{"request": {"method": "POST", "path": "/", "body": 1}, '
            '"response": {"status": 200, "content_type": "x", "body": 1}, "output": "", "fingerprint": 5}]}',
            "calls[0].fingerprint: expected a string or null, got a number",
        ),
    ],
)
def test_bad_documents_name_what_is_wrong(doc: str, problem: str) -> None:
    with pytest.raises(SnapshotFormatError) as info:
        loads(doc, "dir/file.seeded.jsonc")
    assert problem in str(info.value)
    assert info.value.path == "dir/file.seeded.jsonc"


def test_sse_parser_joins_split_chunks_and_crlf() -> None:
    wire = b'data: {"a": 1}\r\n\r\nevent: done\ndata: [DO' + b"NE]\n\n: comment\n\ndata: tail"
    parser = SSEParser()
    for n in range(0, len(wire), 5):
        parser.feed(wire[n : n + 5])
    parser.close()
    assert parser.events == [
        {"data": {"a": 1}},
        {"event": "done", "data": "[DONE]"},
        {"data": "tail"},
    ]
    again = SSEParser()
    again.feed(b"".join(encode_sse(parser.events)))
    again.close()
    assert again.events == parser.events


def test_stream_output_and_fingerprint() -> None:
    events: list[dict[str, Any]] = [
        {
            "data": {
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": {"content": "Hel"}}],
            }
        },
        {
            "data": {
                "system_fingerprint": "fp_2",
                "choices": [{"index": 0, "delta": {"content": "lo"}}],
            }
        },
        {
            "data": {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {"index": 0, "function": {"name": "f", "arguments": '{"a"'}}
                            ]
                        },
                    }
                ]
            }
        },
        {
            "data": {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
                    }
                ]
            }
        },
        {"data": "[DONE]"},
    ]
    assert stream_fingerprint(events) == "fp_2"
    assert stream_output(events) == 'Hello\n[tool call] f({"a": 1})'


def test_body_output_shows_every_choice_and_tool_call() -> None:
    body = {
        "choices": [
            {"index": 0, "message": {"content": "one"}},
            {
                "index": 1,
                "message": {
                    "content": None,
                    "tool_calls": [{"function": {"name": "g", "arguments": "{}"}}],
                },
            },
        ]
    }
    assert body_output(body) == "--- choice 0 ---\none\n--- choice 1 ---\n[tool call] g({})"
    assert body_output({"choices": [{"index": 0, "text": "legacy"}]}) == "legacy"
    assert body_output({"data": []}) == ""


def test_tokens_are_read_from_each_apis_own_usage() -> None:
    from pytest_seeded.apis.readers import tokens_used
    from pytest_seeded.storage.snapshot import RecordedResponse

    def body(b: Any) -> RecordedResponse:
        return RecordedResponse(200, "application/json", body=b)

    openai = {"usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
    assert tokens_used(body(openai)) == 12
    gemini = {"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 9}}
    assert tokens_used(body(gemini)) == 9
    # Anthropic streams input tokens at the start and the output count grows to the end.
    anthropic = RecordedResponse(
        200,
        "text/event-stream",
        events=[
            {"data": {"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}}},
            {"data": {"type": "message_delta", "usage": {"output_tokens": 25}}},
            {"data": {"type": "message_stop"}},
        ],
    )  # fmt: skip
    assert tokens_used(anthropic) == 35
    assert tokens_used(body({"data": []})) is None
