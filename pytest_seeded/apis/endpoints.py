"""What a request and its answer mean: which requests are LLM calls (recognised by their shape,
whoever sent them), which can be seeded and how, when a stream is complete, and what an answer
says (its output, its fingerprint, the tokens it cost).

A request is an LLM call when its method and path are those of an OpenAI-, Anthropic- or
Gemini-shaped API, not when a known SDK sent it: litellm, langchain and google-genai build their
own clients, and a gateway may front any of them. Every other request is the test's other HTTP
(tools, retrieval), recorded and replayed as it is, never seeded or compared.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_seeded.apis import readers
from pytest_seeded.apis.readers import Identity, Reader, Vectors
from pytest_seeded.apis.wire import Choice, render
from pytest_seeded.storage.snapshot import RecordedResponse


@dataclass(frozen=True)
class StreamEnd:
    """How a complete stream of an API ends; a stream without it was cut short by the server."""

    # As a message names it: "closing 'data: [DONE]'".
    says: str
    complete: Callable[[list[dict[str, Any]]], bool]


def _data_is(value: str) -> StreamEnd:
    return StreamEnd(
        f"closing 'data: {value}'", lambda events: bool(events) and events[-1].get("data") == value
    )


def _event_named(name: str) -> StreamEnd:
    def complete(events: list[dict[str, Any]]) -> bool:
        return any(
            e.get("event") == name
            or (isinstance(e.get("data"), dict) and e["data"].get("type") == name)
            for e in events[-3:]
        )

    return StreamEnd(f"closing '{name}' event", complete)


def _last_has(key: str, value: Any = None) -> StreamEnd:
    """The last event's data has ``key`` (with that value, or any value but null)."""

    def complete(events: list[dict[str, Any]]) -> bool:
        data = events[-1].get("data") if events else None
        if not isinstance(data, dict) or data.get(key) is None:
            return False
        return value is None or data[key] == value

    shown = json.dumps({key: value}) if value is not None else f"'{key}'"
    return StreamEnd(f"closing line with {shown}", complete)


@dataclass(frozen=True)
class Endpoint:
    """One API shape: a row of the providers table."""

    name: str
    # Where the seed goes in the JSON body: a path of keys, or () when the API has no seed.
    seed_at: tuple[str, ...] = ()
    # Where it goes for a host in llm_seed_hosts, whose server takes a seed the hosted API
    # has none for (llama.cpp and vLLM on /v1/responses); sampled text APIs only.
    host_seed_at: tuple[str, ...] = ()
    # What the answer says (readers.py): the output a live run compares and the snapshot
    # shows. An API shape without its own reader is compared on its JSON minus volatile fields.
    reader: Reader = readers.generic_choices
    # Embeddings: compared as vectors (cosine similarity), not as text.
    vectors: Vectors | None = None
    # What served the answer; a change of either is drift.
    fingerprint: Identity = readers.openai_fingerprint
    model: Identity = readers.MODEL
    model_name: str = "model"
    # How a complete stream ends; None: however it ends.
    stream_end: StreamEnd | None = None
    # What to ask the server, once per run, for what served an answer that does not say it
    # (capture/probes.py): "models" (/v1/models), "ollama" (/api/tags' digest), "tgi" (/info).
    probe: str | None = None

    @property
    def fingerprint_name(self) -> str:
        """What the first half of the identity is called where it changed."""
        return "served model" if self.probe else "system_fingerprint"

    @property
    def seedable(self) -> bool:
        return bool(self.seed_at)

    @property
    def stream_end_says(self) -> str:
        return self.stream_end.says if self.stream_end else "its end"

    def stream_complete(self, events: list[dict[str, Any]]) -> bool:
        """Whether a stream reached the end its API always sends: without it the server
        stopped early (a crash, a proxy's timeout) and the answer may be cut short."""
        return self.stream_end is None or self.stream_end.complete(events)


