"""What goes over the wire: SSE parsing and encoding, and reading output and fingerprint from
the OpenAI response shapes (chat, legacy completions, and their streams)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SSEParser:
    """Incremental server-sent-events parser: feed bytes as they arrive, get whole events.

    Lines may end in LF, CRLF or a bare CR, as the SSE specification allows. Each byte is
    looked at a bounded number of times, so capture stays linear in the size of the stream
    even when one event spans many chunks (a 40 MB event once took 43 s, quadratic).
    """

    def __init__(self, *, exact: bool = False) -> None:
        # exact (a stream that is not an LLM API's): every field kept as the server wrote it,
        # data as its text, ids, retry times and comments too, so it replays byte for byte.
        # Otherwise data is parsed JSON where it is JSON, for the readers.
        self._exact = exact
        self._buffer = bytearray()
        # Where the search for the next blank line resumes: all before it has none.
        self._scanned = 0
        # The last chunk ended in CR: a LF opening the next one belongs to it.
        self._after_cr = False
        self.events: list[dict[str, Any]] = []

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._after_cr and data.startswith(b"\n"):
            data = data[1:]
        self._after_cr = data.endswith(b"\r")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer
        buffer += data
        start = 0
        while True:
            end = buffer.find(b"\n\n", max(self._scanned - 1, start))
            if end < 0:
                break
            self._add(bytes(buffer[start:end]))
            start = self._scanned = end + 2
        if start:
            del buffer[:start]
            self._scanned = 0
        self._scanned = max(len(buffer) - 1, 0)

    def close(self) -> None:
        if self._buffer.strip():
            self._add(bytes(self._buffer))
        self._buffer = bytearray()
        self._scanned = 0

    def _add(self, block: bytes) -> None:
        name: str | None = None
        data_lines: list[str] = []
        fields: dict[str, Any] = {}
        for line in block.decode("utf-8", errors="replace").split("\n"):
            if not line:
                continue
            if line.startswith(":"):
                if self._exact:
                    fields.setdefault("comments", []).append(line[1:])
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data_lines.append(value)
            elif key == "event":
                name = value
            elif key in ("id", "retry") and self._exact:
                fields[key] = value
        if not data_lines and name is None and not fields:
            return
        raw = "\n".join(data_lines)
        event: dict[str, Any] = {}
        if name is not None:
            event["event"] = name
        event.update(fields)
        if self._exact:
            if data_lines:
                event["data"] = raw
        else:
            try:
                event["data"] = json.loads(raw)
            except ValueError:
                event["data"] = raw
        self.events.append(event)


def encode_sse(events: list[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        head = "".join(f":{comment}\n" for comment in event.get("comments", ()))
        head += f"event: {event['event']}\n" if "event" in event else ""
        head += "".join(f"{key}: {event[key]}\n" for key in ("id", "retry") if key in event)
        lines = ""
        if "data" in event:
            data = event["data"]
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            # SSE's three line endings: a CR left inside a data line would end it on replay.
            lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(text))
        yield f"{head}{lines}\n".encode("utf-8", "backslashreplace")


class NDJSONParser:
    """Incremental parser of newline-delimited JSON (Ollama's streams): one event per line,
    {"data": the parsed line}, kept as text where a line is not JSON."""

    def __init__(self, *, exact: bool = False) -> None:
        self._buffer = bytearray()
        self.events: list[dict[str, Any]] = []

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        start = len(buffer)
        buffer += data
        if b"\n" not in data:
            return
        end = buffer.rindex(b"\n", start)
        for line in bytes(buffer[:end]).split(b"\n"):
            self._add(line)
        del buffer[: end + 1]

    def close(self) -> None:
        if self._buffer.strip():
            self._add(bytes(self._buffer))
        self._buffer = bytearray()

    def _add(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            return
        try:
            self.events.append({"data": json.loads(text)})
        except ValueError:
            self.events.append({"data": text})


def encode_ndjson(events: list[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        data = event.get("data")
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        yield f"{text}\n".encode("utf-8", "backslashreplace")


SSE = "text/event-stream"
# Newline-delimited JSON, under the names servers give it.
NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def is_stream(content_type: str) -> bool:
    """Whether an answer of this content type is kept as events (and replayed as a stream)."""
    return content_type == SSE or content_type in NDJSON


def stream_parser(content_type: str, *, exact: bool) -> SSEParser | NDJSONParser:
    return NDJSONParser() if content_type in NDJSON else SSEParser(exact=exact)


def encode_events(content_type: str, events: list[dict[str, Any]]) -> Iterator[bytes]:
    return encode_ndjson(events) if content_type in NDJSON else encode_sse(events)


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


@dataclass
class Choice:
    """One choice of an answer: its text and its tool calls as (name, arguments) pairs."""

    content: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)


def body_choices(body: Any) -> dict[int, Choice]:
    """The choices of a JSON response (chat or legacy completions), by index."""
    choices: dict[int, Choice] = {}
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return choices
    for n, raw in enumerate(body["choices"]):
        if not isinstance(raw, dict):
            continue
        choice = choices.setdefault(_index(raw, n), Choice())
        message = raw.get("message")
        if isinstance(message, dict):
            parts = []
            if message.get("content"):
                parts.append(str(message["content"]))
            if message.get("refusal"):
                parts.append(f"[refusal] {message['refusal']}")
            choice.content = "\n".join(parts)
            for call in message.get("tool_calls") or []:
                fn = (call.get("function") or {}) if isinstance(call, dict) else {}
                choice.tool_calls.append(
                    (str(fn.get("name") or ""), str(fn.get("arguments") or ""))
                )
        elif raw.get("text") is not None:
            choice.content = str(raw["text"])
    return choices


def stream_choices(events: list[dict[str, Any]]) -> dict[int, Choice]:
    """The choices of a stream: deltas joined per choice, tool-call pieces joined per call."""
    texts: dict[int, list[str]] = {}
    tools: dict[int, dict[int, list[str]]] = {}
    for event in events:
        data = event.get("data")
        if not isinstance(data, dict):
            continue
        for n, raw in enumerate(data.get("choices") or []):
            if not isinstance(raw, dict):
                continue
            index = _index(raw, n)
            bucket = texts.setdefault(index, [])
            delta = raw.get("delta")
            if isinstance(delta, dict):
                if delta.get("content"):
                    bucket.append(str(delta["content"]))
                for call in delta.get("tool_calls") or []:
                    if not isinstance(call, dict):
                        continue
                    position = call.get("index", 0)
                    slot = tools.setdefault(index, {}).setdefault(
                        position if isinstance(position, int) else 0, ["", ""]
                    )
                    fn = call.get("function") or {}
                    slot[0] += str(fn.get("name") or "")
                    slot[1] += str(fn.get("arguments") or "")
            elif raw.get("text") is not None:
                bucket.append(str(raw["text"]))
    return {
        index: Choice(
            "".join(texts.get(index, [])),
            [(name, args) for _, (name, args) in sorted(tools.get(index, {}).items())],
        )
        for index in sorted(set(texts) | set(tools))
    }


def render(choices: dict[int, Choice]) -> str:
    """The output for humans: each choice's text, then its tool calls, one per line."""
    rendered = {
        index: "\n".join(
            ([choice.content] if choice.content else [])
            + [_tool_line(name, args) for name, args in choice.tool_calls]
        )
        for index, choice in sorted(choices.items())
    }
    if len(rendered) <= 1:
        return next(iter(rendered.values()), "")
    return "\n".join(f"--- choice {index} ---\n{text}" for index, text in rendered.items())


def body_output(body: Any) -> str:
    return render(body_choices(body))


def stream_output(events: list[dict[str, Any]]) -> str:
    return render(stream_choices(events))


def _index(raw: dict[str, Any], fallback: int) -> int:
    index = raw.get("index", fallback)
    return index if isinstance(index, int) and not isinstance(index, bool) else fallback


def _tool_line(name: str, arguments: str) -> str:
    return f"[tool call] {name}({arguments})"
