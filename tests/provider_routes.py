"""The loopback server's stand-ins for providers' own APIs, answering as their documentation
says they do: Ollama (/api/chat, /api/generate, /api/embed, NDJSON streams, /api/tags), Cohere
v2 (/v2/chat with SSE streams, /v2/embed), Mistral (random_seed; unknown fields refused with
422), AWS Bedrock Runtime (Converse, InvokeModel), Hugging Face TGI (/generate,
/generate_stream, the root route, /info) and vLLM's own /generate.

Every answer is a function of (seed, model, prompt) and the server state's ``salt`` (a changed
answer) and ``model_version`` (other weights behind the same name: a new digest in
/api/tags, a new revision in /info, a new name where the API names its model). Providers
without a seed (Bedrock) answer as a sampler at temperature 0 does: the same every time.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import time
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

NOW = "2026-12-07T10:00:00.000000Z"


def _words(seed: Any, model: str, prompt: str, salt: str) -> list[str]:
    from llm_server import generate_text

    return generate_text(seed, model, prompt, salt).split()


def _vector(model: str, text: str, salt: str, size: int = 8) -> list[float]:
    digest = hashlib.sha256(f"{model}|{text}|{salt}".encode()).digest()
    return [round((b - 128) / 128, 6) for b in digest[:size]]


def _text_of(content: Any) -> str:
    """A message's text, whether a string or a list of blocks ({"text": ...})."""
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


def _prompt(body: dict[str, Any]) -> str:
    if isinstance(body.get("messages"), list):
        return "\n".join(_text_of(m.get("content")) for m in body["messages"])
    for key in ("prompt", "inputs", "input"):
        if key in body:
            return str(body[key])
    return ""


def event_frame(event: str, payload: dict[str, Any]) -> bytes:
    """One message of an AWS event stream (Bedrock's *-stream answers), CRCs included."""
    headers = b""
    for name, value in ((":event-type", event), (":message-type", "event"),
                        (":content-type", "application/json")):  # fmt: skip
        headers += bytes([len(name)]) + name.encode() + b"\x07"
        headers += struct.pack(">H", len(value)) + value.encode()
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