CHAT = Endpoint(
    "chat.completions",
    seed_at=("seed",),
    reader=readers.openai_choices,
    stream_end=_data_is("[DONE]"),
)
COMPLETIONS = Endpoint(
    "completions", seed_at=("seed",), reader=readers.openai_choices, stream_end=_data_is("[DONE]")
)
RESPONSES = Endpoint(
    "responses",
    host_seed_at=("seed",),
    reader=readers.responses_choices,
    fingerprint=readers.no_fingerprint,
    stream_end=_event_named("response.completed"),
)
EMBEDDINGS = Endpoint(
    "embeddings",
    reader=readers.embedding_choices,
    vectors=readers.embedding_vectors,
    # llama.cpp's answers repeat the requested name, whatever file it serves.
    probe="models",
)
MODERATIONS = Endpoint("moderations", reader=readers.moderation_choices)
# Speech, images, transcriptions, files: compared whole (bytes by digest).
OPENAI_OTHER = Endpoint("openai")
ANTHROPIC_MESSAGES = Endpoint(
    "anthropic.messages",
    host_seed_at=("seed",),
    reader=readers.anthropic_choices,
    fingerprint=readers.no_fingerprint,
    stream_end=_event_named("message_stop"),
)
GEMINI = Endpoint(
    "gemini",
    seed_at=("generationConfig", "seed"),
    reader=readers.gemini_choices,
    fingerprint=readers.no_fingerprint,
    model=readers.model_of("modelVersion"),
    model_name="modelVersion",
)
GEMINI_OTHER = Endpoint(
    "gemini",
    fingerprint=readers.no_fingerprint,
    model=readers.model_of("modelVersion"),
    model_name="modelVersion",
)
# Mistral's chat takes its seed as random_seed and refuses fields it does not know.
MISTRAL_CHAT = Endpoint(
    "mistral.chat",
    seed_at=("random_seed",),
    reader=readers.openai_choices,
    fingerprint=readers.no_fingerprint,
    stream_end=_data_is("[DONE]"),
)
OLLAMA_CHAT = Endpoint(
    "ollama.chat",
    seed_at=("options", "seed"),
    reader=readers.ollama_choices,
    fingerprint=readers.no_fingerprint,
    stream_end=_last_has("done", True),
    probe="ollama",
)
OLLAMA_GENERATE = dataclasses.replace(OLLAMA_CHAT, name="ollama.generate")
OLLAMA_EMBED = Endpoint(
    "ollama.embed",
    reader=readers.embedding_text(readers.ollama_vectors),
    vectors=readers.ollama_vectors,
    fingerprint=readers.no_fingerprint,
    probe="ollama",
)
COHERE_CHAT = Endpoint(
    "cohere.chat",
    seed_at=("seed",),
    reader=readers.cohere_choices,
    fingerprint=readers.no_fingerprint,
    stream_end=_event_named("message-end"),
)
COHERE_EMBED = Endpoint(
    "cohere.embed",
    reader=readers.embedding_text(readers.cohere_vectors),
    vectors=readers.cohere_vectors,
    fingerprint=readers.no_fingerprint,
)
# Bedrock Runtime: no seed on any model; the model is in the path, not the answer.
BEDROCK = Endpoint("bedrock", reader=readers.bedrock_choices, fingerprint=readers.no_fingerprint)
TGI = Endpoint(
    "tgi.generate",
    seed_at=("parameters", "seed"),
    reader=readers.tgi_choices,
    fingerprint=readers.no_fingerprint,
    stream_end=_last_has("generated_text"),
    probe="tgi",
)
VLLM_GENERATE = Endpoint(
    "vllm.generate",
    seed_at=("seed",),
    reader=readers.vllm_choices,
    fingerprint=readers.no_fingerprint,
)
# A JSON POST that names a model and carries a prompt on a path no row knows: an LLM call of an
# API the table lacks, compared by the generic reader, never seeded (its field is unknown).
GENERIC = Endpoint("llm", host_seed_at=("seed",), fingerprint=readers.no_fingerprint)
# Any other request an LLM SDK sends to its API (models.list, files, batches): stored by path
# like the calls above, so a recording does not depend on the server's address.
SDK_OTHER = Endpoint("api")


def _has(*keys: str) -> Callable[[Any], bool]:
    return lambda body: isinstance(body, dict) and all(k in body for k in keys)


def _any(body: Any) -> bool:
    return True


def _names_model(body: Any) -> bool:
    # OpenAI- and Anthropic-shaped calls name a model in their body, or are a multipart form
    # (uploads, transcriptions): a path alone could be anyone's (a chat tool's POST /messages).
    return isinstance(body, dict) and ("model" in body or "form" in body)


def _mistral(body: Any, host: str, agent: str) -> bool:
    return (
        host.endswith("mistral.ai")
        or agent.startswith("mistral-client")
        or (isinstance(body, dict) and "random_seed" in body)
    )


def _tgi(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("inputs"), str) and "model" not in body


@dataclass(frozen=True)
class Route:
    """How a request of one API shape is recognised: its path (a regular expression searched
    at the path's end) and what its body (and, rarely, its host or client) must hold."""

    path: str
    endpoint: Endpoint
    body: Callable[[Any], bool] = _names_model
    sender: Callable[[Any, str, str], bool] | None = None


