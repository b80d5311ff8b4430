"""Every reader is total: whatever JSON an answer holds, at any key, reading it never raises
(../shared/redteam 19). What a reader cannot read it says, in the output a live run compares."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_seeded.apis.endpoints import (
    ANTHROPIC_MESSAGES,
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    GEMINI,
    MODERATIONS,
    OPENAI_OTHER,
    RESPONSES,
    identity_of,
    output_of,
    vectors_of,
)
from pytest_seeded.apis.ids import ServerIds
from pytest_seeded.apis.readers import tokens_used
from pytest_seeded.storage.snapshot import RecordedResponse

ENDPOINTS = (
    CHAT,
    COMPLETIONS,
    RESPONSES,
    EMBEDDINGS,
    MODERATIONS,
    OPENAI_OTHER,
    ANTHROPIC_MESSAGES,
    GEMINI,
)
# The keys the readers look for, so that the fuzzer puts odd values where they look.
KEYS = st.sampled_from(
    [
        "choices", "message", "delta", "content", "text", "tool_calls", "function", "name",
        "arguments", "index", "model", "system_fingerprint", "usage", "total_tokens", "output",
        "type", "summary", "results", "categories", "flagged", "data", "embedding", "candidates",
        "parts", "modelVersion", "usageMetadata", "input", "id", "response", "refusal",
        "content_block", "partial_json", "b64_json", "object", "x",
    ]
)  # fmt: skip
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def read_all(response: RecordedResponse) -> None:
    for endpoint in ENDPOINTS:
        assert isinstance(output_of(endpoint, response), str)
        fingerprint, model = identity_of(endpoint, response)
        assert fingerprint is None or isinstance(fingerprint, str)
        assert model is None or isinstance(model, str)
        vectors = vectors_of(endpoint, response)
        assert vectors is None or isinstance(vectors, dict)
    tokens = tokens_used(response)
    assert tokens is None or isinstance(tokens, int)
    ServerIds().learn(response, response)  # live mode pairs the ids of any answer


@settings(max_examples=300, deadline=None)
@given(body=JSON)
def test_any_whole_answer_is_read_without_raising(body: Any) -> None:
    read_all(RecordedResponse(200, "application/json", body=body))


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.fixed_dictionaries({"data": JSON}, optional={"event": st.text(max_size=5)}), max_size=4
    )
)
def test_any_stream_is_read_without_raising(events: list[dict[str, Any]]) -> None:
    read_all(RecordedResponse(200, "text/event-stream", events=events))


def test_the_odd_answers_that_broke_the_readers_say_what_they_could_not_read() -> None:
    # A tool call whose function is a string; moderation categories as a list; a Gemini
    # candidate with index null.
    chat = {
        "choices": [
            {"index": 0, "message": {"content": "hi", "tool_calls": [{"function": "lookup"}]}}
        ]
    }
    moderation = {"results": [{"flagged": True, "categories": ["hate"]}]}
    gemini = {"candidates": [{"index": None, "content": {"parts": [{"text": "ok"}]}}]}
    for endpoint, body in ((CHAT, chat), (MODERATIONS, moderation), (GEMINI, gemini)):
        output = output_of(endpoint, RecordedResponse(200, "application/json", body=body))
        assert isinstance(output, str)
        assert output
