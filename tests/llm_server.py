"""An OpenAI-compatible HTTP server on 127.0.0.1 for the plugin's own tests.

It speaks chat completions and legacy completions, as JSON and as SSE streams. Its output is a
pure function of (seed, model, prompt), its ``system_fingerprint`` can be changed by the test, and
it keeps every request it received, so tests can prove what the plugin sent.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from provider_routes import ProviderRoutes

WORDS = (
    "rain falls softly on the quiet harbour while lanterns glow and gulls drift over grey "
    "stones the kettle sings a morning tune of copper light and paper boats"
).split(" ")

CREATED = 1_700_000_000


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ServerState:
    fingerprint: str | None = "fp_loopback_1"
    # Only the first stream chunk carries the fingerprint, as some servers do.
    fingerprint_first_chunk_only: bool = False
    # Seconds to wait between stream chunks.
    chunk_delay: float = 0.0
    # A salt mixed into the output, to make the server answer differently under one
    # fingerprint (what "mostly identical" looks like from the outside).
    salt: str = ""
    # Every Nth completion request (1-based count) ends differently after its third word:
    # what a not-quite-deterministic backend looks like under --llm-repeat.
    vary_every: int = 0
    # The same, counted per prompt: the same answers vary whatever order concurrent test
    # processes send their requests in.
    vary_prompt_every: int = 0
    prompt_counts: dict[str, int] = field(default_factory=dict)
    # Rewrites each answer's text (not tool calls), e.g. to add white space or smart quotes.
    decorate: Callable[[str], str] | None = None
    # Indent JSON answers and tool-call arguments: the same data, other bytes.
    json_indent: int | None = None
    completions: int = 0
    # Faults: the next completion requests answer with these HTTP statuses, one each.
    fail_with: list[int] = field(default_factory=list)
    # Close a stream's connection after this many events, with no [DONE].
    cut_stream_after: int | None = None
    # End streams cleanly (a complete chunked body) but without the closing [DONE].
    omit_done: bool = False
    # Sent as retry-after with the statuses of fail_with.
    retry_after: str | None = None
    # Seconds to wait before answering a completion request (a slow or hung server).
    delay: float = 0.0
    # Answer completion requests with 200 and a body that is not JSON.
    invalid_json: bool = False
    # What real servers do on every answer: a fresh id, the current time, and timings
    # (llama.cpp's "timings"), while the text stays a function of seed, model and prompt.
    volatile: bool = False
    # Wait up to this many seconds, at random, before answering: concurrent calls then
    # complete in a different order each run.
    jitter: float = 0.0
    # Echo the request's credentials (headers and the full URL) in the answer's body, as a
    # misconfigured gateway or a debugging endpoint does.
    echo_in_body: bool = False
    # Send answers compressed ("gzip" or "deflate"), whatever the client asked for.
    encoding: str = ""
    # Line endings of SSE streams: "\n", "\r\n" or "\r".
    sse_newline: str = "\n"
    # Answer chat completions with exactly this JSON (an odd answer a server or gateway sends).
    raw_answer: Any = None
    # Stream deltas of this many characters, not a word each (a word then spans events).
    piece_chars: int = 0
    # Stream one content delta of this many bytes, written in 64 KiB pieces (a huge event).
    huge_event_bytes: int = 0
    # Appended to the model a chat, completion or embedding answer names: a new model version
    # behind the same name and fingerprint (what llama.cpp serves when its file changes).
    model_version: str = ""
    # A chat request whose prompt holds this is refused with a 400 (a bad request, final),
    # unless accept_all is set (the provider relaxed its rules).
    reject_marker: str = "reject me"
    accept_all: bool = False
    # Noise added to each embedding value: what a backend's float rounding looks like.
    embedding_noise: float = 0.0
    # Per model, for chat and legacy completions: another fingerprint, another salt (one model
    # of a test changed its backend, another its answers).
    fingerprint_by_model: dict[str, str] = field(default_factory=dict)
    salt_by_model: dict[str, str] = field(default_factory=dict)
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def generate_text(seed: int | None, model: str, prompt: str, salt: str = "") -> str:
    """The server's answer: deterministic for a seed, random without one."""
    if seed is None:
        rng = random.Random()
    else:
        digest = hashlib.sha256(f"{seed}|{model}|{prompt}|{salt}".encode()).digest()
        rng = random.Random(digest)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))


