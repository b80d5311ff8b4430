"""What an answer says, for each API shape: its output (the text a live run compares and the
snapshot shows), what served it (fingerprint and model), and the tokens it cost.

Each reader takes a recorded response, a JSON body or a stream's events, and never raises on an
answer it does not expect: a missing field reads as empty, and the comparison then says what
differs. An API shape without its own reader is read by ``generic``: its JSON minus the fields
that change on every call (ids, timestamps, timings), so it is still compared, never skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from collections.abc import Callable
from typing import Any

from pytest_seeded.apis.wire import (
    Choice,
    body_choices,
    body_fingerprint,
    stream_choices,
    stream_fingerprint,
)
from pytest_seeded.storage.snapshot import RecordedResponse

Reader = Callable[[RecordedResponse], "dict[int, Choice]"]
Identity = Callable[[RecordedResponse], "str | None"]
Vectors = Callable[[RecordedResponse], "dict[int, list[float]]"]


def data_of(response: RecordedResponse) -> list[dict[str, Any]]:
    """The JSON objects of an answer: its body, or each stream event's data."""
    if response.events is None:
        return [response.body] if isinstance(response.body, dict) else []
    return [e["data"] for e in response.events if isinstance(e.get("data"), dict)]


def _text(content: str) -> dict[int, Choice]:
    return {0: Choice(content)}


# -- OpenAI chat and legacy completions ----------------------------------------------------


def openai_choices(response: RecordedResponse) -> dict[int, Choice]:
    if response.events is not None:
        return stream_choices(response.events)
    return body_choices(response.body)


def openai_fingerprint(response: RecordedResponse) -> str | None:
    if response.events is not None:
        return stream_fingerprint(response.events)
    return body_fingerprint(response.body)


def no_fingerprint(response: RecordedResponse) -> str | None:
    return None


def model_of(key: str) -> Identity:
    """The model (or Gemini's modelVersion) the answer says served it: the other half of a
    call's identity, and the only half for APIs that send no system_fingerprint."""

    def identity(response: RecordedResponse) -> str | None:
        for data in data_of(response):
            for holder in (data, data.get("response"), data.get("message")):
                if isinstance(holder, dict) and isinstance(holder.get(key), str):
                    return str(holder[key])
        return None

    return identity


MODEL = model_of("model")


# -- OpenAI Responses ------------------------------------------------------------------------


def _responses_body(response: RecordedResponse) -> dict[str, Any] | None:
    """A Responses API answer as one object: the body, or a stream's completed response."""
    for data in reversed(data_of(response)):
        if data.get("type") == "response.completed" and isinstance(data.get("response"), dict):
            return dict(data["response"])
        if data.get("object") == "response":
            return dict(data)
    return None


def responses_choices(response: RecordedResponse) -> dict[int, Choice]:
    body = _responses_body(response)
    choice = Choice()
    parts: list[str] = []
    reasoning: list[str] = []
    for item in (body or {}).get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text", "")))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    parts.append(f"[refusal] {part.get('refusal', '')}")
        elif kind == "function_call":
            choice.tool_calls.append((str(item.get("name", "")), str(item.get("arguments", ""))))
        elif kind == "reasoning":
            for part in item.get("summary") or []:
                if isinstance(part, dict) and part.get("text"):
                    reasoning.append(f"[reasoning] {part['text']}")
    choice.content = "\n".join([*reasoning, "".join(parts)]) if reasoning else "".join(parts)
    return {0: choice}


# -- Anthropic Messages ----------------------------------------------------------------------


