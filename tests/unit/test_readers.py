"""What each API's reader says an answer says: output, identity and tokens, for whole answers
and streams alike."""

from __future__ import annotations

from typing import Any

from pytest_seeded.apis.endpoints import (
    ANTHROPIC_MESSAGES,
    CHAT,
    GEMINI,
    RESPONSES,
    classify,
    identity_of,
    output_of,
    seeded,
)
from pytest_seeded.apis.readers import generic_choices, tokens_used
from pytest_seeded.storage.snapshot import RecordedResponse

JSON = "application/json"


def body(data: object, status: int = 200) -> RecordedResponse:
    return RecordedResponse(status, JSON, body=data)


def test_chat_answer_whole_and_streamed_read_the_same() -> None:
    whole = body(
        {
            "model": "m-1",
            "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "message": {"content": "Rain falls."}}],
            "usage": {"total_tokens": 12},
        }
    )
    events: list[dict[str, Any]] = [
        {
            "data": {
                "model": "m-1",
                "system_fingerprint": "fp_1",
                "choices": [{"index": 0, "delta": {"content": "Rain "}}],
            }
        },
        {
            "data": {
                "model": "m-1",
                "system_fingerprint": "fp_1",
                "choices": [{"index": 0, "delta": {"content": "falls."}}],
            }
        },
        {"data": "[DONE]"},
    ]
    streamed = RecordedResponse(200, "text/event-stream", events=events)
    assert output_of(CHAT, whole) == output_of(CHAT, streamed) == "Rain falls."
    assert identity_of(CHAT, whole) == identity_of(CHAT, streamed) == ("fp_1", "m-1")
    assert tokens_used(whole) == 12
    assert CHAT.stream_complete(events)
    assert not CHAT.stream_complete(events[:-1])


def test_responses_and_anthropic_and_gemini_name_their_model() -> None:
    responses = body(
        {
            "object": "response",
            "model": "gpt-x-2026",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
        }
    )
    assert output_of(RESPONSES, responses) == "hi"
    assert identity_of(RESPONSES, responses) == (None, "gpt-x-2026")
    anthropic = body(
        {"type": "message", "model": "claude-z", "content": [{"type": "text", "text": "yo"}]}
    )
    assert output_of(ANTHROPIC_MESSAGES, anthropic) == "yo"
    gemini = body(
        {
            "modelVersion": "gemini-9",
            "candidates": [{"index": 0, "content": {"parts": [{"text": "ok"}]}}],
        }
    )
    assert output_of(GEMINI, gemini) == "ok"
    assert identity_of(GEMINI, gemini) == (None, "gemini-9")


def test_an_error_answer_is_read_whole_and_has_no_identity() -> None:
    error = body({"error": {"message": "bad", "type": "x"}, "model": "m"}, status=400)
    assert "bad" in output_of(CHAT, error)
    assert identity_of(CHAT, error) == (None, None)


def test_the_generic_reader_leaves_out_what_changes_every_call() -> None:
    a = body({"id": "a1", "created": 1, "result": 3, "item_id": "x"})
    b = body({"id": "b2", "created": 2, "result": 3, "item_id": "y"})
    assert generic_choices(a) == generic_choices(b)
    assert generic_choices(a) != generic_choices(body({"result": 4}))


def test_calls_are_recognised_by_shape_and_seeded_in_their_own_field() -> None:
    assert classify("POST", "/gateway/v1/chat/completions", {"model": "m"}) is CHAT
    assert classify("POST", "/v1/chat/completions", {"no": "model"}) is None
    assert classify("POST", "/v1beta/models/g:generateContent", {}) is GEMINI
    assert seeded(CHAT.seed_at, {"model": "m"}, 7) == {"model": "m", "seed": 7}
    assert seeded(CHAT.seed_at, {"model": "m", "seed": 1}, 7) is None  # its own seed is kept
    assert seeded(GEMINI.seed_at, {"generationConfig": {"t": 1}}, 7) == {
        "generationConfig": {"t": 1, "seed": 7}
    }
    assert seeded(RESPONSES.seed_at, {"model": "m"}, 7) is None  # the API takes no seed
