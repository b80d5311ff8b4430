"""What goes over the wire: SSE parsing and encoding, and reading output and fingerprint from
the OpenAI response shapes (chat, legacy completions, and their streams)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


class SSEParser:
    """Incremental server-sent-events parser: feed bytes as they arrive, get whole events."""

    def __init__(self) -> None:
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def feed(self, data: bytes) -> None:
        self._buffer += data
        # Events end with a blank line; servers use \n, some \r\n.
        self._buffer = self._buffer.replace(b"\r\n", b"\n")
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            self._add(block)

    def close(self) -> None:
        if self._buffer.strip():
            self._add(self._buffer)
        self._buffer = b""

    def _add(self, block: bytes) -> None:
        name: str | None = None
        data_lines: list[str] = []
        for line in block.decode("utf-8", errors="replace").split("\n"):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data_lines.append(value)
            elif key == "event":
                name = value
        if not data_lines and name is None:
            return
        raw = "\n".join(data_lines)
        event: dict[str, Any] = {}
        if name is not None:
            event["event"] = name
        try:
            event["data"] = json.loads(raw)
        except ValueError:
            event["data"] = raw
        self.events.append(event)


def encode_sse(events: list[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        data = event.get("data")
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        head = f"event: {event['event']}\n" if "event" in event else ""
        lines = "".join(f"data: {line}\n" for line in text.split("\n"))
        yield f"{head}{lines}\n".encode()


def stream_fingerprint(events: list[dict[str, Any]]) -> str | None:
    """The first non-null system_fingerprint over a stream: some servers put it on one chunk."""
    for event in events:
        data = event.get("data")
        if isinstance(data, dict) and data.get("system_fingerprint") is not None:
            return str(data["system_fingerprint"])
    return None


def body_fingerprint(body: Any) -> str | None:
    if isinstance(body, dict) and body.get("system_fingerprint") is not None:
        return str(body["system_fingerprint"])
    return None


def body_output(body: Any) -> str:
    """Human-readable output of a JSON response: each choice's text and tool calls."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return ""
    parts: dict[int, list[str]] = {}
    for n, choice in enumerate(body["choices"]):
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", n)
        index = index if isinstance(index, int) else n
        lines = parts.setdefault(index, [])
        message = choice.get("message")
        if isinstance(message, dict):
            if message.get("content"):
                lines.append(str(message["content"]))
            if message.get("refusal"):
                lines.append(f"[refusal] {message['refusal']}")
            for call in message.get("tool_calls") or []:
                fn = (call.get("function") or {}) if isinstance(call, dict) else {}
                lines.append(_tool_line(fn.get("name"), fn.get("arguments")))
        elif choice.get("text") is not None:
            lines.append(str(choice["text"]))
    return _join_choices(parts)


def stream_output(events: list[dict[str, Any]]) -> str:
    """Human-readable output of a stream: deltas joined per choice, tool-call arguments too."""
    texts: dict[int, list[str]] = {}
    tools: dict[int, dict[int, dict[str, str]]] = {}
    for event in events:
        data = event.get("data")
        if not isinstance(data, dict):
            continue
        for n, choice in enumerate(data.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", n)
            index = index if isinstance(index, int) else n
            delta = choice.get("delta")
            bucket = texts.setdefault(index, [])
            if isinstance(delta, dict):
                if delta.get("content"):
                    bucket.append(str(delta["content"]))
                for call in delta.get("tool_calls") or []:
                    if not isinstance(call, dict):
                        continue
                    slot = tools.setdefault(index, {}).setdefault(
                        int(call.get("index", 0)), {"name": "", "arguments": ""}
                    )
                    fn = call.get("function") or {}
                    slot["name"] += str(fn.get("name") or "")
                    slot["arguments"] += str(fn.get("arguments") or "")
            elif choice.get("text") is not None:
                bucket.append(str(choice["text"]))
    parts: dict[int, list[str]] = {}
    for index in sorted(set(texts) | set(tools)):
        lines = parts.setdefault(index, [])
        text = "".join(texts.get(index, []))
        if text:
            lines.append(text)
        for _, call in sorted(tools.get(index, {}).items()):
            lines.append(_tool_line(call["name"], call["arguments"]))
    return _join_choices(parts)


def _tool_line(name: Any, arguments: Any) -> str:
    return f"[tool call] {name}({arguments if arguments is not None else ''})"


def _join_choices(parts: dict[int, list[str]]) -> str:
    if len(parts) <= 1:
        return "\n".join(next(iter(parts.values()), []))
    return "\n".join(
        f"--- choice {index} ---\n" + "\n".join(lines) for index, lines in sorted(parts.items())
    )
