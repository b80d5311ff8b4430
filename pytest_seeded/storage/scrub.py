"""What is kept out of the snapshot files before anything is matched or written: credentials in
the URL, credentials a server echoes back, the JSON fields and query parameters named by the
``llm_scrub_fields`` ini option, and, as a last check, anything shaped like a live credential.

Headers are never stored at all (neither the request's nor the response's), so the API key,
organization, project, cookies and any key a gateway echoes back in a header cannot reach a
file. A key echoed in a body is removed by its value: every credential the request carried
(headers, key-like query parameters, the SDKs' key variables) is replaced wherever it appears.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlencode

if TYPE_CHECKING:
    # Only for the annotation: settings import this module when pytest starts, and httpx2
    # loads only when a test asks for an LLM fixture.
    import httpx2

# A name says credential when a word of it does, in any case and with any separator
# (api-key, subscription-key, client_secret, accessToken, x-api-key, passphrase), or when it is
# one of the run-together names services use (apikey, appid, authtoken, hapikey, sessionid).
# The same rule serves query parameters, JSON and form fields of requests and answers alike.
SECRET_WORDS = frozenset(
    {
        "key", "apikey", "token", "secret", "signature", "password", "passwd", "pwd",
        "passphrase", "auth", "authorization", "credential", "credentials", "jwt", "bearer",
    }
)  # fmt: skip
SECRET_NAMES = frozenset(
    {
        "apikey", "apitoken", "authtoken", "accesstoken", "refreshtoken", "idtoken",
        "sessiontoken", "sessionid", "sessionkey", "hapikey", "appid", "appkey", "clientsecret",
        "privatekey", "secretkey", "accesskey", "subscriptionkey", "passphrase",
    }
)  # fmt: skip
# In a URL only, where they carry credentials by custom: Azure Functions' code, a SAS's sig, a
# session cookie's name.
QUERY_ONLY_WORDS = frozenset({"code", "sig", "session"})
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# A URL path segment that is a credential by its shape: a bot token (Telegram's
# <digits>:<35 characters>), or a key of a known shape (CREDENTIAL_SHAPES below).
_TOKEN_SEGMENT = re.compile(r"^(?:bot)?\d{5,}:[A-Za-z0-9_-]{20,}$")
# Headers whose values are credentials (their values are removed from stored bodies too).
SECRET_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "proxy-authorization",
)
# The SDKs' own key settings: a key in the environment may be echoed even if not sent.
SECRET_ENVIRONMENT = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
)
# Shorter values are looked for in bodies only as whole values: inside text, "k3y12" could be
# any word; and values shorter than this not at all ("1" or "abc" would scrub half an answer).
MIN_SECRET_LENGTH = 8
MIN_WHOLE_SECRET_LENGTH = 5
# Text shaped like a live credential, refused by the last check before writing.
CREDENTIAL_SHAPES = (
    ("an API key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("an AWS access key (AKIA...)", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Google API key (AIza...)", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a bearer token", re.compile(r"\b[Bb]earer\s+[A-Za-z0-9._~+/-]{20,}")),
    (
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
    ),
)
# What a scrubbed field holds instead of its value: the field stays, so the response still
# parses into the openai types on replay, and a reader of the file sees that it was removed.
SCRUBBED = "<scrubbed>"


def public_path(url: httpx2.URL, fields: frozenset[str] = frozenset()) -> str:
    """The URL's path and query, without the host (which differs between machines), with path
    segments shaped like credentials replaced, and without query parameters that carry
    credentials or are named in ``fields``."""
    path = _public_segments(url.path)
    if not url.query:  # the usual case: parsing an empty query still costs a parse_qsl
        return path
    params = [
        (k, v)
        for k, v in url.params.multi_items()
        if not is_secret_param(k) and k.lower() not in fields
    ]
    return path + (f"?{urlencode(params)}" if params else "")


def _public_segments(path: str) -> str:
    secret = _secret_segments(path)
    if not secret:
        return path
    return "/".join(SCRUBBED if segment in secret else segment for segment in path.split("/"))


def _secret_segments(path: str) -> list[str]:
    """The segments of a URL path shaped like credentials."""
    # No credential shape fits in under 20 characters: the segments of an API's path (v1, chat,
    # completions) are passed over without a regex, on every request.
    return [
        segment
        for segment in path.split("/")
        if len(segment) >= 20
        and (
            _TOKEN_SEGMENT.match(segment)
            or any(shape.search(segment) for _, shape in CREDENTIAL_SHAPES)
        )
    ]


def public_url(url: httpx2.URL, fields: frozenset[str] = frozenset()) -> str:
    """The whole URL of the test's other HTTP (the host says which service it was), without
    user info or the query parameters public_path leaves out."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{public_path(url, fields)}"


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field's name (JSON, form, header, query) says it holds a credential."""
    words = [word.lower() for word in _WORDS.findall(name)]
    return any(word in SECRET_WORDS for word in words) or "".join(words) in SECRET_NAMES


