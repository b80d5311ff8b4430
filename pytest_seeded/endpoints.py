"""What a request and its answer mean: which requests are LLM calls (recognised by their shape,
whoever sent them), which can be seeded and how, when a stream is complete, and what an answer
says (its output, its fingerprint, the tokens it cost).

A request is an LLM call when its method and path are those of an OpenAI-, Anthropic- or
Gemini-shaped API, not when a known SDK sent it: litellm, langchain and google-genai build their
own clients, and a gateway may front any of them. Every other request is the test's other HTTP
(tools, retrieval), recorded and replayed as it is, never seeded or compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_seeded.snapshot import RecordedResponse
from pytest_seeded.wire import (
    Choice,
    body_choices,
    body_fingerprint,
    render,
    stream_choices,
    stream_fingerprint,
    usage_tokens,
)

Reader = Callable[[RecordedResponse], "dict[int, Choice]"]
Identity = Callable[[RecordedResponse], "str | None"]


def _openai_choices(response: RecordedResponse) -> dict[int, Choice]:
    if response.events is not None:
        return stream_choices(response.events)
    return body_choices(response.body)


def _openai_fingerprint(response: RecordedResponse) -> str | None:
    if response.events is not None:
        return stream_fingerprint(response.events)
    return body_fingerprint(response.body)


def _data(response: RecordedResponse) -> list[dict[str, Any]]:
    """The JSON objects of an answer: its body, or each stream event's data."""
    if response.events is None:
        return [response.body] if isinstance(response.body, dict) else []
    return [e["data"] for e in response.events if isinstance(e.get("data"), dict)]


def _responses_body(response: RecordedResponse) -> dict[str, Any] | None:
    """A Responses API answer as one object: the body, or a stream's completed response."""
    for data in reversed(_data(response)):
        if data.get("type") == "response.completed" and isinstance(data.get("response"), dict):
            return dict(data["response"])
        if data.get("object") == "response":
            return dict(data)
    return None


def _responses_choices(response: RecordedResponse) -> dict[int, Choice]:
    body = _responses_body(response)
    choice = Choice()
    parts: list[str] = []
    for item in (body or {}).get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text", "")))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    parts.append(f"[refusal] {part.get('refusal', '')}")
        elif item.get("type") == "function_call":
            choice.tool_calls.append((str(item.get("name", "")), str(item.get("arguments", ""))))
    choice.content = "".join(parts)
    return {0: choice}


def _model_of(key: str) -> Identity:
    """The answer's model (Responses, Anthropic) or model version (Gemini): what served it,
    for APIs that send no system_fingerprint."""

    def identity(response: RecordedResponse) -> str | None:
        for data in _data(response):
            for holder in (data, data.get("response"), data.get("message")):
                if isinstance(holder, dict) and isinstance(holder.get(key), str):
                    return str(holder[key])
        return None

    return identity


def _anthropic_choices(response: RecordedResponse) -> dict[int, Choice]:
    choice = Choice()
    texts: list[str] = []
    tools: dict[int, list[str]] = {}
    for data in _data(response):
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


def _gemini_choices(response: RecordedResponse) -> dict[int, Choice]:
    choices: dict[int, Choice] = {}
    for data in _data(response):
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


@dataclass(frozen=True)
class Endpoint:
    """One API shape."""

    name: str
    # Where the seed goes in the JSON body: a path of keys, or () when the API has no seed.
    seed_at: tuple[str, ...] = ()
    # What the answer says, so a live run can compare it; None when this version cannot read
    # it: such an answer is counted "not compared" in the report, never called equal.
    reader: Reader | None = None
    # What served the answer (drift is a change of it): system_fingerprint, or the model.
    identity: Identity = _openai_fingerprint
    identity_name: str = "system_fingerprint"
    # How a complete stream ends: the last event's data, or the name of its last event.
    stream_end_data: str | None = None
    stream_end_event: str | None = None

    @property
    def compared(self) -> bool:
        return self.reader is not None

    @property
    def seedable(self) -> bool:
        return bool(self.seed_at)

    @property
    def stream_end(self) -> str:
        """The end a complete stream of this API has, as a message names it."""
        if self.stream_end_data is not None:
            return f"closing 'data: {self.stream_end_data}'"
        return f"closing '{self.stream_end_event}' event"

    def stream_complete(self, events: list[dict[str, Any]]) -> bool:
        """Whether a stream reached the end its API always sends: without it the server
        stopped early (a crash, a proxy's timeout) and the answer may be cut short."""
        if self.stream_end_data is not None:
            return bool(events) and events[-1].get("data") == self.stream_end_data
        if self.stream_end_event is not None:
            return any(
                e.get("event") == self.stream_end_event
                or (
                    isinstance(e.get("data"), dict)
                    and e["data"].get("type") == self.stream_end_event
                )
                for e in events[-3:]
            )
        return True


