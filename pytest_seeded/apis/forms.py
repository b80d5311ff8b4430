"""The stored form of a request body: JSON as parsed JSON, and forms as their fields.

A multipart upload (files.create, audio transcriptions) carries a random boundary and the
file's bytes: stored as text it never matched on replay, and put the whole file, and any
field named in ``llm_scrub_fields``, into the snapshot. It is stored as its fields and, for
each file, its name, type, size and a digest; a URL-encoded form as its fields. Fields then
go through the same scrubbing as JSON fields.
"""

from __future__ import annotations

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
        return {"form": dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _multipart(raw: bytes, content_type: str) -> dict[str, Any] | None:
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    if not message.is_multipart():
        return None
    fields: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode("utf-8", "replace")
        else:
            files[name] = {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
    return {"form": fields, "files": files}
