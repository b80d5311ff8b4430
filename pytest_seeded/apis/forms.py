"""The stored form of a request body: JSON as parsed JSON, and forms as their fields.

A multipart upload (files.create, audio transcriptions) carries a random boundary and the
file's bytes: stored as text it never matched on replay, and put the whole file, and any
field named in ``llm_scrub_fields``, into the snapshot. It is stored as its fields and, for
each file, its name, type, size and a digest; a URL-encoded form as its fields. Fields then
go through the same scrubbing as JSON fields. A field sent more than once keeps every value,
in order (a list), and bytes that are not UTF-8 text are kept as base64: a changed request must
not match the recording of another.
"""

from __future__ import annotations

import base64
import hashlib
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl


def stored_body(raw: bytes, content_type: str) -> Any:
    """What a request body is stored and matched as."""
    if not raw:
        return None
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        form = _multipart(raw, content_type)
        if form is not None:
            return form
    elif kind == "application/x-www-form-urlencoded":
        return {"form": _fields(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))}
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}


def _fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Fields by name: one value as itself, a name sent more than once as the list of its
    values in order."""
    values: dict[str, list[Any]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return {name: found[0] if len(found) == 1 else found for name, found in values.items()}


def _multipart(raw: bytes, content_type: str) -> dict[str, Any] | None:
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    if not message.is_multipart():
        return None
    fields: list[tuple[str, Any]] = []
    files: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            try:
                fields.append((name, payload.decode("utf-8")))
            except UnicodeDecodeError:
                fields.append((name, {"base64": base64.b64encode(payload).decode()}))
        else:
            file = {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
            files.append((name, file))
    return {"form": _fields(fields), "files": _fields(files)}
