"""What is kept out of the snapshot files before anything is matched or written: credentials in
the URL, and the JSON fields and query parameters named by the ``llm_scrub_fields`` ini option.

Headers are never stored at all (neither the request's nor the response's), so the API key,
organization, project, cookies and any key a gateway echoes back cannot reach a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    # Only for the annotation: settings import this module when pytest starts, and httpx2
    # loads only when a test asks for an LLM fixture.
    import httpx2

# Query parameters that carry credentials (Azure-style gateways put the key in the URL).
SECRET_QUERY_PARAMS = frozenset({"api-key", "api_key", "key", "token", "access_token", "sig"})
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
        if k.lower() not in SECRET_QUERY_PARAMS and k.lower() not in fields
    ]
    return url.path + (f"?{urlencode(params)}" if params else "")


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
