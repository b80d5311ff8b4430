"""What a request and its answer mean: which requests are LLM calls (recognised by their shape,
whoever sent them), which can be seeded and how, when a stream is complete, and what an answer
says (its output, its fingerprint, the tokens it cost).

A request is an LLM call when its method and path are those of an OpenAI-, Anthropic- or
Gemini-shaped API, not when a known SDK sent it: litellm, langchain and google-genai build their
own clients, and a gateway may front any of them. Every other request is the test's other HTTP
(tools, retrieval), recorded and replayed as it is, never seeded or compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pytest_seeded.apis import readers
from pytest_seeded.apis.readers import Identity, Reader, Vectors
from pytest_seeded.apis.wire import Choice, render
from pytest_seeded.storage.snapshot import RecordedResponse


@dataclass(frozen=True)
class Endpoint:
    """One API shape."""

    name: str
    # Where the seed goes in the JSON body: a path of keys, or () when the API has no seed.
    seed_at: tuple[str, ...] = ()
    # What the answer says (readers.py): the output a live run compares and the snapshot
    # shows. An API shape without its own reader is compared on its JSON minus volatile fields.
    reader: Reader = readers.generic_choices
    # Embeddings: compared as vectors (cosine similarity), not as text.
    vectors: Vectors | None = None
    # What served the answer; a change of either is drift.
    fingerprint: Identity = readers.openai_fingerprint
    model: Identity = readers.MODEL
    model_name: str = "model"
    # How a complete stream ends: the last event's data, or the name of its last event.
    stream_end_data: str | None = None
    stream_end_event: str | None = None

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
    "chat.completions",
    seed_at=("seed",),
    reader=readers.openai_choices,
    stream_end_data="[DONE]",
)
COMPLETIONS = Endpoint(
    "completions", seed_at=("seed",), reader=readers.openai_choices, stream_end_data="[DONE]"
)
RESPONSES = Endpoint(
    "responses",
    reader=readers.responses_choices,
    fingerprint=readers.no_fingerprint,
    stream_end_event="response.completed",
)
EMBEDDINGS = Endpoint(
    "embeddings",
    reader=readers.embedding_choices,
    vectors=readers.embedding_vectors,
)
MODERATIONS = Endpoint("moderations", reader=readers.moderation_choices)
# Speech, images, transcriptions, files: compared whole (bytes by digest).
OPENAI_OTHER = Endpoint("openai")
ANTHROPIC_MESSAGES = Endpoint(
    "anthropic.messages",
    reader=readers.anthropic_choices,
    fingerprint=readers.no_fingerprint,
    stream_end_event="message_stop",
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
# Any other request an LLM SDK sends to its API (models.list, files, batches): stored by path
# like the calls above, so a recording does not depend on the server's address.
SDK_OTHER = Endpoint("api")

# OpenAI-shaped paths, matched on their end (a gateway may put any prefix before /v1).
_OPENAI_SUFFIXES = (
    ("/chat/completions", CHAT),
    ("/completions", COMPLETIONS),
    ("/responses", RESPONSES),
    ("/embeddings", EMBEDDINGS),
    ("/moderations", MODERATIONS),
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
