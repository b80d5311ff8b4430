"""What is kept out of snapshot files: credentials in URLs, echoed values, named fields, and
anything shaped like a live credential."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from pytest_seeded.storage.scrub import (
    SCRUBBED,
    credentials_in,
    field_names,
    is_secret_param,
    public_path,
    public_url,
    scrub_fields,
    scrub_values,
    sent_secrets,
)


def test_the_stored_path_drops_the_host_and_credential_parameters() -> None:
    url = httpx2.URL("https://h.example:8443/v1/x?key=abc&api-version=2024&token=t&q=1")
    assert public_path(url) == "/v1/x?api-version=2024&q=1"
    assert public_url(url) == "https://h.example:8443/v1/x?api-version=2024&q=1"
    assert public_path(url, frozenset({"q"})) == "/v1/x?api-version=2024"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("X-Api-Key", True),
        ("access_token", True),
        ("page", False),
        ("monkey", False),
    ],
)
def test_parameter_names_that_say_credential(name: str, secret: bool) -> None:
    assert is_secret_param(name) is secret


def test_values_the_request_sent_are_removed_wherever_they_come_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    request = httpx2.Request(
        "POST",
        "https://h/v1?api_key=query-secret-1",
        headers={"authorization": "Bearer header-secret-12345"},
    )
    secrets = sent_secrets(request)
    assert {"header-secret-12345", "query-secret-1"} <= secrets
    echoed = {"error": "bad key header-secret-12345", "list": ["query-secret-1"], "n": 3}
    scrubbed = scrub_values(echoed, secrets)
    assert scrubbed == {"error": f"bad key {SCRUBBED}", "list": [SCRUBBED], "n": 3}
    clean = {"a": "b"}
    assert scrub_values(clean, secrets) is clean  # nothing to change: nothing copied


def test_named_fields_are_scrubbed_at_any_depth() -> None:
    body: dict[str, Any] = {"user": {"Email": "a@b.c", "name": "x"}, "items": [{"email": "d@e.f"}]}
    out = scrub_fields(body, field_names(["email, phone"]))
    assert out == {"user": {"Email": SCRUBBED, "name": "x"}, "items": [{"email": SCRUBBED}]}
    assert body["user"]["Email"] == "a@b.c"  # the original is not changed


def test_credential_shapes_are_found_with_their_path() -> None:
    found = list(
        credentials_in(
            {"a": ["sk-proj-" + "x" * 40], "note": "Bearer " + "y" * 30, "ok": "hello"}, frozenset()
        )
    )
    assert [path for path, _ in found] == ["a[0]", "note"]
    assert list(credentials_in({"note": "Bearer " + "y" * 30}, frozenset({"note"}))) == []
