"""Every provider a Python team uses, through its own client library, against the loopback
server's stand-ins for its API (provider_routes.py): each is seeded in its own field, recorded,
replayed offline, passes a live run when unchanged, fails one when its answer changed, and is
skipped as drift when the model behind it changed (where the API, or its server, says which
model served it). No test needs an OpenAI key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Project, closed_port_url

# The providers' clients are made per test and left to the garbage collector, as their
# documentation shows them; their unclosed sockets are not what these tests are about.
QUIET = ("-W", "ignore::pytest.PytestUnraisableExceptionWarning")


def _run(project: Project, *args: str) -> pytest.RunResult:
    return project.run(*QUIET, *args)


def _calls(project: Project) -> list[dict[str, Any]]:
    return [c for text in project.snapshots().values() for c in json.loads(text)["calls"]]


def _lifecycle(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    tests: int,
    *,
    drift: bool,
) -> list[dict[str, Any]]:
    """record -> offline replay -> live unchanged -> live changed -> (drift); the recorded
    calls."""
    server = project.server
    base = server.url.removesuffix("/v1")
    monkeypatch.setenv("BASE", base)
    project.pytester.makepyfile(test_provider=source)
    _run(project, "--llm-mode=record").assert_outcomes(passed=tests)
    calls = _calls(project)
    assert len(calls) == tests
    assert all(c["request"]["path"] for c in calls)
    assert not any(c.get("is_http") for c in calls)

    files = project.snapshots()
    sent = len(server.state.requests)
    monkeypatch.setenv("BASE", closed_port_url().removesuffix("/v1"))
    replayed = _run(project)
    replayed.assert_outcomes(passed=tests)
    replayed.stdout.fnmatch_lines([f"calls: {tests} replayed"])
    assert len(server.state.requests) == sent
    monkeypatch.setenv("BASE", base)

    live = _run(project, "--llm-mode=live")
    live.assert_outcomes(passed=tests)
    live.stdout.fnmatch_lines([f"calls: {tests} matched live"])

    server.state.salt = "another answer"
    changed = _run(project, "--llm-mode=live")
    changed.assert_outcomes(failed=tests)
    changed.stdout.fnmatch_lines(["*live output of call #1 differs from the snapshot*"])
    server.state.salt = ""

    if drift:
        server.state.model_version = "-v2"
        drifted = _run(project, "--llm-mode=live", "-rs")
        drifted.assert_outcomes(skipped=tests)
        drifted.stdout.fnmatch_lines(["*changed for call #1 of *"])
        server.state.model_version = ""
    assert project.snapshots() == files
    return calls


OLLAMA = """
import os
import ollama

MSG = [{"role": "user", "content": "the sea"}]

def client():
    return ollama.Client(host=os.environ["BASE"])

def test_chat(seeded_calls):
    assert client().chat(model="llama3.2", messages=MSG).message.content

def test_stream(seeded_calls):
    parts = [c.message.content for c in client().chat(model="llama3.2", messages=MSG, stream=True)]
    assert len(parts) > 3 and "".join(parts)

def test_generate(seeded_calls):
    assert client().generate(model="llama3.2", prompt="the sea").response

def test_embed(seeded_calls):
    assert len(client().embed(model="nomic-embed-text", input=["sea", "sky"]).embeddings) == 2
"""


def test_ollama_native_api(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _lifecycle(project, monkeypatch, OLLAMA, 4, drift=True)
    by_path = {c["request"]["path"]: c for c in calls}
    chat = [c for c in calls if c["request"]["path"] == "/api/chat"]
    # Seeded in Ollama's own field; the embeddings API takes none.
    assert all(c["request"]["body"]["options"]["seed"] == 42 for c in chat)
    assert by_path["/api/generate"]["request"]["body"]["options"] == {"seed": 42}
    assert "options" not in by_path["/api/embed"]["request"]["body"]
    # The stream is kept as its NDJSON lines, and read as one answer.
    stream = next(c for c in chat if c["request"]["body"]["stream"])
    assert stream["response"]["content_type"] == "application/x-ndjson"
    assert stream["output"] == next(c for c in chat if c is not stream)["output"]
    # Ollama's answers name the tag; its server names the weights (/api/tags' digest).
    assert {c["model"] for c in chat} == {"llama3.2"}
    assert all(c["fingerprint"].startswith("digest ") for c in calls)
    assert by_path["/api/embed"]["output"].startswith("vector 0: 8 dims")


COHERE = """
import os
import cohere

MSG = [{"role": "user", "content": "the sea"}]

def client():
    return cohere.ClientV2(api_key="co-test", base_url=os.environ["BASE"])

def test_chat(seeded_calls):
    assert client().chat(model="command-r", messages=MSG).message.content[0].text

def test_stream(seeded_calls):
    events = client().chat_stream(model="command-r", messages=MSG)
    assert "".join(e.delta.message.content.text for e in events if e.type == "content-delta")

def test_embed(seeded_calls):
    r = client().embed(model="embed-v4.0", texts=["sea"], input_type="search_document",
                       embedding_types=["float"])
    assert len(r.embeddings.float_) == 1
