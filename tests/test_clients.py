"""Every client a Python LLM app uses, end to end: recorded with the seed, replayed offline, and
compared live against the loopback server, so a client that slips past the plugin fails here.
Also the test's other HTTP (tools), and the guard that keeps replay off the network."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Project

# litellm fetches its price list from GitHub when imported: not in these tests.
pytestmark = pytest.mark.usefixtures("_litellm_offline")


@pytest.fixture
def _litellm_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


# The libraries warn about their own dependencies at import (pydantic, deprecations): not what
# these tests are about. Continuation lines of the project's filterwarnings = error.
LIBRARY_WARNINGS = "    ignore::UserWarning\n    ignore::DeprecationWarning\n    ignore::PendingDeprecationWarning\n"


def _calls(project: Project) -> list[dict[str, Any]]:
    (text,) = project.snapshots().values()
    calls: list[dict[str, Any]] = json.loads(text)["calls"]
    return calls


def _round_trip(
    project: Project, source: str, tests: int, seeded: int, *, subprocess: bool = False
) -> None:
    """Record (every LLM request carries the seed), replay offline (nothing reaches the server),
    then a live run against a server whose answers changed fails every test."""
    project.write_ini(LIBRARY_WARNINGS)
    project.pytester.makepyfile(test_client=source)
    run = project.run_subprocess if subprocess else project.run
    run("--llm-mode=record").assert_outcomes(passed=tests)
    assert project.server.seeds_received().count(42) == seeded
    assert project.snapshots(), "nothing was recorded"
    sent = len(project.server.state.requests)
    base_url = project.base_url
    project.offline()
    run().assert_outcomes(passed=tests)
    assert len(project.server.state.requests) == sent
    project.base_url = base_url
    project.write_ini()
    project.server.state.salt = "a new model"
    result = run("--llm-mode=live")
    result.assert_outcomes(failed=tests)
    result.stdout.fnmatch_lines(["*live output of call #1*differs from the snapshot*"])


LITELLM = """
import os

import litellm
import pytest

BASE = dict(model="openai/m", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])

def test_sync(llm_seed):
    r = litellm.completion(messages=[{"role": "user", "content": "litellm sync"}], **BASE)
    assert r.choices[0].message.content

def test_stream(llm_seed):
    chunks = litellm.completion(messages=[{"role": "user", "content": "litellm stream"}], stream=True, **BASE)
    assert "".join(c.choices[0].delta.content or "" for c in chunks)

@pytest.mark.asyncio
async def test_async(llm_seed):
    r = await litellm.acompletion(messages=[{"role": "user", "content": "litellm async"}], **BASE)
    assert r.choices[0].message.content
"""


def test_litellm_sync_stream_and_async(project: Project) -> None:
    # Sync calls go through legacy httpx, async ones through litellm's aiohttp transport.
    # In a subprocess: litellm's import breaks pytester's in-process runs (package metadata).
    _round_trip(project, LITELLM, tests=3, seeded=3, subprocess=True)


OPENAI_CLIENTS = """
import os

import httpx
import openai
import pytest

def test_legacy_httpx_client(llm_seed):
    with openai.OpenAI(http_client=httpx.Client()) as client:
        r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "legacy"}])
    assert r.choices[0].message.content

def test_legacy_httpx_stream(llm_seed):
    with openai.OpenAI(http_client=httpx.Client()) as client:
        s = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "legacy s"}], stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in s if c.choices)

@pytest.mark.asyncio
async def test_aiohttp_client(llm_seed):
    async with openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient()) as client:
        r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "aio"}])
    assert r.choices[0].message.content

@pytest.mark.asyncio
async def test_legacy_httpx_async_client(llm_seed):
    async with openai.AsyncOpenAI(http_client=httpx.AsyncClient()) as client:
        r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "legacy async"}])
    assert r.choices[0].message.content
"""


def test_openai_with_each_of_its_http_clients(project: Project) -> None:
    _round_trip(project, OPENAI_CLIENTS, tests=4, seeded=4)


LANGCHAIN = """
import os

import pytest
from langchain_openai import ChatOpenAI

def model():
    return ChatOpenAI(model="m", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0)

def test_invoke(llm_seed):
    assert model().invoke("langchain sync").content

def test_stream(llm_seed):
    assert "".join(c.content for c in model().stream("langchain stream"))

@pytest.mark.asyncio
async def test_ainvoke(llm_seed):
    assert (await model().ainvoke("langchain async")).content
"""


def test_langchain_openai_sync_stream_and_async(project: Project) -> None:
    # In a subprocess: langchain-openai caches its async client for the process and never
    # closes it; in-process, its socket was collected during a later test, which then failed
    # on the ResourceWarning.
    _round_trip(project, LANGCHAIN, tests=3, seeded=3, subprocess=True)


PYDANTIC_AI = """
import os

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