def anthropic_choices(response: RecordedResponse) -> dict[int, Choice]:
    choice = Choice()
    texts: list[str] = []
    tools: dict[int, list[str]] = {}
    for data in data_of(response):
        kind = data.get("type")
        if kind == "message":  # a whole answer
            for n, block in enumerate(data.get("content") or []):
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "text":
                    texts.append(str(block.get("text", "")))
                elif block.get("type") == "tool_use":
                    tools[n] = [str(block.get("name", "")), json.dumps(block.get("input"))]
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if isinstance(block, dict) and block.get("type") == "tool_use":
                tools[int(data.get("index", 0))] = [str(block.get("name", "")), ""]
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                texts.append(str(delta.get("text", "")))
            elif isinstance(delta, dict) and delta.get("type") == "input_json_delta":
                tools.setdefault(int(data.get("index", 0)), ["", ""])[1] += str(
                    delta.get("partial_json", "")
                )
    choice.content = "".join(texts)
    choice.tool_calls = [(name, args) for _, (name, args) in sorted(tools.items())]
    return {0: choice}


# -- Gemini generateContent ------------------------------------------------------------------


def gemini_choices(response: RecordedResponse) -> dict[int, Choice]:
    choices: dict[int, Choice] = {}
    for data in data_of(response):
        for n, candidate in enumerate(data.get("candidates") or []):
            if not isinstance(candidate, dict):
                continue
            choice = choices.setdefault(int(candidate.get("index", n)), Choice())
            for part in (candidate.get("content") or {}).get("parts") or []:
                if not isinstance(part, dict):
                    continue
                if "text" in part:
                    choice.content += str(part["text"])
                elif isinstance(part.get("functionCall"), dict):
                    call = part["functionCall"]
                    choice.tool_calls.append(
                        (str(call.get("name", "")), json.dumps(call.get("args")))
                    )
    return choices


# -- Embeddings ------------------------------------------------------------------------------


def embedding_vectors(response: RecordedResponse) -> dict[int, list[float]]:
    """Each embedding by index. The openai SDK asks for base64 (little-endian float32) unless
    told otherwise; other clients get lists of numbers."""
    out: dict[int, list[float]] = {}
    body = response.body if isinstance(response.body, dict) else {}
    for n, item in enumerate(body.get("data") or []):
        if not isinstance(item, dict):
            continue
        raw = item.get("embedding")
        index = item.get("index", n)
        index = index if isinstance(index, int) else n
        if isinstance(raw, list):
            out[index] = [float(v) for v in raw if isinstance(v, (int, float))]
        elif isinstance(raw, str):
            try:
                packed = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                continue
            count = len(packed) // 4
            out[index] = list(struct.unpack(f"<{count}f", packed[: count * 4]))
    return out


def embedding_text(vectors: Vectors) -> Reader:
    """What a snapshot shows of an embeddings answer: each vector's size, head and digest (a
    live run compares the vectors themselves, by cosine similarity)."""

    def read(response: RecordedResponse) -> dict[int, Choice]:
        lines = []
        for index, vector in sorted(vectors(response).items()):
            head = ", ".join(f"{v:.4f}" for v in vector[:4])
            digest = hashlib.sha256(struct.pack(f"<{len(vector)}f", *vector)).hexdigest()[:12]
            lines.append(f"vector {index}: {len(vector)} dims [{head}, ...] sha256 {digest}")
        return _text("\n".join(lines))

    return read


embedding_choices = embedding_text(embedding_vectors)


# -- Moderations -----------------------------------------------------------------------------


def moderation_choices(response: RecordedResponse) -> dict[int, Choice]:
    """Each result's flag and the categories it flagged; scores move on every call, flags
    should not."""
    body = response.body if isinstance(response.body, dict) else {}
    lines = []
    for n, result in enumerate(body.get("results") or []):
        if not isinstance(result, dict):
            continue
        categories = result.get("categories") or {}
        flagged = sorted(k for k, v in categories.items() if v is True)
        lines.append(
            f"result {n}: flagged {str(bool(result.get('flagged'))).lower()}"
            f"{'; ' + ', '.join(flagged) if flagged else ''}"
        )
    return _text("\n".join(lines))


# -- Ollama's own API (/api/chat, /api/generate, /api/embed; NDJSON streams) ---------------


