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


def embedding_choices(response: RecordedResponse) -> dict[int, Choice]:
    lines = []
    for index, vector in sorted(embedding_vectors(response).items()):
        head = ", ".join(f"{v:.4f}" for v in vector[:4])
        digest = hashlib.sha256(struct.pack(f"<{len(vector)}f", *vector)).hexdigest()[:12]
        lines.append(f"vector {index}: {len(vector)} dims [{head}, ...] sha256 {digest}")
    return _text("\n".join(lines))


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


# -- Anything else: bytes, and JSON minus what changes on every call -------------------------

# Keys whose values differ on every call whatever the answer says: server-made ids, times,
# server timings. The identity (fingerprint, model) is judged apart, as drift.
_VOLATILE = frozenset(
    {"id", "created", "timings", "system_fingerprint", "request_id", "responseId", "x_request_id"}
)


def _volatile(key: str) -> bool:
    return key in _VOLATILE or key.endswith(("_at", "_id"))


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
    spread over a stream's events) and Gemini's ``usageMetadata``."""
    seen: dict[str, int] = {}
    for data in data_of(response):
        for holder in (data, data.get("response"), data.get("message")):
            if not isinstance(holder, dict):
                continue
            usage = holder.get("usage")
            if isinstance(usage, dict):
                for key, value in usage.items():
                    if key.endswith("_tokens") and isinstance(value, int):
                        seen[key] = max(seen.get(key, 0), value)
            meta = holder.get("usageMetadata")
            if isinstance(meta, dict) and isinstance(meta.get("totalTokenCount"), int):
                seen["total_tokens"] = max(seen.get("total_tokens", 0), meta["totalTokenCount"])
    if not seen:
        return None
    if "total_tokens" in seen:
        return seen["total_tokens"]
    return sum(seen.values())