"""


def test_cohere_v2(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cohere's answers do not name the model that served them: no drift to see.
    calls = _lifecycle(project, monkeypatch, COHERE, 3, drift=False)
    chat = [c for c in calls if c["request"]["path"] == "/v2/chat"]
    assert [c["request"]["body"]["seed"] for c in chat] == [42, 42]
    assert chat[0]["output"] == chat[1]["output"]
    assert all(c["response"]["status"] == 200 for c in calls)


MISTRAL = """
import os
from mistralai.client import Mistral

MSG = [{"role": "user", "content": "the sea"}]

def client():
    return Mistral(api_key="mistral-test", server_url=os.environ["BASE"])

def test_chat(seeded_calls):
    assert client().chat.complete(model="mistral-small", messages=MSG).choices[0].message.content

def test_own_seed(seeded_calls):
    r = client().chat.complete(model="mistral-small", messages=MSG, random_seed=5)
    assert r.choices[0].message.content
"""


def test_mistral_seeds_random_seed_only(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _lifecycle(project, monkeypatch, MISTRAL, 2, drift=True)
    bodies = sorted((c["request"]["body"] for c in calls), key=lambda b: b["random_seed"])
    # The API refuses fields it does not know: no "seed" beside random_seed. A request that
    # names its own seed keeps it, and the snapshot shows the seed that answered.
    assert [b["random_seed"] for b in bodies] == [5, 42]
    assert not any("seed" in b for b in bodies)


BEDROCK = """
import json, os
import boto3

def client():
    return boto3.client("bedrock-runtime", endpoint_url=os.environ["BASE"], region_name="us-east-1")

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"

def test_converse(seeded_calls):
    r = client().converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "sea"}]}])
    assert r["output"]["message"]["content"][0]["text"]

def test_converse_stream(seeded_calls):
    r = client().converse_stream(modelId=MODEL,
                                 messages=[{"role": "user", "content": [{"text": "sea"}]}])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in r["stream"]
                   if "contentBlockDelta" in e)
    assert text

def test_invoke(seeded_calls):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
            "messages": [{"role": "user", "content": "sea"}]}
    r = client().invoke_model(modelId=MODEL, body=json.dumps(body))
    assert json.loads(r["body"].read())["content"][0]["text"]
"""


def test_bedrock_runtime(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded with credentials; replayed with none (the plugin sets placeholders).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    server = project.server
    monkeypatch.setenv("BASE", server.url.removesuffix("/v1"))
    project.pytester.makepyfile(test_provider=BEDROCK)
    _run(project, "--llm-mode=record").assert_outcomes(passed=3)
    calls = _calls(project)
    # No seed on Bedrock; the invoked model's answer names it, Converse's does not.
    assert {c["request"]["path"].rsplit("/", 1)[1] for c in calls} == {
        "converse",
        "converse-stream",
        "invoke",
    }
    assert not any("seed" in json.dumps(c["request"]["body"]) for c in calls)
    text = "\n".join(project.snapshots().values())
    assert "AKIAIOSFODNN7EXAMPLE" not in text
    assert "EXAMPLEKEY" not in text
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("BASE", closed_port_url().removesuffix("/v1"))
    _run(project).assert_outcomes(passed=3)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("BASE", server.url.removesuffix("/v1"))
    _run(project, "--llm-mode=live").assert_outcomes(passed=3)
    server.state.salt = "another answer"
    result = _run(project, "--llm-mode=live")
    result.assert_outcomes(failed=3)
    # An unseeded call's failure says it was unseeded, and what fits such a call.
    result.stdout.fnmatch_lines(["*unseeded*"])
    server.state.salt = ""
    # The determinism report says which calls went unseeded.
    result = _run(project, "--llm-mode=live", "--llm-repeat=2")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*call #1 served by None (unseeded: its API takes no seed)*"])
    server.state.model_version = "-v2"
    result = _run(project, "--llm-mode=live", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*model changed for call #1 of test_provider.py::test_invoke*"])


TGI = """
import os
from huggingface_hub import InferenceClient

def client():
    return InferenceClient(base_url=os.environ["BASE"])

def test_generate(seeded_calls):
    assert client().text_generation("the sea", max_new_tokens=16)

def test_stream(seeded_calls):
    assert "".join(client().text_generation("the sea", max_new_tokens=16, stream=True))
"""


def test_tgi_native(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub fetches its agent registry from huggingface.co before a request (once a
    # day, cached): telemetry to the plugin, never recorded, answered in replay.
    monkeypatch.setenv("HF_HOME", str(project.pytester.path / "hf"))
    calls = _lifecycle(project, monkeypatch, TGI, 2, drift=True)
    assert [c["request"]["body"]["parameters"]["seed"] for c in calls] == [42, 42]
    assert calls[0]["output"] == calls[1]["output"]
    # TGI's answers name no model; its /info does.
    assert {c["fingerprint"] for c in calls} == {"loopback/tgi@rev1"}


GENERIC = """
import os, requests