# The providers table, first match wins: more particular rows before the OpenAI shapes they
# share a path with. A gateway may put any prefix before a path.
ROUTES: tuple[Route, ...] = (
    Route(r"/api/chat", OLLAMA_CHAT, _has("model")),
    Route(r"/api/generate", OLLAMA_GENERATE, _has("model")),
    Route(r"/api/embed(dings)?", OLLAMA_EMBED, _has("model")),
    Route(r"/v2/chat", COHERE_CHAT, _has("model", "messages")),
    Route(r"/v2/embed", COHERE_EMBED, _has("model")),
    Route(
        r"/model/[^/]+/(converse|converse-stream|invoke|invoke-with-response-stream)",
        BEDROCK,
        lambda body: True,
    ),
    Route(r"/chat/completions", MISTRAL_CHAT, sender=_mistral),
    Route(r"/chat/completions", CHAT),
    Route(r"/completions", COMPLETIONS),
    Route(r"/responses", RESPONSES),
    Route(r"/embeddings", EMBEDDINGS),
    Route(r"/moderations", MODERATIONS),
    Route(r"/images/(generations|edits|variations)", OPENAI_OTHER),
    Route(r"/audio/(speech|transcriptions|translations)", OPENAI_OTHER),
    Route(r"/messages", ANTHROPIC_MESSAGES),
    Route(r"/messages/count_tokens", OPENAI_OTHER),
    Route(r"/models/[^/:]+:(generateContent|streamGenerateContent)", GEMINI, _any),
    Route(r"/models/[^/:]+:\w+", GEMINI_OTHER, _any),
    # TGI answers its root route too (huggingface_hub's InferenceClient posts there).
    Route(r"(/generate|/generate_stream|^)", TGI, _tgi),
    Route(r"/generate", VLLM_GENERATE, _has("prompt")),
)
_COMPILED = tuple((re.compile(f"{route.path}$"), route) for route in ROUTES)
# Responses API follow-ups: /responses/{id}, /responses/{id}/input_items, .../cancel.
_RESPONSES_ITEM = re.compile(r"/responses/[^/]+(/input_items|/cancel)?$")
# The fallback's prompt fields: chat messages, a prompt, an input, Gemini-style contents.
_PROMPT_FIELDS = ("messages", "prompt", "input", "inputs", "contents")


def classify(method: str, path: str, body: Any, host: str = "", agent: str = "") -> Endpoint | None:
    """The API shape of a request, or None when it is not an LLM call (the test's other HTTP).
    Cheap: it runs on every request a test makes."""
    path = path.rstrip("/")
    if method == "POST":
        for pattern, route in _COMPILED:
            if pattern.search(path) is None or not route.body(body):
                continue
            if route.sender is None or route.sender(body, host, agent):
                return route.endpoint
        if (
            isinstance(body, dict)
            and isinstance(body.get("model"), str)
            and any(key in body for key in _PROMPT_FIELDS)
        ):
            return GENERIC
    if _RESPONSES_ITEM.search(path):
        return RESPONSES
    return None


# Telemetry the frameworks upload from background threads (openai-agents' traces, LangSmith's
# runs): not part of what a test does, and different on every run. Never recorded; sent as the
# user configured in record and live runs, answered in the process in replay.
# huggingface_hub fetches its agent registry (at most daily, cached on disk) before a request:
# recorded, a replay that reads the cache would leave it unused.
_TELEMETRY_PATHS = ("/traces/ingest", "/api/agent-harnesses")
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


def seeded(at: tuple[str, ...], body: Any, seed: int) -> dict[str, Any] | None:
    """The body with the run's seed at ``at`` (a path of keys), unless the request set one
    there itself (it keeps its own: the stored request shows it); None to send it as it is."""
    if not at or not isinstance(body, dict):
        return None
    *parents, key = at
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


def seed_in(at: tuple[str, ...], body: Any) -> Any:
    """The seed a request carries at ``at``; None when it has none (or the API takes none)."""
    node = body
    for name in at:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node if at else None


def output_of(endpoint: Endpoint, response: RecordedResponse) -> str:
    """What the answer says, as the snapshot shows it and a live run compares it. An error
    answer (a recorded 4xx) is read whole: its message is what it says."""
    return render(choices_of(endpoint, response))


def choices_of(endpoint: Endpoint, response: RecordedResponse) -> dict[int, Choice]:
    """What an answer says, by its API's reader. Readers are total: an answer of a shape the
    reader does not expect (a server's bug, a gateway's own fields) is read whole, like any
    answer without a reader, with a line saying what could not be read; it never raises
    inside a call."""
    if not 200 <= response.status < 300:
        return readers.generic_choices(response)
    try:
        return endpoint.reader(response)
    except Exception as exc:
        choices = readers.generic_choices(response)
        note = f"[pytest-seeded: not readable as {endpoint.name} ({type(exc).__name__}: {exc})]"
        first = choices.get(0, Choice())
        choices[0] = Choice(f"{note}\n{first.content}".rstrip("\n"), first.tool_calls)
        return choices


def identity_of(endpoint: Endpoint, response: RecordedResponse) -> tuple[str | None, str | None]:
    """(fingerprint, model) of an answer: what served it. An error answer has neither, and
    neither has an answer whose fields are not of the shape its API gives them."""
    if not 200 <= response.status < 300:
        return None, None
    return _safely(endpoint.fingerprint, response), _safely(endpoint.model, response)


def vectors_of(endpoint: Endpoint, response: RecordedResponse) -> dict[int, list[float]] | None:
    """An embeddings answer's vectors; None for another API, or vectors it cannot read."""
    if endpoint.vectors is None:
        return None
    try:
        return endpoint.vectors(response)
    except Exception:
        return None


def _safely(read: Identity, response: RecordedResponse) -> str | None:
    try:
        found = read(response)
    except Exception:
        return None
    return found if isinstance(found, str) else None


def add_tokens(into: dict[str, int], endpoint: Endpoint, response: RecordedResponse) -> None:
    try:
        tokens = readers.tokens_used(response)
    except Exception:
        tokens = None
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        model = _safely(endpoint.model, response) or "unknown"
        into[model] = into.get(model, 0) + tokens