@functools.lru_cache(maxsize=4096)
def is_secret_param(name: str) -> bool:
    """Whether a query parameter's name says it carries a credential."""
    return is_secret_name(name) or any(
        word.lower() in QUERY_ONLY_WORDS for word in _WORDS.findall(name)
    )


@functools.lru_cache(maxsize=4096)
def _field_kind(name: str) -> int:
    """0: not a credential's name; 1: one (api_key, client_secret, access_token); 2: a bare
    "key" or "token", a credential only when its value looks like one (a logprob's token, a
    key-value tool's key are text)."""
    words = [word.lower() for word in _WORDS.findall(name)]
    if words in (["key"], ["token"]):
        return 2
    if any(word in SECRET_WORDS - {"key", "token"} for word in words):
        return 1
    joined = "".join(words)
    return 1 if joined in SECRET_NAMES or joined.endswith(("apikey", "accesskey")) else 0


def _secret_field(name: str, value: Any, holder: dict[str, Any]) -> bool:
    kind = _field_kind(name)
    if kind == 0 or not isinstance(value, str) or value in ("", SCRUBBED):
        return False
    if kind == 1:
        return True
    return len(value) >= 16 and not any(c.isspace() for c in value) and "logprob" not in holder


def body_secrets(body: Any) -> Iterator[str]:
    """The values of a body's fields whose names say credential (client_secret, api_key)."""
    if isinstance(body, dict):
        for key, item in body.items():
            if _secret_field(str(key), item, body):
                yield item
            else:
                yield from body_secrets(item)
    elif isinstance(body, list):
        for item in body:
            yield from body_secrets(item)


def sent_secrets(request: httpx2.Request, body: Any = None) -> frozenset[str]:
    """The credentials a request carried (headers, query, body fields whose names say so), and
    those in the SDKs' key variables, in each form a server may echo them in (as sent,
    percent-encoded, base64): values to remove wherever they come back."""
    values: set[str] = set()
    for name in SECRET_HEADERS:
        for value in request.headers.get_list(name):
            values.add(value)
            # "Bearer sk-..." and "a=1; session=..." hold the secret as a part.
            values.update(value.split(" ", 1)[1:])
            values.update(part.split("=", 1)[-1] for part in value.split(";"))
    for key, value in request.url.params.multi_items():
        if is_secret_param(key):
            values.add(value)
    values.update(_secret_segments(request.url.path))
    values.update(body_secrets(body))
    values.update(os.environ.get(name, "") for name in SECRET_ENVIRONMENT)
    forms: set[str] = set()
    for value in (v.strip() for v in values):
        if len(value) < MIN_WHOLE_SECRET_LENGTH:
            continue
        encoded = base64.b64encode(value.encode()).decode()
        forms.update(
            (value, quote(value, safe=""), quote_plus(value), encoded, encoded.rstrip("="))
        )
    return frozenset(forms)