def test_unknown_api(seeded_calls):
    r = requests.post(os.environ["BASE"] + "/gateway/v9/infer",
                      json={"model": "house-model", "messages": [{"role": "user", "content": "sea"}]})
    assert r.json()["text"]
"""


def test_an_unknown_api_that_names_a_model_is_compared(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON POST with a model and messages on a path no provider has is an LLM call: a live
    run compares what it says; it is never sent for real and passed unjudged."""
    calls = _lifecycle(project, monkeypatch, GENERIC, 1, drift=False)
    # Its API is unknown, so is its seed field: sent as the code built it.
    assert calls[0]["request"]["body"] == {
        "model": "house-model",
        "messages": [{"role": "user", "content": "sea"}],
    }
    # Compared on its JSON minus what changes on every call (ids, times, timings).
    assert '"text":' in calls[0]["output"]
    assert "took_ms" not in calls[0]["output"]


TOOLS = """
import os
import httpx2

ROOT = os.environ["OPENAI_BASE_URL"].removesuffix("/v1")

def test_agent(seeded_llm):
    weather = httpx2.get(f"{ROOT}/tool/weather?city=Oslo").json()
    r = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"{weather}"}])
    assert r.choices[0].message.content
"""


def test_a_live_run_answers_the_tools_from_the_snapshot(project: Project) -> None:
    """Live runs judge the model, not the tools: the test's other HTTP is replayed, so the
    model is asked what it was asked when recorded, and nothing goes out unjudged."""
    project.pytester.makepyfile(test_tools=TOOLS)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    state = project.server.state
    # The live tool now answers otherwise; the model answers as before.
    state.salt, state.salt_by_model = "other weather", {"m": ""}
    tools_asked = sum(r.path.startswith("/tool/") for r in state.requests)
    live = project.run("--llm-mode=live")
    live.assert_outcomes(passed=1)
    live.stdout.fnmatch_lines(["calls: 1 matched live, 1 other HTTP replayed"])
    assert sum(r.path.startswith("/tool/") for r in state.requests) == tools_asked
    # A tool request the snapshot does not hold fails, as in replay.
    project.pytester.makepyfile(test_tools=TOOLS.replace("city=Oslo", "city=Quito"))
    changed = project.run("--llm-mode=live")
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*its snapshot does not hold: GET http://*city=Quito*"])
    # Asked for, the tools go out for real, and the summary says they were not compared.
    project.pytester.makepyfile(test_tools=TOOLS)
    state.salt = ""
    project.write_ini("llm_live_other_http = live\n")
    sent = project.run("--llm-mode=live")
    sent.assert_outcomes(passed=1)
    sent.stdout.fnmatch_lines(["calls: 1 matched live, 1 other HTTP sent, not compared"])
    assert sum(r.path.startswith("/tool/") for r in state.requests) == tools_asked + 1
    project.write_ini("llm_live_other_http = sometimes\n")
    project.run("--llm-mode=live").stderr.fnmatch_lines(
        ["*ini option llm_live_other_http takes replay or live; got 'sometimes'*"]
    )


KEYLESS = """
import httpx2

def test_openai_without_a_key(seeded_calls):
    # Refused before it leaves: nothing reaches the network.
    r = httpx2.post("https://api.openai.com/v1/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400
"""


def test_only_a_call_to_openai_needs_the_openai_key(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record and live ask for OPENAI_API_KEY only where a call goes to api.openai.com
    (test_cohere_v2 and the others record with none); one that does is refused, saying why."""
    project.pytester.makepyfile(test_keyless=KEYLESS)
    result = _run(project, "--llm-mode=record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*calls https://api.openai.com/v1, but OPENAI_API_KEY is not set*"]
    )


VERTEX = """
import os
from google import genai

def test_vertex(seeded_calls):
    client = genai.Client(vertexai=True, api_key="vertex-test",
                          http_options={"base_url": os.environ["BASE"]})
    assert client.models.generate_content(model="gemini-2.0-flash", contents="the sea").text
"""


def test_vertex_ai_through_google_genai(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Vertex AI's path (publishers/google/models/...:generateContent) is Gemini's shape:
    seeded in generationConfig.seed, compared, and a new modelVersion is drift."""
    calls = _lifecycle(project, monkeypatch, VERTEX, 1, drift=False)
    assert calls[0]["request"]["path"].endswith(
        "/publishers/google/models/gemini-2.0-flash:generateContent"
    )
    assert calls[0]["request"]["body"]["generationConfig"]["seed"] == 42
    project.server.state.fingerprint = "fp_loopback_2"  # the stand-in's next modelVersion
    _run(project, "--llm-mode=live").assert_outcomes(skipped=1)


VLLM = """
import os, requests

def test_generate(seeded_calls):
    r = requests.post(os.environ["BASE"] + "/generate", json={"prompt": "the sea", "max_tokens": 16})
    assert r.json()["text"][0]
"""


def test_vllm_native_generate(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM's own /generate (no client library: requests) takes its seed at the top level."""
    calls = _lifecycle(project, monkeypatch, VLLM, 1, drift=False)
    assert calls[0]["request"]["body"]["seed"] == 42