def ollama_choices(response: RecordedResponse) -> dict[int, Choice]:
    """A chat answer's message (or a generate answer's response), whole or over the stream's
    lines; tool calls as the message names them."""
    choice = Choice()
    for data in data_of(response):
        message = data.get("message")
        if isinstance(message, dict):
            choice.content += str(message.get("content") or "")
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    arguments = function.get("arguments")
                    choice.tool_calls.append(
                        (str(function.get("name", "")), json.dumps(arguments, sort_keys=True))
                    )
        elif isinstance(data.get("response"), str):
            choice.content += data["response"]
    return {0: choice}


def ollama_vectors(response: RecordedResponse) -> dict[int, list[float]]:
    """/api/embed's "embeddings" (one per input), or the older /api/embeddings' "embedding"."""
    body = response.body if isinstance(response.body, dict) else {}
    raw = body.get("embeddings")
    if not isinstance(raw, list):
        raw = [body.get("embedding")]
    return {
        n: [float(v) for v in vector if isinstance(v, (int, float))]
        for n, vector in enumerate(raw)
        if isinstance(vector, list)
    }


# -- Cohere v2 (/v2/chat, /v2/embed) ---------------------------------------------------------


def cohere_choices(response: RecordedResponse) -> dict[int, Choice]:
    """The message's text blocks and tool calls, whole or from the stream's content-delta and
    tool-call events."""
    choice = Choice()
    tools: list[list[str]] = []
    for data in data_of(response):
        kind = data.get("type")
        message = data.get("message")
        if kind is None and isinstance(message, dict):  # a whole answer
            for block in message.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "text":
                    choice.content += str(block.get("text", ""))
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    tools.append([str(function.get("name", "")), str(function.get("arguments"))])
            continue
        delta = data.get("delta")
        delta_message = delta.get("message") if isinstance(delta, dict) else None
        if not isinstance(delta_message, dict):
            continue
        content = delta_message.get("content")
        if kind == "content-delta" and isinstance(content, dict):
            choice.content += str(content.get("text", ""))
        call = delta_message.get("tool_calls")
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        if kind == "tool-call-start":
            tools.append([str(function.get("name", "")), str(function.get("arguments") or "")])
        elif kind == "tool-call-delta" and tools:
            tools[-1][1] += str(function.get("arguments") or "")
    choice.tool_calls = [(name, args) for name, args in tools]
    return {0: choice}


def cohere_vectors(response: RecordedResponse) -> dict[int, list[float]]:
    """v2's embeddings by type (the float ones), or v1's plain list."""
    body = response.body if isinstance(response.body, dict) else {}
    raw = body.get("embeddings")
    if isinstance(raw, dict):
        raw = raw.get("float")
    if not isinstance(raw, list):
        return {}
    return {
        n: [float(v) for v in vector if isinstance(v, (int, float))]
        for n, vector in enumerate(raw)
        if isinstance(vector, list)
    }


# -- AWS Bedrock Runtime (Converse, InvokeModel) ---------------------------------------------