def agent():
    provider = OpenAIProvider(base_url=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])
    return Agent(OpenAIChatModel("m", provider=provider))

def test_run_sync(llm_seed):
    assert agent().run_sync("pydantic sync").output

@pytest.mark.asyncio
async def test_run(llm_seed):
    assert (await agent().run("pydantic async")).output

@pytest.mark.asyncio
async def test_run_stream(llm_seed):
    async with agent().run_stream("pydantic stream") as result:
        assert "".join([text async for text in result.stream_text(delta=True)])
"""


def test_pydantic_ai_sync_async_and_stream(project: Project) -> None:
    _round_trip(project, PYDANTIC_AI, tests=3, seeded=3, subprocess=True)


DSPY = """
import os

import dspy

def test_lm(llm_seed):
    lm = dspy.LM("openai/m", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])
    assert lm(messages=[{"role": "user", "content": "dspy with its cache on"}])[0]
"""


def test_dspy_with_its_cache_on(
    project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DSPy's disk cache stays on (its default), in a folder of this test's own: the record run
    # fills it, and the replay and live runs must still go through the plugin, or a live run
    # against a changed model would pass on the cached answer.
    monkeypatch.setenv("DSPY_CACHEDIR", str(tmp_path_factory.mktemp("dspy_cache")))
    _round_trip(project, DSPY, tests=1, seeded=1, subprocess=True)


AGENTS = """
import os

from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner
from openai import AsyncOpenAI

def client():
    return AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])

def test_chat_model(llm_seed):
    model = OpenAIChatCompletionsModel(model="m", openai_client=client())
    assert Runner.run_sync(Agent(name="a", instructions="Be brief.", model=model), "agents chat").final_output

def test_responses_model(llm_seed):
    model = OpenAIResponsesModel(model="m", openai_client=client())
    assert Runner.run_sync(Agent(name="a", instructions="Be brief.", model=model), "agents responses").final_output
"""


def test_openai_agents_chat_and_responses_models_with_tracing_on(project: Project) -> None:
    # Tracing stays on (the SDK's default): its uploads are never recorded, and in replay never
    # leave the process. The Responses API has no seed; its answers are compared all the same.
    # Runner.run_sync's event loops end before httpx2 can close the clients' auth generators.
    project.write_ini(LIBRARY_WARNINGS + "    ignore::ResourceWarning\n")
    project.pytester.makepyfile(test_client=AGENTS)
    project.run_subprocess("--llm-mode=record").assert_outcomes(passed=2)
    calls = [c for text in project.snapshots().values() for c in json.loads(text)["calls"]]
    assert sorted(c["request"]["path"] for c in calls) == ["/v1/chat/completions", "/v1/responses"]
    assert [
        c["request"]["body"].get("seed")
        for c in calls
        if c["request"]["path"].endswith("completions")
    ] == [42]
    sent = len(project.server.state.requests)
    base_url = project.base_url
    project.offline()
    project.run_subprocess().assert_outcomes(passed=2)
    assert len(project.server.state.requests) == sent
    project.base_url = base_url
    project.write_ini()
    project.server.state.salt = "a new model"
    result = project.run_subprocess("--llm-mode=live")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*2 mismatched live*"])


AZURE = """
import os

import openai

def token():
    if os.environ.get("AZURE_AD_OFFLINE"):
        raise RuntimeError("would ask Azure AD for a token over the network")
    return "azure-ad-token-for-the-loopback"

def test_azure(llm_seed):
    client = openai.AzureOpenAI(
        azure_endpoint=os.environ["OPENAI_BASE_URL"].removesuffix("/v1"), api_version="2024-10-21",
        azure_ad_token_provider=token, azure_deployment="m", max_retries=0)
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "azure"}])
    assert r.choices[0].message.content
"""


def test_azure_token_providers_are_not_called_in_replay(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makepyfile(test_client=AZURE)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (call,) = _calls(project)
    assert (
        call["request"]["path"] == "/openai/deployments/m/chat/completions?api-version=2024-10-21"
    )
    assert "azure-ad-token" not in json.dumps(call)
    monkeypatch.setenv("AZURE_AD_OFFLINE", "1")
    project.offline()
    project.run().assert_outcomes(passed=1)


INSTRUCTOR = """
import os

import instructor
import openai
import pytest
from pydantic import BaseModel

class Words(BaseModel):
    words: list[str]
    seed: int | None = None

