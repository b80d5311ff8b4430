"""The providers table (apis/endpoints.py ROUTES) and the readers of the providers' own
shapes: which row a request is, where its seed goes, what its answer says."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest

from pytest_seeded.apis import endpoints as e
from pytest_seeded.apis.endpoints import classify, output_of, seed_in, seeded
from pytest_seeded.apis.readers import event_stream_messages, tokens_used
from pytest_seeded.apis.wire import NDJSONParser, encode_ndjson
from pytest_seeded.storage.snapshot import RecordedResponse

CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize(
    ("path", "body", "host", "agent", "expected"),
    [
        ("/api/chat", CHAT, "", "", e.OLLAMA_CHAT),
        ("/api/generate", {"model": "m", "prompt": "x"}, "", "", e.OLLAMA_GENERATE),
        ("/api/embed", {"model": "m", "input": "x"}, "", "", e.OLLAMA_EMBED),
        ("/v2/chat", CHAT, "", "", e.COHERE_CHAT),
        ("/v2/embed", {"model": "m", "texts": ["x"]}, "", "", e.COHERE_EMBED),
        ("/v1/chat/completions", CHAT, "api.mistral.ai", "", e.MISTRAL_CHAT),
        ("/v1/chat/completions", CHAT, "", "mistral-client-python/3.7.0", e.MISTRAL_CHAT),
        ("/v1/chat/completions", {**CHAT, "random_seed": 1}, "", "", e.MISTRAL_CHAT),
        ("/v1/chat/completions", CHAT, "api.openai.com", "OpenAI/Python 3", e.CHAT),
        ("/model/anthropic.claude-v1:0/converse", {"messages": []}, "", "", e.BEDROCK),
        ("/model/m/invoke-with-response-stream", {}, "", "", e.BEDROCK),
        ("", {"inputs": "x", "parameters": {}}, "", "", e.TGI),
        ("/generate_stream", {"inputs": "x"}, "", "", e.TGI),
        ("/generate", {"prompt": "x"}, "", "", e.VLLM_GENERATE),
        # Vertex AI through google-genai: Gemini's shape under a project's path.
        (
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini:generateContent",
            {"contents": []},
            "",
            "",
            e.GEMINI,
        ),
        ("/house/infer", {"model": "m", "prompt": "x"}, "", "", e.GENERIC),
        ("/house/infer", {"prompt": "x"}, "", "", None),  # no model: a tool's POST
        ("/search", {"query": "x"}, "", "", None),
    ],
)
def test_each_row_is_recognised(
    path: str, body: Any, host: str, agent: str, expected: e.Endpoint | None
) -> None:
    assert classify("POST", path, body, host, agent) is expected


def test_each_provider_is_seeded_in_its_own_field_and_keeps_its_own() -> None:
    assert seeded(e.OLLAMA_CHAT.seed_at, {"options": {"temperature": 0}}, 7) == {
        "options": {"temperature": 0, "seed": 7}
    }
    assert seeded(e.MISTRAL_CHAT.seed_at, CHAT, 7) == {**CHAT, "random_seed": 7}
    assert seeded(e.MISTRAL_CHAT.seed_at, {**CHAT, "random_seed": 5}, 7) is None
    assert seeded(e.TGI.seed_at, {"inputs": "x"}, 7) == {"inputs": "x", "parameters": {"seed": 7}}
    assert seed_in(e.TGI.seed_at, {"parameters": {"seed": 3}}) == 3
    assert seed_in(e.BEDROCK.seed_at, {"seed": 3}) is None  # Bedrock takes none


def test_ndjson_lines_survive_any_chunking() -> None:
    lines = [{"message": {"content": "a"}, "done": False}, {"done": True}]
    raw = b"".join(encode_ndjson([{"data": line} for line in lines]))
    for size in (1, 3, len(raw)):
        parser = NDJSONParser()
        for start in range(0, len(raw), size):
            parser.feed(raw[start : start + size])
        parser.close()
        assert [ev["data"] for ev in parser.events] == lines
    assert e.OLLAMA_CHAT.stream_complete([{"data": line} for line in lines])
    assert not e.OLLAMA_CHAT.stream_complete([{"data": lines[0]}])


def _frame(event: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message, as botocore reads them (CRCs included)."""
    headers = b""
    for name, value in ((":event-type", event), (":message-type", "event")):
        headers += bytes([len(name)]) + name.encode() + b"\x07"
        headers += struct.pack(">H", len(value)) + value.encode()
    body = json.dumps(payload).encode()
    total = 16 + len(headers) + len(body)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def test_bedrock_event_streams_are_read_from_their_frames() -> None:
    raw = b"".join(
        [
            _frame("messageStart", {"role": "assistant"}),
            _frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "calm "}}),
            _frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "sea"}}),
            _frame("metadata", {"usage": {"totalTokens": 9}, "metrics": {"latencyMs": 5}}),
        ]
    )
    assert [next(iter(m)) for m in event_stream_messages(raw)][1] == "contentBlockDelta"
    import base64

    response = RecordedResponse(
        200,
        "application/vnd.amazon.eventstream",
        {"base64": base64.b64encode(raw).decode()},
    )
    assert output_of(e.BEDROCK, response) == "calm sea"


def test_providers_answers_say_what_they_say() -> None:
    cohere = RecordedResponse(
        200,
        "application/json",
        {
            "message": {"content": [{"type": "text", "text": "hi"}], "tool_calls": []},
            "usage": {"tokens": {"input_tokens": 3, "output_tokens": 2}},
        },
    )
    assert output_of(e.COHERE_CHAT, cohere) == "hi"
    assert tokens_used(cohere) == 5
    ollama = RecordedResponse(
        200,
        "application/x-ndjson",
        events=[
            {"data": {"message": {"content": "a"}, "done": False}},
            {"data": {"message": {"content": "b"}, "done": True, "eval_count": 2}},
        ],
    )
    assert output_of(e.OLLAMA_CHAT, ollama) == "ab"
    tgi = RecordedResponse(200, "application/json", [{"generated_text": "sea"}])
    assert output_of(e.TGI, tgi) == "sea"
    odd = RecordedResponse(200, "application/json", {"unexpected": 1, "took_ms": 4})
    assert "took_ms" not in output_of(e.BEDROCK, odd)


def test_seed_hosts_seed_only_sampled_apis_without_a_seed() -> None:
    """llm_seed_hosts adds a seed to Responses, Anthropic Messages and unknown LLM APIs; never
    to embeddings, moderations or images, which are not sampled."""
    import httpx2

    from pytest_seeded.exchange import prepare

    class _Hook:
        def pytest_seeded_scrub(self, request: Any, response: Any) -> None:
            return None

    def sent(path: str, body: dict[str, Any]) -> Any:
        request = httpx2.Request("POST", f"http://127.0.0.1:8080{path}", json=body)
        hosts = frozenset({"127.0.0.1:8080"})
        prepared = prepare(request, seed=7, sends=True, scrub=frozenset(), hook=_Hook(),
                           seed_hosts=hosts)  # fmt: skip
        return json.loads(prepared.request.read()).get("seed")

    assert sent("/v1/responses", {"model": "m", "input": "x"}) == 7
    assert sent("/v1/messages", {"model": "m", "messages": []}) == 7
    assert sent("/house/infer", {"model": "m", "prompt": "x"}) == 7
    assert sent("/v1/embeddings", {"model": "m", "input": "x"}) is None
    assert sent("/v1/moderations", {"model": "m", "input": "x"}) is None
    assert sent("/v1/images/generations", {"model": "m", "prompt": "x"}) is None