def scrub_values(value: Any, secrets: frozenset[str]) -> Any:
    """A copy of a JSON value with every secret replaced by SCRUBBED inside any string (keys
    included); ``value`` itself when none occurs. A secret shorter than MIN_SECRET_LENGTH is
    replaced only where it is a whole value: inside longer text it could be any word."""
    if not secrets:
        return value
    if isinstance(value, str):
        if value in secrets:
            return SCRUBBED
        if not any(secret in value for secret in secrets if len(secret) >= MIN_SECRET_LENGTH):
            return value
        # Longest first, so a key's prefix (also sent, as part of a header) leaves no tail.
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= MIN_SECRET_LENGTH:
                value = value.replace(secret, SCRUBBED)
        return value
    if isinstance(value, dict):
        out = {scrub_values(k, secrets): scrub_values(v, secrets) for k, v in value.items()}
        same = len(out) == len(value) and all(
            a is b for a, b in zip(out.values(), value.values(), strict=True)
        )
        return value if same and list(out) == list(value) else out
    if isinstance(value, list):
        items = [scrub_values(item, secrets) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def scrub_stream(events: list[dict[str, Any]], secrets: frozenset[str]) -> list[dict[str, Any]]:
    """A stream's events with every secret removed, one split across events included: each
    event alone, then the pieces one field holds across the stream (a chat delta's content,
    an Anthropic text delta), joined, searched, and cut where a secret runs through them."""
    events = scrub_values(events, secrets)
    long = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]
    if not long:
        return events
    pieces: dict[tuple[Any, ...], list[tuple[int, tuple[Any, ...], str]]] = {}
    for n, event in enumerate(events):
        for path, text in _leaves(event.get("data"), ()):
            pieces.setdefault(path, []).append((n, path, text))
    rewrites: dict[tuple[int, tuple[Any, ...]], str] = {}
    for found in pieces.values():
        if len(found) < 2:
            continue
        joined = "".join(text for _, _, text in found)
        spans = [
            (m.start(), m.start() + len(secret))
            for secret in long
            for m in re.finditer(re.escape(secret), joined)
        ]
        if not spans:
            continue
        start = 0
        for n, path, text in found:
            end = start + len(text)
            kept = []
            for i, ch in enumerate(text, start):
                inside = [a for a, b in spans if a <= i < b]
                if not inside:
                    kept.append(ch)
                elif i in inside:  # the secret starts here: it stands as SCRUBBED
                    kept.append(SCRUBBED)
            if len(kept) != len(text) or "".join(kept) != text:
                rewrites[(n, path)] = "".join(kept)
            start = end
    if not rewrites:
        return events
    out = [dict(e) for e in events]
    for (n, path), text in rewrites.items():
        out[n]["data"] = _replaced(out[n]["data"], path, text)
    return out


def _leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _leaves(item, (*path, n))


def _replaced(value: Any, path: tuple[Any, ...], text: str) -> Any:
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, text)}
    items = list(value)
    items[head] = _replaced(items[head], rest, text)
    return items


def credentials_in(
    value: Any, allowed: frozenset[str], where: str = ""
) -> Iterator[tuple[str, str]]:
    """(JSON path, what it looks like) for each string shaped like a live credential, except in
    fields whose (lower-cased) name is in ``allowed``."""
    if isinstance(value, str):
        for kind, shape in CREDENTIAL_SHAPES:
            if shape.search(value):
                yield where or "(the value)", kind
                return
    elif isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() not in allowed:
                yield from credentials_in(item, allowed, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from credentials_in(item, allowed, f"{where}[{n}]")


def scrub_fields(value: Any, fields: frozenset[str]) -> Any:
    """A copy of a JSON value with every object member whose name (lower-cased) is in
    ``fields``, or whose name says it holds a credential, replaced by SCRUBBED, at any depth.
    Returns ``value`` itself when nothing changed, so that the common case allocates nothing."""
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if name.lower() in fields or _secret_field(name, item, value):
                new = SCRUBBED
            else:
                new = scrub_fields(item, fields)
            changed = changed or new is not item
            out[key] = new
        return out if changed else value
    if isinstance(value, list):
        items = [scrub_fields(item, fields) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def field_names(lines: list[str]) -> frozenset[str]:
    """The ini option's names: one or more per line, separated by commas or white space."""
    return frozenset(
        name.strip().lower() for line in lines for name in line.replace(",", " ").split() if name
    )