def client():
    return instructor.from_openai(openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"], max_retries=0))

def test_structured(llm_seed):
    words = client().chat.completions.create(
        model="m", response_model=Words, max_retries=0,
        messages=[{"role": "user", "content": "answer with the tool"}])
    assert words.words
    assert words.seed == llm_seed  # the loopback server echoes the seed it was sent

@pytest.mark.asyncio
async def test_structured_async(llm_seed):
    aclient = instructor.from_openai(openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], max_retries=0))
    words = await aclient.chat.completions.create(
        model="m", response_model=Words, max_retries=0,
        messages=[{"role": "user", "content": "answer with the tool, async"}])
    assert words.words
"""


def test_instructor_sync_and_async(project: Project) -> None:
    # instructor cannot be a test extra (its jiter pin conflicts with openai's): devtools/test.sh
    # installs it beside them, which is how CI runs this.
    pytest.importorskip("instructor", reason="installed by devtools/test.sh, not by the extras")
    _round_trip(project, INSTRUCTOR, tests=2, seeded=2, subprocess=True)


ANTHROPIC = """
import os

import anthropic

def client():
    return anthropic.Anthropic(base_url=os.environ["OPENAI_BASE_URL"].removesuffix("/v1"), max_retries=0)

def test_message(llm_seed):
    m = client().messages.create(model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hello claude"}])
    assert m.content[0].text

def test_stream(llm_seed):
    with client().messages.stream(model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "stream claude"}]) as s:
        assert "".join(s.text_stream)
"""


def test_anthropic_messages_and_stream(project: Project) -> None:
    project.write_ini(LIBRARY_WARNINGS)
    project.pytester.makepyfile(test_client=ANTHROPIC)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    calls = [c for text in project.snapshots().values() for c in json.loads(text)["calls"]]
    assert [c["request"]["path"] for c in calls] == ["/v1/messages", "/v1/messages"]
    assert "seed" not in calls[0]["request"]["body"]  # Anthropic has no seed
    assert calls[1]["response"]["events"][-1]["event"] == "message_stop"
    sent = len(project.server.state.requests)
    base_url = project.base_url
    project.offline()
    project.run().assert_outcomes(passed=2)
    assert len(project.server.state.requests) == sent
    project.base_url = base_url
    project.write_ini()
    # Live: the same model answers the same, then a changed one differently, for both shapes.
    project.run("--llm-mode=live").assert_outcomes(passed=2)
    project.server.state.salt = "a new model"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*live output of call #1*differs from the snapshot*"])


GEMINI = """
import os

from google import genai
from google.genai import types

def test_generate(llm_seed):
    client = genai.Client(http_options=types.HttpOptions(
        base_url=os.environ["OPENAI_BASE_URL"].removesuffix("/v1"), api_version="v1beta"))
    r = client.models.generate_content(model="gemini-x", contents="hello gemini")
    assert r.text
"""


def test_google_genai_is_seeded_recorded_and_replayed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key-for-the-loopback")
    project.write_ini(LIBRARY_WARNINGS)
    project.pytester.makepyfile(test_client=GEMINI)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (call,) = _calls(project)
    assert call["request"]["path"] == "/v1beta/models/gemini-x:generateContent"
    assert call["request"]["body"]["generationConfig"]["seed"] == 42
    sent = len(project.server.state.requests)
    assert call["model"] == "gemini-x-001"  # Gemini's modelVersion says what served it
    monkeypatch.delenv("GEMINI_API_KEY")
    base_url = project.base_url
    project.offline()
    project.run().assert_outcomes(passed=1)
    assert len(project.server.state.requests) == sent
    project.base_url = base_url
    project.write_ini()
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key-for-the-loopback")
    project.server.state.salt = "a new model"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*live output of call #1*differs from the snapshot*"])
    # Gemini sends no system_fingerprint: a new modelVersion is the drift that skips.
    project.server.state.fingerprint = "fp_loopback_2"
    result = project.run("--llm-mode=live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*modelVersion changed for call #1*'gemini-x-001'*'gemini-x-002'*"]
    )


TOOLS = """
import os

import httpx
import httpx2

ROOT = os.environ["OPENAI_BASE_URL"].removesuffix("/v1")

def test_agent(seeded_llm):
    weather = httpx2.get(f"{ROOT}/tool/weather?city=Oslo").json()
    legacy = httpx.get(f"{ROOT}/tool/weather?city=Lima").json()
    r = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"{weather} {legacy}"}])
    assert r.choices[0].message.content
    with open("weather.txt", "a") as seen:
        seen.write(f"{weather['celsius']} {legacy['celsius']}\\n")
