"""A recorded LLM stream, written small: what every event repeats (the id, model, fingerprint,
created time) is written once for the stream, and an event that differs from the one before it
in one piece of text only (a token's delta) is written as that text. A 2,000-token stream took
589 KB where the same answer unstreamed takes 17 KB. The file's reader expands it back, so
nothing but the file sees the short form."""

from __future__ import annotations

import json
from typing import Any

Path = list[str | int]


def compact(events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """(fields every event's data repeats, the events in short form)."""
    datas = [e["data"] for e in events if isinstance(e.get("data"), dict)]
    common: dict[str, Any] = {}
    if len(datas) >= 2:
        for key, value in datas[0].items():
            text = _text(value)
            if all(key in d and _text(d[key]) == text for d in datas[1:]):
                common[key] = value
    short: list[Any] = []
    previous: dict[str, Any] | None = None
    at: Path | None = None
    for event in events:
        if isinstance(event.get("data"), dict) and common:
            event = {**event, "data": {k: v for k, v in event["data"].items() if k not in common}}
        found = _one_text_apart(previous, event) if previous is not None else None
        if found is None:
            short.append(event)
            at = None
        else:
            where, text = found
            short.append(text if where == at else {"at": where, "text": text})
            at = where
        previous = event
    return common, short


def expand(common: dict[str, Any], short: list[Any]) -> list[dict[str, Any]]:
    """The events again; raises ValueError saying what cannot be read."""
    events: list[dict[str, Any]] = []
    at: Path | None = None
    for n, item in enumerate(short):
        if isinstance(item, str) or (isinstance(item, dict) and "at" in item):
            if isinstance(item, dict):
                at, text = item["at"], item.get("text")
                if not isinstance(at, list) or not isinstance(text, str):
                    raise ValueError(f"[{n}]: 'at' must be a path and 'text' a string")
            else:
                text = item
            if not events or at is None:
                raise ValueError(f"[{n}]: a text with no event before it to change")
            events.append(_with(events[-1], at, text, n))
        elif isinstance(item, dict):
            events.append(item)
            at = None
        else:
            raise ValueError(f"[{n}]: expected an object with 'data', or a text")
    if common:
        events = [
            {**e, "data": {**common, **e["data"]}} if isinstance(e.get("data"), dict) else e
            for e in events
        ]
    return events


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _one_text_apart(a: Any, b: Any, where: Path | None = None) -> tuple[Path, str] | None:
    """The one place where b holds other text than a, all else the same; None otherwise."""
    where = where or []
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return None
        return _one_of(((k, a[k], b[k]) for k in a), where)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return None
        return _one_of(((i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))), where)
    if isinstance(a, str) and isinstance(b, str) and a != b:
        return where, b
    return None


def _one_of(pairs: Any, where: Path) -> tuple[Path, str] | None:
    found: tuple[Path, str] | None = None
    for key, x, y in pairs:
        if _text(x) == _text(y):
            continue
        if found is not None:
            return None
        found = _one_text_apart(x, y, [*where, key])
        if found is None:
            return None
    return found


def _with(event: Any, at: Path, text: str, n: int) -> Any:
    """A copy of event with the text at ``at`` replaced."""
    if not at:
        return text
    key, rest = at[0], at[1:]
    if isinstance(event, dict) and isinstance(key, str) and key in event:
        return {**event, key: _with(event[key], rest, text, n)}
    if isinstance(event, list) and isinstance(key, int) and 0 <= key < len(event):
        return [*event[:key], _with(event[key], rest, text, n), *event[key + 1 :]]
    raise ValueError(f"[{n}]: the event before has nothing at {at}")