def event_stream_messages(data: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an AWS event stream (application/vnd.amazon.eventstream: Bedrock's
    ConverseStream and InvokeModelWithResponseStream), each under its ':event-type' header.
    Frames: total length, headers length, prelude CRC, headers, payload, message CRC."""
    out: list[dict[str, Any]] = []
    at = 0
    while at + 16 <= len(data):
        total, headers_length = struct.unpack(">II", data[at : at + 8])
        if total < 16 or at + total > len(data):
            break
        headers = _event_stream_headers(data[at + 12 : at + 12 + headers_length])
        payload = data[at + 12 + headers_length : at + total - 4]
        at += total
        try:
            message = json.loads(payload) if payload else {}
        except ValueError:
            continue
        if isinstance(message, dict):
            out.append({headers.get(":event-type", ""): message})
    return out


def _event_stream_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    at = 0
    while at < len(raw):
        size = raw[at]
        name = raw[at + 1 : at + 1 + size].decode("utf-8", "replace")
        at += 1 + size
        kind = raw[at]
        at += 1
        if kind == 7:  # string: two-byte length
            (length,) = struct.unpack(">H", raw[at : at + 2])
            headers[name] = raw[at + 2 : at + 2 + length].decode("utf-8", "replace")
            at += 2 + length
        else:  # the frames Bedrock sends carry strings only; anything else ends the read
            break
    return headers


def _bedrock_data(response: RecordedResponse) -> list[dict[str, Any]]:
    body = response.body
    if isinstance(body, dict) and set(body) == {"base64"}:
        try:
            return event_stream_messages(base64.b64decode(str(body["base64"])))
        except (binascii.Error, ValueError, struct.error, IndexError):
            return []
    return data_of(response)


# ConverseStream's events that carry no text (its usage and metrics are in "metadata").
_STREAM_EVENTS = {"messageStart", "contentBlockStop", "messageStop", "metadata"}


def bedrock_choices(response: RecordedResponse) -> dict[int, Choice]:
    """Converse's output message (text and toolUse blocks), whole or from ConverseStream's
    events; an InvokeModel answer by its model family's shape (Anthropic's messages, Llama's
    generation, Mistral's outputs, Titan's results), anything else whole."""
    choice = Choice()
    tools: dict[int, list[str]] = {}
    for data in _bedrock_data(response):
        if "output" in data:  # Converse, whole
            message = (data.get("output") or {}).get("message") or {}
            for n, block in enumerate(message.get("content") or []):
                if isinstance(block, dict) and "text" in block:
                    choice.content += str(block["text"])
                elif isinstance(block, dict) and isinstance(block.get("toolUse"), dict):
                    use = block["toolUse"]
                    tools[n] = [str(use.get("name", "")), json.dumps(use.get("input"))]
        elif "contentBlockStart" in data:
            start = data["contentBlockStart"]
            use = (start.get("start") or {}).get("toolUse")
            if isinstance(use, dict):
                tools[int(start.get("contentBlockIndex", 0))] = [str(use.get("name", "")), ""]
        elif "contentBlockDelta" in data:
            event = data["contentBlockDelta"]
            delta = event.get("delta") or {}
            if "text" in delta:
                choice.content += str(delta["text"])
            elif isinstance(delta.get("toolUse"), dict):
                index = int(event.get("contentBlockIndex", 0))
                tools.setdefault(index, ["", ""])[1] += str(delta["toolUse"].get("input", ""))
        elif data.get("type") == "message":  # InvokeModel, an Anthropic model
            return anthropic_choices(response)
        elif isinstance(data.get("generation"), str):  # InvokeModel, Llama
            choice.content += data["generation"]
        elif isinstance(data.get("outputs"), list):  # InvokeModel, Mistral
            choice.content += "".join(
                str(o.get("text", "")) for o in data["outputs"] if isinstance(o, dict)
            )
        elif isinstance(data.get("results"), list):  # InvokeModel, Titan
            choice.content += "".join(
                str(r.get("outputText", "")) for r in data["results"] if isinstance(r, dict)
            )
        elif not _STREAM_EVENTS.intersection(data):
            return generic_choices(response)
    choice.tool_calls = [(name, args) for _, (name, args) in sorted(tools.items())]
    return {0: choice}


# -- Hugging Face TGI (/generate, /generate_stream) and vLLM's own /generate -----------------


def tgi_choices(response: RecordedResponse) -> dict[int, Choice]:
    """generated_text (a list of one from the root route), or the stream's tokens."""
    body = response.body
    if isinstance(body, list):
        body = body[0] if body and isinstance(body[0], dict) else {}
    if response.events is None:
        return _text(str((body or {}).get("generated_text") or ""))
    text = ""
    for data in data_of(response):
        token = data.get("token")
        if isinstance(token, dict) and not token.get("special"):
            text += str(token.get("text", ""))
    return _text(text)