"""


def test_the_tests_other_http_is_recorded_and_replayed(project: Project) -> None:
    project.pytester.makepyfile(test_tools=TOOLS)
    recorded = project.run("--llm-mode=record")
    recorded.assert_outcomes(passed=1)
    calls = _calls(project)
    assert [c["request"].get("url", c["request"].get("path")) for c in calls] == [
        f"{project.base_url.removesuffix('/v1')}/tool/weather?city=Oslo",
        f"{project.base_url.removesuffix('/v1')}/tool/weather?city=Lima",
        "/v1/chat/completions",
    ]
    assert "fingerprint" not in calls[0]
    assert "headers" not in json.dumps(calls)
    recorded.stdout.fnmatch_lines(["*2 other HTTP recorded*"])
    # Replay answers the tools from the file too: the server is not asked, and the test sees
    # what was recorded even though the live tool would now answer otherwise.
    project.server.state.salt = "other weather"
    sent = len(project.server.state.requests)
    replayed = project.run()
    replayed.assert_outcomes(passed=1)
    assert len(project.server.state.requests) == sent
    recorded_value, replayed_value = (
        (project.pytester.path / "weather.txt").read_text().splitlines()
    )
    assert replayed_value == recorded_value
    replayed.stdout.fnmatch_lines(["*2 other HTTP replayed*"])


def test_a_request_with_no_recording_fails_replay_naming_method_and_url(project: Project) -> None:
    project.pytester.makepyfile(test_tools=TOOLS)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.pytester.makepyfile(test_tools=TOOLS.replace("city=Lima", "city=Quito"))
    sent = len(project.server.state.requests)
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*made a request its snapshot does not hold: GET http://*/tool/weather?city=Quito*"]
    )
    assert len(project.server.state.requests) == sent


OTHER_CLIENTS = """
import os
import urllib.request

import aiohttp
import pytest
import requests

ROOT = os.environ["TOOL_ROOT"]

@pytest.mark.asyncio
async def test_tools(seeded_llm):
    a = requests.get(f"{ROOT}/tool/weather?city=Rome", timeout=5).json()
    b = __import__("json").loads(urllib.request.urlopen(f"{ROOT}/tool/weather?city=Oslo", timeout=5).read())
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{ROOT}/tool/weather?city=Lima") as response:
            c = await response.json()
    r = seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": f"{a} {b} {c}"}])
    assert r.choices[0].message.content
    with open("weather.txt", "a") as seen:
        seen.write(f"{a['celsius']} {b['celsius']} {c['celsius']}\\n")
"""


def test_requests_urllib_and_aiohttp_are_recorded_and_replayed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project.base_url.removesuffix("/v1")
    monkeypatch.setenv("TOOL_ROOT", root)
    project.write_ini(LIBRARY_WARNINGS)
    project.pytester.makepyfile(test_other=OTHER_CLIENTS)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    calls = _calls(project)
    assert [c["request"].get("url", c["request"].get("path")) for c in calls] == [
        f"{root}/tool/weather?city=Rome",
        f"{root}/tool/weather?city=Oslo",
        f"{root}/tool/weather?city=Lima",
        "/v1/chat/completions",
    ]
    # Replay answers all three from the file: the server is not asked, the answers are the
    # recorded ones although the live tool would now say otherwise.
    project.server.state.salt = "other weather"
    sent = len(project.server.state.requests)
    project.offline()
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*3 other HTTP replayed*"])
    assert len(project.server.state.requests) == sent
    recorded, replayed = (project.pytester.path / "weather.txt").read_text().splitlines()
    assert replayed == recorded
    # A request the file does not hold fails the test, naming it, however the code catches it.
    project.pytester.makepyfile(test_other=OTHER_CLIENTS.replace("city=Oslo", "city=Quito"))
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*does not hold: GET http://*/tool/weather?city=Quito*"])
    assert len(project.server.state.requests) == sent


RAW_SOCKET = """
import os
import socket

def test_uncovered_client(seeded_llm):
    seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "then a socket"}])
    host, port = os.environ["TOOL_ADDRESS"].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        pass  # the code under test swallows the error: the verdict must still stand
"""


def test_replay_lets_nothing_leave_the_process(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database driver or any client below HTTP: the guard refuses it in replay.
    monkeypatch.setenv("TOOL_ADDRESS", project.base_url.split("//")[1].split("/")[0])
    project.pytester.makepyfile(test_socket=RAW_SOCKET)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tried to reach 127.0.0.1:* in replay*llm_passthrough_hosts*"])
    # A host named in llm_passthrough_hosts is reached in every mode.
    project.write_ini("llm_passthrough_hosts = 127.0.0.1\n")
    project.offline()  # the LLM call is replayed; only the passthrough host is reached
    project.run().assert_outcomes(passed=1)


def test_passthrough_hosts_are_neither_recorded_nor_replayed(project: Project) -> None:
    project.write_ini("llm_passthrough_hosts = 127.0.0.1\n")
    project.pytester.makepyfile(test_tools=TOOLS)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert [c["request"].get("path") for c in _calls(project)] == ["/v1/chat/completions"]
