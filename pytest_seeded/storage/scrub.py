"""What is kept out of the snapshot files before anything is matched or written: credentials in
the URL, credentials a server echoes back, the JSON fields and query parameters named by the
``llm_scrub_fields`` ini option, and, as a last check, anything shaped like a live credential.

Headers are never stored at all (neither the request's nor the response's), so the API key,
organization, project, cookies and any key a gateway echoes back in a header cannot reach a
file. A key echoed in a body is removed by its value: every credential the request carried
(headers, key-like query parameters, the SDKs' key variables) is replaced wherever it appears.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    # Only for the annotation: settings import this module when pytest starts, and httpx2
    # loads only when a test asks for an LLM fixture.
    import httpx2

# A query parameter is a credential when a word of its name says so, in any case and with any
# separator: api-key, subscription-key (Azure API Management), code (Azure Functions), sig
# (SAS), client_secret, accessToken, x-api-key, apikey, password...
SECRET_PARAM_WORDS = frozenset(
    {
        "key", "apikey", "token", "secret", "signature", "sig", "password", "passwd", "pwd",
        "auth", "authorization", "code", "credential", "credentials", "session", "jwt",
    }
)  # fmt: skip
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
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
# Shorter values are not looked for in bodies: "1" or "abc" would scrub half of every answer.
MIN_SECRET_LENGTH = 8
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
    """The URL's path and query, without the host (which differs between machines) and without
    query parameters that carry credentials or are named in ``fields``."""
    if not url.query:  # the usual case: parsing an empty query still costs a parse_qsl
        return url.path
    params = [
        (k, v)
        for k, v in url.params.multi_items()
        if not is_secret_param(k) and k.lower() not in fields
    ]
    return url.path + (f"?{urlencode(params)}" if params else "")


def public_url(url: httpx2.URL, fields: frozenset[str] = frozenset()) -> str:
    """The whole URL of the test's other HTTP (the host says which service it was), without
    user info or the query parameters public_path leaves out."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{public_path(url, fields)}"


def is_secret_param(name: str) -> bool:
    """Whether a query parameter's name says it carries a credential."""
    return any(word.lower() in SECRET_PARAM_WORDS for word in _WORDS.findall(name))


def sent_secrets(request: httpx2.Request) -> frozenset[str]:
    """The credentials a request carried, and those in the SDKs' key variables: values to
    remove wherever a server echoes them."""
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
    values.update(os.environ.get(name, "") for name in SECRET_ENVIRONMENT)
    return frozenset(v.strip() for v in values if len(v.strip()) >= MIN_SECRET_LENGTH)


def scrub_values(value: Any, secrets: frozenset[str]) -> Any:
    """A copy of a JSON value with every secret replaced by SCRUBBED inside any string (keys
    included); ``value`` itself when none occurs."""
    if not secrets:
        return value
    if isinstance(value, str):
        if not any(secret in value for secret in secrets):
            return value
        # Longest first, so a key's prefix (also sent, as part of a header) leaves no tail.
        for secret in sorted(secrets, key=len, reverse=True):
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
    ``fields`` replaced by SCRUBBED, at any depth. Returns ``value`` itself when nothing
    changed, so that the common case allocates nothing."""
    if not fields:
        return value
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            new = SCRUBBED if key.lower() in fields else scrub_fields(item, fields)
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