def _prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body["messages"])
    return str(body.get("prompt", ""))


def _usage(prompt: str, text: str) -> dict[str, int]:
    p, c = len(prompt.split()), len(text.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class _Handler(BaseHTTPRequestHandler, ProviderRoutes):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, a reused
    # connection waits ~40 ms for the client's delayed ACK before the body.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        encoding = self.server.state.encoding
        if encoding:
            data = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)
            self.send_header("content-encoding", encoding)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_loopback")
        self.send_header("set-cookie", "session=server-cookie-secret")
        # Some gateways echo the caller's credentials back: they must not reach a file either.
        for name in ("authorization", "api-key", "openai-organization", "openai-project"):
            if name in self.headers:
                self.send_header(f"x-echo-{name}", self.headers[name])
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _echo(self, raw: bytes | None) -> None:
        """A debugging endpoint (or a careless gateway): answers with the request as received,
        credentials and all."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        echoed = {k: headers[k] for k in ("authorization", "x-api-key") if k in headers}
        body = None if raw is None else raw.decode("utf-8", "replace")
        self._send_json(200, {"url": self.path, "headers": echoed, "body": body})

    def _raw(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _wire(self) -> bool:
        """A tool's answers as servers write them, byte for byte: encoded whatever the client
        asked for, redirected, in odd forms, or streamed without end."""
        path, _, query = self.path.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        state = self.server.state
        if path not in ("/gzip", "/deflate", "/redirect", "/raw", "/sseid", "/forever", "/bytes"):
            return False
        with state.lock:
            state.requests.append(ReceivedRequest("GET", self.path, dict(self.headers), None))
        if path in ("/gzip", "/deflate"):
            data = json.dumps({path[1:]: True, "q": params.get("q", [""])[0]}).encode()
            packed = gzip.compress(data) if path == "/gzip" else zlib.compress(data)
            self._raw(
                200, packed, [("content-type", "application/json"), ("content-encoding", path[1:])]
            )
        elif path == "/redirect":
            where = params.get("to", ["/raw?b=redirected&ct=text/plain"])[0]
            self._raw(302, b"", [("location", where)])
        elif path == "/raw":
            headers = [("content-type", params.get("ct", ["text/plain"])[0])]
            headers += [tuple(h.split(":", 1)) for h in params.get("h", [])]  # type: ignore[misc]
            status = int(params.get("status", ["200"])[0])
            self._raw(status, params.get("b", [""])[0].encode("utf-8", "surrogateescape"), headers)
        elif path == "/bytes":
            self._raw(200, bytes(range(256)), [("content-type", "application/octet-stream")])
        elif path == "/sseid":
            body = b': hello\nid: 7\nretry: 100\ndata: 1.10\n\nid: 8\ndata: {"a":1}\n\n'
            self._raw(200, body, [("content-type", "text/event-stream")])
        else:  # /forever: an endless feed (a log tail, a watch), until the client goes
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for n in range(100_000):
                    self.wfile.write(f"data: tick{n}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.01)
            except OSError:
                pass
        return True

    def do_PUT(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        if self.path.startswith("/echo"):
            self._echo(raw)
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_GET(self) -> None:
        if self._wire():
            return
        if self.path.startswith("/echo"):
            self._echo(None)
            return
        if self.path.startswith("/oauth/token"):
            # An OAuth token endpoint's answer (Google's shape: not sk-... or JWT shaped).
            self._send_json(
                200,
                {"access_token": "ya29.a0AfH6SMBxFAKEACCESS", "refresh_token": "1//0gFAKEREFRESHtoken",
                 "expires_in": 3599, "token_type": "Bearer"},
            )  # fmt: skip
            return
        if self.path.startswith("/tool/weather"):
            # The test's other HTTP: a tool an agent calls. Its answer follows the salt, so a
            # test can tell a replayed answer from a fresh one.
            state = self.server.state
            with state.lock:
                state.requests.append(ReceivedRequest("GET", self.path, dict(self.headers), None))
            city = self.path.partition("city=")[2] or "nowhere"
            temp = int(hashlib.sha256(f"{city}{state.salt}".encode()).hexdigest()[:2], 16) % 30
            self._send_json(200, {"city": city, "celsius": temp})
        elif self.provider_get(self.path.split("?")[0].rstrip("/")):
            return
        elif self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": "loopback", "object": "model"}]}
            )
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        if self.path.startswith("/echo"):
            self._echo(raw)
            return
        if self.path.split("?")[0].rstrip("/").endswith("/files"):
            # An upload (multipart): answered with the file object, its size the body's.
            with state.lock:
                state.requests.append(ReceivedRequest("POST", self.path, dict(self.headers), raw))
            digest = hashlib.sha256(raw.split(b"\r\n\r\n", 1)[-1]).hexdigest()[:8]
            self._send_json(
                200,
                {"id": f"file-{digest}", "object": "file", "bytes": len(raw), "created_at": CREATED,
                 "filename": "upload", "purpose": "batch", "status": "processed"},
            )  # fmt: skip
            return
        body = json.loads(raw) if raw else {}
        with state.lock:
            state.requests.append(
                ReceivedRequest(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )
        path = self.path.split("?")[0].rstrip("/")
        if self.provider_post(path, body):
            return
        for suffix, answer in (
            ("/embeddings", self._embeddings),
            ("/moderations", self._moderations),
            ("/audio/speech", self._speech),
            ("/images/generations", self._image),
        ):
            if path.endswith(suffix):
                answer(body)
                return
        if path.endswith("/messages"):
            self._anthropic(body)
            return
        if path.endswith("/responses"):
            self._responses(body)
            return
        if ":generateContent" in path:
            self._gemini(path, body)
            return
        if path.endswith("/chat/completions"):
            kind = "chat"
        elif path.endswith("/completions"):
            kind = "text"
        else:
            self._send_json(404, {"error": {"message": f"unknown path {self.path}"}})
            return
        with state.lock:
            status = state.fail_with.pop(0) if state.fail_with else None
        if status is not None:
            self._send_json(
                status,
                {"error": {"message": f"injected {status}", "type": "server_error"}},
                {"retry-after": state.retry_after} if state.retry_after is not None else None,
            )
            return
        if state.delay:
            time.sleep(state.delay)
        if state.jitter:
            time.sleep(random.random() * state.jitter)
        if state.invalid_json:
            self._send_json(200, b'{"id": "chatcmpl-broken", "choices": [')
            return
        if state.raw_answer is not None:
            self._send_json(200, state.raw_answer)
            return
        if "random_seed" in body and "seed" in body:
            # Mistral's API refuses fields it does not know.
            self._send_json(
                422,
                {"object": "error", "type": "invalid_request_error",
                 "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "seed"],
                                         "msg": "Extra inputs are not permitted"}]}},
            )  # fmt: skip
            return
        seed = body.get("seed", body.get("random_seed"))
        model = str(body.get("model", "loopback"))
        prompt = _prompt_of(body)
        if state.reject_marker in prompt and not state.accept_all:
            self._send_json(
                400,
                {"error": {"message": "This prompt was rejected by the content filter.",
                           "type": "invalid_request_error", "code": "content_filter"}},
            )  # fmt: skip
            return
        text = generate_text(seed, model, prompt, state.salt_by_model.get(model, state.salt))
        with state.lock:
            state.completions += 1
            count = state.completions
        with state.lock:
            seen = state.prompt_counts[prompt] = state.prompt_counts.get(prompt, 0) + 1
        if (state.vary_every and count % state.vary_every == 0) or (
            state.vary_prompt_every and seen % state.vary_prompt_every == 0
        ):
            words = text.split()
            text = " ".join(words[:3] + generate_text(count, model, prompt, "vary").split()[3:])
        if state.decorate is not None:
            text = state.decorate(text)
        ident = hashlib.sha256(f"{seed}|{model}|{prompt}".encode()).hexdigest()[:12]
        if state.volatile:
            ident = f"{random.getrandbits(48):012x}"
        model += state.model_version
        if body.get("stream"):
            self._stream(kind, ident, model, prompt, text, body)
        else:
            self._send_json(
                200, self._volatile(self._complete(kind, ident, model, prompt, text, body))
            )

    def _anthropic(self, body: dict[str, Any]) -> None:
        """Anthropic's Messages API: no seed, so the answer follows model, prompt and salt."""
        state = self.server.state
        model = str(body.get("model", "claude"))
        text = generate_text(7, model, _prompt_of(body), state.salt)
        usage = {"input_tokens": 5, "output_tokens": len(text.split())}
        message = {
            "id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": usage,
        }  # fmt: skip
        if not body.get("stream"):
            self._send_json(200, message)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        start = {**message, "content": [], "stop_reason": None}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
        ]  # fmt: skip
        for word in text.split(" "):
            delta = {"type": "text_delta", "text": word + " "}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 3},
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None}}),
            ("message_stop", {"type": "message_stop"}),
        ]  # fmt: skip
        for name, data in events:
            self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self._chunk(b"")

    def _responses(self, body: dict[str, Any]) -> None:
        """The Responses API: no seed, no fingerprint; the model names the served version."""
        state = self.server.state
        model = str(body.get("model", "loopback"))
        given = body.get("input")
        prompt = given if isinstance(given, str) else json.dumps(given, sort_keys=True)
        text = generate_text(7, model, prompt, state.salt)
        with state.lock:
            state.completions += 1
            count = state.completions
        if state.vary_every and count % state.vary_every == 0:
            text = generate_text(count, model, prompt, "vary")
        message = {
            "type": "message", "id": "msg_loopback", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }  # fmt: skip
        response = {
            "id": f"resp_{random.getrandbits(48):012x}" if state.volatile else "resp_loopback",
            "object": "response", "created_at": CREATED, "status": "completed",
            "model": f"{model}-2026-11-01", "output": [message], "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"), "metadata": {}, "temperature": 1.0,
            "top_p": 1.0,
            "usage": {"input_tokens": 5, "output_tokens": len(text.split()), "total_tokens": 5 + len(text.split()),
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}},
        }  # fmt: skip
        if not body.get("stream"):
            self._send_json(200, response)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        started = {**response, "status": "in_progress", "output": []}
        events: list[dict[str, Any]] = [{"type": "response.created", "response": started}]
        for n, word in enumerate(text.split(" ")):
            events.append({"type": "response.output_text.delta", "item_id": "msg_loopback",
                           "output_index": 0, "content_index": 0, "delta": word + " " * (n > 0 or 1),
                           "sequence_number": n + 1})  # fmt: skip
        events.append({"type": "response.completed", "response": response})
        for event in events:
            self._chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        self._chunk(b"")

    def _embeddings(self, body: dict[str, Any]) -> None:
        """Eight numbers per input, a function of model, input and salt (plus noise)."""
        state = self.server.state
        model = str(body.get("model", "embed"))
        given = body.get("input")
        inputs = given if isinstance(given, list) else [given]
        data = []
        for n, text in enumerate(inputs):
            rng = random.Random(f"{model}|{text}|{state.salt}")
            vector = [rng.uniform(-1, 1) + (random.gauss(0, state.embedding_noise) if state.embedding_noise else 0.0)
                      for _ in range(8)]  # fmt: skip
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack("<8f", *vector)).decode()
            data.append({"object": "embedding", "index": n, "embedding": embedding})
        self._send_json(200, {"object": "list", "data": data, "model": model + state.model_version,
                              "usage": {"prompt_tokens": 4, "total_tokens": 4}})  # fmt: skip

    def _moderations(self, body: dict[str, Any]) -> None:
        """Flags "hate" in the input (and everything, once the salt says so); scores move."""
        text = str(body.get("input", ""))
        flagged = "hate" in text or self.server.state.salt == "strict"
        result = {
            "flagged": flagged,
            "categories": {"hate": flagged, "violence": False},
            "category_scores": {"hate": random.random(), "violence": random.random() / 10},
        }
        self._send_json(200, {"id": f"modr-{random.getrandbits(32)}", "model": "omni-moderation",
                              "results": [result]})  # fmt: skip

    def _speech(self, body: dict[str, Any]) -> None:
        """Audio: bytes that are not UTF-8, a function of input and salt."""
        seed = f"{body.get('input')}|{self.server.state.salt}".encode()
        audio = b"ID3\xff\xfb" + b"".join(
            hashlib.sha256(seed + bytes([n])).digest() for n in range(64)
        )
        self.send_response(200)
        self.send_header("content-type", "audio/mpeg")
        self.send_header("content-length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def _image(self, body: dict[str, Any]) -> None:
        """An image as base64 JSON, with a fresh timestamp each time."""
        seed = f"{body.get('prompt')}|{self.server.state.salt}".encode()
        image = b"\x89PNG" + b"".join(hashlib.sha256(seed + bytes([n])).digest() for n in range(8))
        self._send_json(200, {"created": int(time.time() * 1000) + random.randint(0, 999),
                              "data": [{"b64_json": base64.b64encode(image).decode(),
                                        "revised_prompt": str(body.get("prompt"))}]})  # fmt: skip

    def _gemini(self, path: str, body: dict[str, Any]) -> None:
        """Gemini's generateContent: seeded through generationConfig.seed."""
        model = path.rsplit("/", 1)[-1].split(":")[0]
        seed = (body.get("generationConfig") or {}).get("seed")
        parts = [p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])]
        text = generate_text(seed, model, " ".join(parts), self.server.state.salt)
        self._send_json(
            200,
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
                ],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9,
                                  "totalTokenCount": 12},
                # A new backend (the test changes the fingerprint) is a new model version.
                "modelVersion": f"{model}-{'001' if self.server.state.fingerprint == 'fp_loopback_1' else '002'}",
                "responseId": "gemini-loopback",
            },
        )  # fmt: skip

    def _volatile(self, answer: dict[str, Any]) -> dict[str, Any]:
        if self.server.state.echo_in_body:
            answer["echo"] = {
                "url": self.path,
                **{
                    name: self.headers[name]
                    for name in ("authorization", "api-key", "x-api-key")
                    if name in self.headers
                },
            }
        if self.server.state.volatile:
            answer["created"] = int(time.time() * 1000) + random.randint(0, 999)
            answer["timings"] = {
                "prompt_ms": round(random.uniform(1, 9), 3),
                "predicted_per_second": round(random.uniform(50, 90), 3),
            }
        return answer

    def _complete(
        self, kind: str, ident: str, model: str, prompt: str, text: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        state = self.server.state
        fp = state.fingerprint_by_model.get(
            model.removesuffix(state.model_version), state.fingerprint
        )
        if kind == "text":
            return {
                "id": f"cmpl-{ident}",
                "object": "text_completion",
                "created": CREATED,
                "model": model,
                "system_fingerprint": fp,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                "usage": _usage(prompt, text),
            }
        if (body.get("response_format") or {}).get("type") == "json_schema":
            text = json.dumps(
                {"text": text, "words": len(text.split())}, indent=self.server.state.json_indent
            )
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        tools = body.get("tools")
        if tools and "tool" in prompt:
            name = tools[0]["function"]["name"]
            args = json.dumps(
                {"words": text.split()[:3], "seed": body.get("seed")},
                indent=self.server.state.json_indent,
            )
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{ident}",
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    }
                ],
            }
            finish = "tool_calls"
        return {
            "id": f"chatcmpl-{ident}",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "system_fingerprint": fp,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": _usage(prompt, text),
        }

    def _stream(
        self, kind: str, ident: str, model: str, prompt: str, text: str, body: dict[str, Any]
    ) -> None:
        state = self.server.state
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        # wbits 31: a gzip stream; 15: zlib, which is what HTTP calls deflate.
        wbits = {"gzip": 31, "deflate": 15}.get(state.encoding)
        self._gzip = zlib.compressobj(wbits=wbits) if wbits else None
        if self._gzip is not None:
            self.send_header("content-encoding", state.encoding)
        self.end_headers()
        pieces = [w if i == 0 else " " + w for i, w in enumerate(text.split())]
        if state.piece_chars:
            pieces = [
                text[i : i + state.piece_chars] for i in range(0, len(text), state.piece_chars)
            ]
        if state.huge_event_bytes:
            pieces = ["x" * state.huge_event_bytes]
        chunks: list[dict[str, Any]] = []
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        if kind == "chat":
            chunks.append(
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            )
            chunks += [{"index": 0, "delta": {"content": p}, "finish_reason": None} for p in pieces]
            chunks.append({"index": 0, "delta": {}, "finish_reason": "stop"})
        else:
            chunks += [
                {"index": 0, "text": p, "finish_reason": None, "logprobs": None} for p in pieces
            ]
            chunks.append({"index": 0, "text": "", "finish_reason": "stop", "logprobs": None})
        for n, choice in enumerate(chunks):
            fp = state.fingerprint if (n == 0 or not state.fingerprint_first_chunk_only) else None
            event = {
                "id": f"{prefix}-{ident}",
                "object": obj,
                "created": CREATED,
                "model": model,
                "system_fingerprint": fp,
                "choices": [choice],
            }
            if state.cut_stream_after is not None and n >= state.cut_stream_after:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            data = f"data: {json.dumps(self._volatile(event))}\n\n".encode()
            for start in range(0, len(data), 65536):
                self._chunk(data[start : start + 65536])
            if state.chunk_delay:
                time.sleep(state.chunk_delay)
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_event = {
                "id": f"{prefix}-{ident}",
                "object": obj,
                "created": CREATED,
                "model": model,
                "system_fingerprint": None
                if state.fingerprint_first_chunk_only
                else state.fingerprint,
                "choices": [],
                "usage": _usage(prompt, text),
            }
            self._chunk(f"data: {json.dumps(usage_event)}\n\n".encode())
        if not state.omit_done:
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        """Write one chunk of the chunked body; b"" ends the body."""
        newline = self.server.state.sse_newline
        if newline != "\n":
            data = data.replace(b"\n", newline.encode())
        compressor = getattr(self, "_gzip", None)
        if compressor is not None:
            # Each event flushed as it goes, as a compressing proxy streams it.
            if data:
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            else:
                tail = compressor.flush(zlib.Z_FINISH)
                self.wfile.write(f"{len(tail):x}\r\n".encode() + tail + b"\r\n")
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops reading a stream early closes the connection: not an error.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def __init__(self, state: ServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class LLMServer:
    """Start with ``start()``; ``url`` is the OpenAI base URL (ending in ``/v1``)."""

    def __init__(self) -> None:
        self.state = ServerState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> LLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seeds_received(self) -> list[Any]:
        return [r.body.get("seed") for r in self.state.requests if isinstance(r.body, dict)]
