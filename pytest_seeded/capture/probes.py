"""What served an answer that does not say: asked of the server once per run and host.

llama.cpp's embeddings answers repeat the requested model name whatever file it serves, and
Ollama's answers name a model by its tag (``llama3.2``), not by its weights, so a swapped model
would look unchanged and fail a live run as a changed answer. Its server says what it serves:
``/v1/models`` (a single-model server lists the one it serves), Ollama's ``/api/tags`` (each
model's digest), TGI's ``/info`` (model id and revision). The answer becomes the call's
fingerprint, so a swapped model is drift.

Asked only where a request is really sent (record and live), with ``http.client`` (no adapter
sees it, so nothing is recorded), with the request's own credentials, and a short timeout: a
server that does not answer the question leaves the identity as the answer gives it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from typing import Any

import httpx2

from pytest_seeded.apis.endpoints import Endpoint

_TIMEOUT = 5.0
_lock = threading.Lock()
# (probe, scheme, host, port, path, model) -> the served identity, or None; for the run.
_asked: dict[tuple[str, ...], str | None] = {}


def served(endpoint: Endpoint, request: httpx2.Request, body: Any) -> str | None:
    """What the server says serves this request's model; None if it does not say."""
    if endpoint.probe is None:
        return None
    model = str(body.get("model", "")) if isinstance(body, dict) else ""
    path = _probe_path(endpoint.probe, request.url.path)
    url = request.url
    key = (endpoint.probe, url.scheme, url.host, str(url.port), path, model)
    with _lock:
        if key in _asked:
            return _asked[key]
    found = _ask(endpoint.probe, request, path, model)
    with _lock:
        _asked[key] = found
    return found


def forget_all() -> None:
    """A new run asks again (pytester runs many in one process)."""
    with _lock:
        _asked.clear()


def _probe_path(probe: str, path: str) -> str:
    if probe == "models":  # beside the request's own: /v1/embeddings -> /v1/models
        return path.rstrip("/").rsplit("/", 1)[0] + "/models"
    if probe == "ollama":
        return path.rstrip("/").rsplit("/api/", 1)[0] + "/api/tags"
    return path.rstrip("/").rsplit("/", 1)[0] + "/info" if path.strip("/") else "/info"


def _ask(probe: str, request: httpx2.Request, path: str, model: str) -> str | None:
    url = request.url
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() in ("authorization", "api-key", "x-api-key")
    }
    try:
        connection = connection_class(url.host, url.port, timeout=_TIMEOUT)
        try:
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            raw = answer.read()
            status = answer.status
        finally:
            connection.close()
        if status != 200:
            return None
        return _read(probe, json.loads(raw), model)
    except (OSError, ValueError, http.client.HTTPException):
        return None


def _read(probe: str, doc: Any, model: str) -> str | None:
    if not isinstance(doc, dict):
        return None
    if probe == "models":
        data = doc.get("data")
        # Only a server that serves one model says which serves this call (api.openai.com
        # lists all it has).
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            return None
        entry = data[0]
        meta = entry.get("meta")
        digest = f" {_digest(meta)}" if isinstance(meta, dict) else ""
        return f"{entry.get('id')}{digest}"
    if probe == "ollama":
        wanted = {model, f"{model}:latest"}
        for entry in doc.get("models") or []:
            if isinstance(entry, dict) and (
                entry.get("name") in wanted or entry.get("model") in wanted
            ):
                found = entry.get("digest")
                return f"digest {str(found)[:12]}" if found else None
        return None
    model_id, sha = doc.get("model_id"), doc.get("model_sha")
    if not isinstance(model_id, str):
        return None
    return f"{model_id}@{sha}" if sha else model_id


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]