CHAT = Endpoint(
    "chat.completions", seed_at=("seed",), reader=_openai_choices, stream_end_data="[DONE]"
)
COMPLETIONS = Endpoint(
    "completions", seed_at=("seed",), reader=_openai_choices, stream_end_data="[DONE]"
)
RESPONSES = Endpoint(
    "responses",
    reader=_responses_choices,
    identity=_model_of("model"),
    identity_name="model",
    stream_end_event="response.completed",
)
EMBEDDINGS = Endpoint("embeddings", identity=_model_of("model"))
OPENAI_OTHER = Endpoint("openai")
ANTHROPIC_MESSAGES = Endpoint(
    "anthropic.messages",
    reader=_anthropic_choices,
    identity=_model_of("model"),
    identity_name="model",
    stream_end_event="message_stop",
)
GEMINI = Endpoint(
    "gemini",
    seed_at=("generationConfig", "seed"),
    reader=_gemini_choices,
    identity=_model_of("modelVersion"),
    identity_name="modelVersion",
)
GEMINI_OTHER = Endpoint("gemini", identity=_model_of("modelVersion"))
# Any other request an LLM SDK sends to its API (models.list, files, batches): stored by path
# like the calls above, so a recording does not depend on the server's address.
SDK_OTHER = Endpoint("api")

# OpenAI-shaped paths, matched on their end (a gateway may put any prefix before /v1).
_OPENAI_SUFFIXES = (
    ("/chat/completions", CHAT),
    ("/completions", COMPLETIONS),
    ("/responses", RESPONSES),
    ("/embeddings", EMBEDDINGS),
    ("/moderations", OPENAI_OTHER),
    ("/images/generations", OPENAI_OTHER),
    ("/images/edits", OPENAI_OTHER),
    ("/images/variations", OPENAI_OTHER),
    ("/audio/speech", OPENAI_OTHER),
    ("/audio/transcriptions", OPENAI_OTHER),
    ("/audio/translations", OPENAI_OTHER),
    ("/messages", ANTHROPIC_MESSAGES),
    ("/messages/count_tokens", OPENAI_OTHER),
)
# Responses API follow-ups: /responses/{id}, /responses/{id}/input_items, .../cancel.
_RESPONSES_ITEM = re.compile(r"/responses/[^/]+(/input_items|/cancel)?$")
_GEMINI = re.compile(r"/models/[^/:]+:(\w+)$")
_GEMINI_GENERATE = ("generateContent", "streamGenerateContent")


def classify(method: str, path: str, body: Any) -> Endpoint | None:
    """The API shape of a request, or None when it is not an LLM call (the test's other HTTP).
    A path alone could be anyone's (a chat tool's POST /messages): OpenAI- and Anthropic-shaped
    calls also name a model in their body, or are a multipart form (uploads, transcriptions).
    Cheap: it runs on every request a test makes."""
    path = path.rstrip("/")
    if method == "POST":
        names_model = isinstance(body, dict) and ("model" in body or "form" in body)
        for suffix, endpoint in _OPENAI_SUFFIXES:
            if path.endswith(suffix):
                return endpoint if names_model else None
        found = _GEMINI.search(path)
        if found is not None:
            return GEMINI if found.group(1) in _GEMINI_GENERATE else GEMINI_OTHER
    if _RESPONSES_ITEM.search(path):
        return RESPONSES
    return None


# Telemetry the frameworks upload from background threads (openai-agents' traces, LangSmith's
# runs): not part of what a test does, and different on every run. Never recorded; sent as the
# user configured in record and live runs, answered in the process in replay.
_TELEMETRY_PATHS = ("/traces/ingest",)
_TELEMETRY_HOSTS = ("smith.langchain.com",)


def is_telemetry(host: str, path: str) -> bool:
    return path.rstrip("/").endswith(_TELEMETRY_PATHS) or host.endswith(_TELEMETRY_HOSTS)


def sent_by_sdk(headers: Any) -> bool:
    """Whether an LLM SDK sent the request: the Stainless SDKs (openai, anthropic) add their
    x-stainless-* headers, google-genai its x-goog-api-client header."""
    return (
        "x-stainless-lang" in headers
        or "x-goog-api-client" in headers
        or headers.get("user-agent", "").startswith(("OpenAI/", "Anthropic/"))
    )


def seeded(endpoint: Endpoint, body: Any, seed: int) -> dict[str, Any] | None:
    """The body with the run's seed where the API takes one and the request set none; None to
    send the request as it is."""
    if not endpoint.seed_at or not isinstance(body, dict):
        return None
    *parents, key = endpoint.seed_at
    out = dict(body)
    node = out
    for name in parents:
        child = node.get(name)
        if child is None:
            child = {}
        elif not isinstance(child, dict):
            return None
        else:
            child = dict(child)
        node[name] = child
        node = child
    if key in node:
        return None
    node[key] = seed
    return out


def fingerprint_of(endpoint: Endpoint, response: RecordedResponse) -> str | None:
    return endpoint.identity(response)


def choices_of(endpoint: Endpoint, response: RecordedResponse) -> dict[int, Choice]:
    return endpoint.reader(response) if endpoint.reader is not None else {}


def output_of(endpoint: Endpoint, response: RecordedResponse) -> str:
    return render(choices_of(endpoint, response))


def add_tokens(into: dict[str, int], response: RecordedResponse) -> None:
    usage = usage_tokens(response.events if response.events is not None else response.body)
    if usage is not None:
        model, tokens = usage
        into[model] = into.get(model, 0) + tokens
