"""A recorded LLM stream is written small and read back the same (issue 21: a 2,000-token
streamed answer took 589 KB against 17 KB unstreamed)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_seeded.storage.compact import compact, expand
from pytest_seeded.storage.snapshot import (
    RecordedCall,
    RecordedRequest,
    RecordedResponse,
    Recording,
    dumps,
    loads,
)

HEAD = {"id": "chatcmpl-abc123def456", "object": "chat.completion.chunk", "created": 1733500000,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0123456789"}  # fmt: skip
WORDS = [f" word{n % 97}" for n in range(2000)]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {"data": {**HEAD, "choices": [choice]}}


def _stream() -> list[dict[str, Any]]:
    return [
        _chunk({"role": "assistant", "content": ""}),
        *(_chunk({"content": w}) for w in WORDS),
        _chunk({}, "stop"),
        {"data": "[DONE]"},
    ]


def _file(response: RecordedResponse, output: str) -> str:
    request = RecordedRequest("POST", "/v1/chat/completions", {"model": "m", "seed": 42})
    call = RecordedCall(request, response, "fp_0123456789", output, "gpt-4o-mini")
    return dumps(Recording(seed=42, calls=[call]))


def test_a_2000_token_stream_takes_at_most_twice_the_bytes_of_the_answer_unstreamed() -> None:
    output = "".join(WORDS)
    whole = {**HEAD, "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": output}, "finish_reason": "stop"}
    ]}  # fmt: skip
    unstreamed = _file(RecordedResponse(200, "application/json", body=whole), output)
    streamed = _file(RecordedResponse(200, "text/event-stream", events=_stream()), output)
    assert len(streamed.encode()) <= 2 * len(unstreamed.encode()), (len(streamed), len(unstreamed))
    # Read back, it is the stream that was recorded, event for event.
    assert loads(streamed, "x.seeded.jsonc").calls[0].response.events == _stream()


TEXT = st.text(max_size=5)
DATA = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b"]), "choices": st.lists(
        st.fixed_dictionaries({"delta": st.fixed_dictionaries({"content": TEXT})}), max_size=2)}
)  # fmt: skip
EVENT = st.one_of(
    st.fixed_dictionaries({"data": DATA}),
    st.fixed_dictionaries({"data": DATA, "event": st.sampled_from(["x", "y"])}),
    st.fixed_dictionaries({"data": TEXT}),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=8))
def test_any_stream_comes_back_the_same(events: list[dict[str, Any]]) -> None:
    common, short = compact(events)
    back = expand(common, json.loads(json.dumps(short)))
    assert back == events