def vllm_choices(response: RecordedResponse) -> dict[int, Choice]:
    """vLLM's own /generate: {"text": [prompt + output, ...]}, one per sampled sequence."""
    body = response.body if isinstance(response.body, dict) else {}
    texts = body.get("text")
    if not isinstance(texts, list):
        return generic_choices(response)
    return {n: Choice(str(t)) for n, t in enumerate(texts)}


# -- Anything else: bytes, and JSON minus what changes on every call -------------------------

# Keys whose values differ on every call whatever the answer says: server-made ids, times,
# server timings. The identity (fingerprint, model) is judged apart, as drift.
_VOLATILE = frozenset(
    {"id", "created", "timings", "system_fingerprint", "request_id", "responseId", "x_request_id"}
)


def _volatile(key: str) -> bool:
    # Ollama's and TGI's timings (total_duration, ...), Bedrock's metrics.latencyMs.
    return key in _VOLATILE or key.endswith(("_at", "_id", "_duration", "_ms", "latencyMs"))


def _digest(data: bytes) -> str:
    return f"<{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}>"


def _steady(value: Any) -> Any:
    """A JSON value without its volatile fields; base64 payloads (images, audio) as digests."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if _volatile(key):
                continue
            if key in ("b64_json", "base64", "data") and isinstance(item, str) and len(item) > 64:
                try:
                    out[key] = _digest(base64.b64decode(item, validate=True))
                    continue
                except (binascii.Error, ValueError):
                    pass
            out[key] = _steady(item)
        return out
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def generic_choices(response: RecordedResponse) -> dict[int, Choice]:
    """The answer of an API shape without its own reader, an error answer, or bytes (speech,
    images, files): compared whole, minus what changes on every call."""
    if response.events is not None:
        steady: Any = [_steady(e.get("data")) for e in response.events]
    elif isinstance(response.body, dict) and set(response.body) == {"base64"}:
        try:
            return _text(_digest(base64.b64decode(str(response.body["base64"]))))
        except (binascii.Error, ValueError):
            steady = response.body
    else:
        steady = _steady(response.body)
    if isinstance(steady, str):
        return _text(steady)
    return _text(json.dumps(steady, indent=1, sort_keys=True, ensure_ascii=False))


# -- Tokens ----------------------------------------------------------------------------------


def tokens_used(response: RecordedResponse) -> int | None:
    """The tokens an answer cost, from whichever usage its API reports: OpenAI's ``usage``
    (chat, completions, Responses, embeddings), Anthropic's (input and output counted apart,
    spread over a stream's events), Gemini's ``usageMetadata``, Cohere's ``usage.tokens``,
    Bedrock's ``usage.totalTokens`` and Ollama's eval counts."""
    seen: dict[str, int] = {}
    for data in data_of(response):
        delta = data.get("delta")
        for holder in (
            data,
            data.get("response"),
            data.get("message"),
            delta if isinstance(delta, dict) else None,
        ):
            if not isinstance(holder, dict):
                continue
            usage = holder.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("tokens"), dict):
                usage = usage["tokens"]  # Cohere: billed units apart from tokens
            if isinstance(usage, dict):
                for key, value in usage.items():
                    if key.endswith("_tokens") and isinstance(value, int):
                        seen[key] = max(seen.get(key, 0), value)
                    elif key == "totalTokens" and isinstance(value, int):  # Bedrock
                        seen["total_tokens"] = max(seen.get("total_tokens", 0), value)
            for key in ("prompt_eval_count", "eval_count"):  # Ollama
                if isinstance(holder.get(key), int):
                    seen[key] = max(seen.get(key, 0), holder[key])
            meta = holder.get("usageMetadata")
            if isinstance(meta, dict) and isinstance(meta.get("totalTokenCount"), int):
                seen["total_tokens"] = max(seen.get("total_tokens", 0), meta["totalTokenCount"])
    if not seen:
        return None
    if "total_tokens" in seen:
        return seen["total_tokens"]
    return sum(seen.values())