class ProviderRoutes:
    """Mixed into the loopback server's handler (llm_server.py)."""

    server: Any
    if TYPE_CHECKING:  # the handler's own (llm_server.py) and BaseHTTPRequestHandler's

        def _send_json(
            self, status: int, payload: Any, headers: dict[str, str] | None = None
        ) -> None: ...
        def _chunk(self, data: bytes) -> None: ...
        def send_response(self, code: int, message: str | None = None) -> None: ...
        def send_header(self, keyword: str, value: str) -> None: ...
        def end_headers(self) -> None: ...

    def _open_stream(self, content_type: str) -> None:
        """A 200 whose body follows in chunks (self._chunk), as streaming servers send it."""
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    # -- dispatch ----------------------------------------------------------------------------

    def provider_post(self, path: str, body: dict[str, Any]) -> bool:
        """Answer a provider's own API; False for a path none of them has."""
        if path.endswith(("/api/chat", "/api/generate")):
            self._ollama(path, body)
        elif path.endswith(("/api/embed", "/api/embeddings")):
            self._ollama_embed(path, body)
        elif path.endswith("/v2/chat"):
            self._cohere(body)
        elif path.endswith("/v2/embed"):
            self._cohere_embed(body)
        elif "/model/" in path and path.endswith(("/converse", "/invoke", "/converse-stream")):
            self._bedrock(path, body)
        elif path.endswith("/infer"):  # an API no provider row knows (a house gateway)
            words = _words(0, str(body.get("model")), _prompt(body), self.server.state.salt)
            self._send_json(
                200,
                {"id": f"{random.getrandbits(48):x}", "text": " ".join(words),
                 "took_ms": random.randint(1, 99)},
            )  # fmt: skip
        elif path.endswith(("/generate", "/generate_stream")) or path == "":
            if "inputs" in body:
                self._tgi(path, body)
            else:
                prompt = str(body.get("prompt", ""))
                words = _words(body.get("seed"), "vllm", prompt, self.server.state.salt)
                self._send_json(200, {"text": [prompt + " " + " ".join(words)]})
        else:
            return False
        return True

    def provider_get(self, path: str) -> bool:
        state = self.server.state
        if path.endswith("/api/tags"):
            digest = hashlib.sha256(f"weights{state.model_version}".encode()).hexdigest()
            models = [
                {"name": f"{name}:latest", "model": f"{name}:latest", "modified_at": NOW,
                 "size": 1234, "digest": digest, "details": {"family": "llama"}}
                for name in ("llama3.2", "nomic-embed-text")
            ]  # fmt: skip
            self._send_json(200, {"models": models})
        elif path.endswith("/info"):
            self._send_json(
                200,
                {"model_id": "loopback/tgi", "model_sha": f"rev1{state.model_version}",
                 "version": "3.0.0"},
            )  # fmt: skip
        else:
            return False
        return True

    # -- Ollama ------------------------------------------------------------------------------

    def _ollama(self, path: str, body: dict[str, Any]) -> None:
        state = self.server.state
        model = str(body.get("model"))
        seed = (body.get("options") or {}).get("seed")
        words = _words(seed, model, _prompt(body), state.salt)
        chat = path.endswith("/api/chat")
        timings = {
            "total_duration": random.randint(10**8, 10**9),
            "load_duration": random.randint(10**6, 10**7),
            "prompt_eval_count": 5,
            "prompt_eval_duration": random.randint(10**6, 10**7),
            "eval_count": len(words),
            "eval_duration": random.randint(10**7, 10**8),
        }

        def piece(text: str) -> dict[str, Any]:
            if chat:
                return {"message": {"role": "assistant", "content": text}}
            return {"response": text}

        if body.get("stream", True) is False:
            answer = {"model": model, "created_at": NOW, **piece(" ".join(words)),
                      "done_reason": "stop", "done": True, **timings}  # fmt: skip
            self._send_json(200, answer)
            return
        self._open_stream("application/x-ndjson")
        for n, word in enumerate(words):
            line = {"model": model, "created_at": NOW, **piece(word if n == 0 else " " + word),
                    "done": False}  # fmt: skip
            self._chunk(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        last = {"model": model, "created_at": NOW, **piece(""), "done_reason": "stop",
                "done": True, **timings}  # fmt: skip
        self._chunk(json.dumps(last, separators=(",", ":")).encode() + b"\n")
        self._chunk(b"")

    def _ollama_embed(self, path: str, body: dict[str, Any]) -> None:
        state = self.server.state
        model = str(body.get("model"))
        texts = body.get("input", body.get("prompt", ""))
        texts = texts if isinstance(texts, list) else [texts]
        vectors = [_vector(model, str(t), state.salt) for t in texts]
        if path.endswith("/api/embeddings"):
            self._send_json(200, {"embedding": vectors[0]})
            return
        self._send_json(
            200,
            {"model": model, "embeddings": vectors, "total_duration": random.randint(1, 10**7),
             "load_duration": random.randint(1, 10**6), "prompt_eval_count": len(texts)},
        )  # fmt: skip

    # -- Cohere v2 ---------------------------------------------------------------------------

    def _cohere(self, body: dict[str, Any]) -> None:
        state = self.server.state
        words = _words(body.get("seed"), str(body.get("model")), _prompt(body), state.salt)
        ident = f"{random.getrandbits(64):016x}"
        usage = {"billed_units": {"input_tokens": 5, "output_tokens": len(words)},
                 "tokens": {"input_tokens": 70, "output_tokens": len(words)}}  # fmt: skip
        if not body.get("stream"):
            self._send_json(
                200,
                {"id": ident, "finish_reason": "COMPLETE",
                 "message": {"role": "assistant",
                             "content": [{"type": "text", "text": " ".join(words)}]},
                 "usage": usage},
            )  # fmt: skip
            return
        events: list[dict[str, Any]] = [
            {"type": "message-start", "id": ident,
             "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                                   "tool_calls": [], "citations": []}}},
            {"type": "content-start", "index": 0,
             "delta": {"message": {"content": {"type": "text", "text": ""}}}},
        ]  # fmt: skip
        events += [
            {"type": "content-delta", "index": 0,
             "delta": {"message": {"content": {"text": w if n == 0 else " " + w}}}}
            for n, w in enumerate(words)
        ]  # fmt: skip
        events += [
            {"type": "content-end", "index": 0},
            {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}},
        ]
        self._open_stream("text/event-stream")
        for event in events:
            self._chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        self._chunk(b"")

    def _cohere_embed(self, body: dict[str, Any]) -> None:
        state = self.server.state
        texts = [str(t) for t in body.get("texts") or []]
        model = str(body.get("model"))
        self._send_json(
            200,
            {"id": f"{random.getrandbits(64):016x}", "response_type": "embeddings_by_type",
             "embeddings": {"float": [_vector(model, t, state.salt) for t in texts]},
             "texts": texts, "meta": {"api_version": {"version": "2"},
                                      "billed_units": {"input_tokens": len(texts)}}},
        )  # fmt: skip

    # -- AWS Bedrock Runtime -----------------------------------------------------------------

    def _bedrock(self, path: str, body: dict[str, Any]) -> None:
        state = self.server.state
        model_id = unquote(path.split("/model/", 1)[1].rsplit("/", 1)[0])
        prompt = "\n".join(
            _text_of(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)
        )
        # No seed on Bedrock: answered as at temperature 0, the same each time.
        words = _words(0, model_id, prompt, state.salt)
        text = " ".join(words)
        if path.endswith("/converse-stream"):
            events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
            events += [
                ("contentBlockDelta",
                 {"contentBlockIndex": 0, "delta": {"text": w if n == 0 else " " + w}})
                for n, w in enumerate(words)
            ]  # fmt: skip
            events += [
                ("contentBlockStop", {"contentBlockIndex": 0}),
                ("messageStop", {"stopReason": "end_turn"}),
                ("metadata", {"usage": {"inputTokens": 5, "outputTokens": len(words),
                                        "totalTokens": 5 + len(words)},
                              "metrics": {"latencyMs": random.randint(100, 900)}}),
            ]  # fmt: skip
            self._open_stream("application/vnd.amazon.eventstream")
            for name, payload in events:
                self._chunk(event_frame(name, payload))
            self._chunk(b"")
            return
        if path.endswith("/converse"):
            self._send_json(
                200,
                {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                 "stopReason": "end_turn",
                 "usage": {"inputTokens": 5, "outputTokens": len(words),
                           "totalTokens": 5 + len(words)},
                 "metrics": {"latencyMs": random.randint(100, 900)}},
                {"x-amzn-requestid": f"{random.getrandbits(64):016x}"},
            )  # fmt: skip
            return
        # InvokeModel with an Anthropic model: Anthropic's Messages answer, naming its model.
        self._send_json(
            200,
            {"id": f"msg_bdrk_{random.getrandbits(48):012x}", "type": "message",
             "role": "assistant", "model": f"claude-3-haiku-20240307{state.model_version}",
             "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
             "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": len(words)}},
        )  # fmt: skip

    # -- Hugging Face TGI --------------------------------------------------------------------

    def _tgi(self, path: str, body: dict[str, Any]) -> None:
        state = self.server.state
        parameters = body.get("parameters") or {}
        words = _words(parameters.get("seed"), "tgi", str(body.get("inputs")), state.salt)
        text = " ".join(words)
        if not (path.endswith("/generate_stream") or body.get("stream")):
            answer: Any = {"generated_text": text}
            self._send_json(200, [answer] if path == "" else answer)
            return
        self._open_stream("text/event-stream")
        for n, word in enumerate(words):
            last = n == len(words) - 1
            event = {
                "index": n + 1,
                "token": {"id": n, "text": word if n == 0 else " " + word,
                          "logprob": -0.5, "special": False},
                "generated_text": text if last else None,
                "details": None,
            }  # fmt: skip
            self._chunk(f"data:{json.dumps(event)}\n\n".encode())
            time.sleep(0)
        self._chunk(b"")
