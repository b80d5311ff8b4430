"""No credential reaches a file, in any encoding: found by the names that say credential, by
shape in URL paths, and by the values the process sent, wherever they come back (raw,
percent-encoded, base64, split across stream events, short) (../shared/redteam 14, 15)."""

from __future__ import annotations

import pytest
from conftest import Project

TELEGRAM = "123456789:AAHfakeTelegramTokenValue_abcdefgh"
OWM = "0123456789abcdef0123456789abcdef"

LEAKS = """
import httpx
import requests

U = URL

def test_key_in_path(seeded_calls):
    requests.get(f"{U}/echo/bot{TELEGRAM}/sendMessage")

def test_query_names(seeded_calls):
    requests.get(f"{U}/echo?q=London&appid={OWM}&apitoken=APITOKEN_SECRET_1&authtoken=AUTHTOKEN_SECRET_2"
                 "&sessionid=SESSIONID_SECRET_3&hapikey=HAPIKEY_SECRET_4&passphrase=PASSPHRASE_SECRET5")

def test_json_body_key(seeded_calls):
    requests.post(f"{U}/echo", json={"api_key": "tvly-dev-TAVILYSECRET12345", "query": "weather"})

def test_form_body_secret(seeded_calls):
    httpx.post(f"{U}/echo", data={"grant_type": "client_credentials", "client_id": "app",
                                  "client_secret": "CLIENTSECRET_abcdefgh123"})

def test_multipart_field(seeded_calls):
    requests.post(f"{U}/echo", files={"f": ("a.txt", b"x")}, data={"api_key": "MULTIPART_SECRET_abc123"})

def test_oauth_answer(seeded_calls):
    assert httpx.get(f"{U}/oauth/token").json()["access_token"]

def test_percent_encoded_echo(seeded_calls):
    httpx.get(f"{U}/echo", params={"api_key": "AbC+dEf/GhI=jKlMnOpQrStUv"})

def test_short_key_echo(seeded_calls):
    requests.get(f"{U}/echo", headers={"x-api-key": "k3y1234"})

def test_logprob_tokens_are_text(seeded_calls):
    r = httpx.post(f"{U}/echo", json={"logprobs": [{"token": "ingredientsplenty", "logprob": -0.1}]})
    assert "ingredientsplenty" in r.text
"""

SECRETS = [
    TELEGRAM, "AAHfakeTelegram", OWM, "APITOKEN_SECRET", "AUTHTOKEN_SECRET", "SESSIONID_SECRET",
    "HAPIKEY_SECRET", "PASSPHRASE_SECRET", "TAVILYSECRET", "CLIENTSECRET", "MULTIPART_SECRET",
    "ya29.a0", "1//0gFAKE", "AbC%2BdEf%2FGhI%3D", "AbC+dEf", "k3y1234",
]  # fmt: skip


def test_credentials_are_found_by_meaning_and_by_what_was_sent(project: Project) -> None:
    base = project.server.url.removesuffix("/v1")
    code = LEAKS.replace("URL", repr(base)).replace("{TELEGRAM}", TELEGRAM).replace("{OWM}", OWM)
    project.pytester.makepyfile(test_leaks=code)
    project.run("--llm-mode=record").assert_outcomes(passed=9)
    files = project.snapshots()
    assert len(files) == 9
    text = "\n".join(files.values())
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == []
    # What is not a credential stays: a logprob's token is text, the query is the query.
    assert "ingredientsplenty" in text
    assert "q=London" in text
    # What was scrubbed is scrubbed the same way every run: the recordings replay.
    project.offline()
    project.run().assert_outcomes(passed=9)


@pytest.mark.parametrize("piece_chars", [0, 5])
def test_a_sent_key_echoed_in_a_stream_is_removed_wherever_it_splits(
    project: Project, monkeypatch: pytest.MonkeyPatch, piece_chars: int
) -> None:
    # redteam 15: each event was scrubbed alone, so a key split across two events (and the
    # call's joined output) kept it whole.
    key = "sk-proj-SECRETKEYVALUE0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    project.server.state.decorate = lambda text: f"{text} your key is {key} ok"
    project.server.state.piece_chars = piece_chars
    project.pytester.makepyfile(
        test_stream="""
def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(
        model="m", stream=True, messages=[{"role": "user", "content": "what key do you use?"}]
    )
    text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    assert "your key is" in text
"""
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (text,) = project.snapshots().values()
    assert "SECRETKEYVALUE" not in text
    assert "<scrubbed>" in text
    pieces_of_the_key = ["sk-pr", "oj-SE", "CRETK", "EYVAL", "UE012"]
    assert not any(piece in text for piece in pieces_of_the_key[1:])
