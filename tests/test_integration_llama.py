"""The plugin against a real LLM server: llama.cpp's llama-server running SmolLM2-135M on
127.0.0.1, with its real fingerprint and real sampling. Select with ``-m integration``."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project

sys.path.insert(0, str(Path(__file__).parents[1] / "devtools"))

import llama_server
from llama_server import LlamaServer, missing

pytestmark = pytest.mark.integration

FINGERPRINT = "b11434-pypi-sdist"

CHAT = """
import pytest

MSG = [{"role": "user", "content": "Write one sentence about the sea."}]

def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(model="smollm2-135m", messages=MSG, max_tokens=24)
    assert r.choices[0].message.content
    print("CHAT:" + r.choices[0].message.content.replace("\\n", " "))

def test_stream(seeded_llm):
    s = seeded_llm.chat.completions.create(model="smollm2-135m", messages=MSG, max_tokens=24, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    assert text

def test_legacy(seeded_llm):
    r = seeded_llm.completions.create(model="smollm2-135m", prompt="The sea is", max_tokens=16)
    assert r.choices[0].text

@pytest.mark.asyncio
async def test_async(seeded_async_llm):
    r = await seeded_async_llm.chat.completions.create(model="smollm2-135m", messages=MSG, max_tokens=16)
    assert r.choices[0].message.content
"""


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    reason = missing()
    if reason:
        pytest.skip(f"llama-server integration tests: {reason}")
    with LlamaServer() as server:
        yield server


@pytest.fixture
def real(project: Project, llama: LlamaServer) -> Project:
    project.base_url = llama.url
    project.write_ini()
    return project


def test_record_replay_live_against_llama_server(real: Project, llama: LlamaServer) -> None:
    real.pytester.makepyfile(test_real=CHAT)
    recorded = real.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=4)
    files = real.snapshots()
    assert len(files) == 4
    for text in files.values():
        for call in json.loads(text)["calls"]:
            assert call["fingerprint"] == FINGERPRINT
            assert call["output"].strip()
            assert call["request"]["body"]["seed"] == 42

    live = real.run("--llm-mode=live")
    live.assert_outcomes(passed=4)
    live.stdout.fnmatch_lines(["*calls: 4 matched live*"])

    real.offline()
    replayed = real.run("-s")
    replayed.assert_outcomes(passed=4)
    replayed.stdout.fnmatch_lines(["*calls: 4 replayed*"])
    chat_line = next(x for x in recorded.stdout.lines if "CHAT:" in x).split("CHAT:", 1)[1]
    assert chat_line in replayed.stdout.str()
    assert real.snapshots() == files


def test_seeds_change_real_output(real: Project) -> None:
    real.pytester.makepyfile(test_real=CHAT)
    for seed in ("1", "2"):
        real.run("--llm-mode=record", f"--llm-seed={seed}", "-k", "test_chat").assert_outcomes(
            passed=1
        )
    outputs = [
        json.loads(text)["calls"][0]["output"] for _, text in sorted(real.snapshots().items())
    ]
    assert len(outputs) == 2
    assert outputs[0] != outputs[1]


def test_drift_against_a_snapshot_from_another_build(real: Project) -> None:
    real.pytester.makepyfile(test_real=CHAT)
    real.run("--llm-mode=record", "-k", "test_chat").assert_outcomes(passed=1)
    # The snapshot says an older llama.cpp build answered it: the live server's real
    # fingerprint (b11434-pypi-sdist) now differs, as after a provider's backend change.
    path = next(real.pytester.path.rglob("*.seeded.jsonc"))
    doc = json.loads(path.read_text())
    doc["calls"][0]["fingerprint"] = "b11000-older-build"
    path.write_text(json.dumps(doc, indent=2))
    result = real.run("--llm-mode=live", "-k", "test_chat", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [f"system_fingerprint changed 'b11000-older-build' -> '{FINGERPRINT}' in 1 test(s):"]
    )


def test_repeat_measures_a_real_model(real: Project) -> None:
    real.pytester.makepyfile(test_real=CHAT)
    real.run("--llm-mode=record", "-k", "chat or stream").assert_outcomes(passed=2)
    report = real.pytester.path / "report.json"
    result = real.run(
        "--llm-mode=live", "--llm-repeat=3", "-k", "chat or stream", f"--llm-report={report}"
    )
    result.assert_outcomes(passed=2)
    doc = json.loads(report.read_text())
    assert doc["determinism"]["responses"] == 6
    # llama.cpp with --no-cache-prompt on one slot answers a seeded request identically.
    assert doc["determinism"]["agreement"] == 1.0
    assert {c["fingerprint"] for c in doc["determinism"]["calls"]} == {FINGERPRINT}


EXAMPLE = Path(__file__).parents[1] / "example_project"


def test_the_example_project_live_is_skipped_when_the_served_model_changes(
    pytester: pytest.Pytester,
    llama: LlamaServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """llama.cpp's fingerprint is its build, whatever model file it serves; the served name
    (devtools/llama_server.py: the alias with the file's digest) is what shows a swap. The
    example project's snapshots, recorded against the package's model, pass live against it
    and are skipped, not passed or failed, against another model file."""
    for name in ("pyproject.toml", "support_bot", "tests"):
        source = EXAMPLE / name
        if source.is_dir():
            shutil.copytree(
                source, pytester.path / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(source, pytester.path / name)
    monkeypatch.setenv("OPENAI_API_KEY", "no-key-needed")
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", llama.url)
    args = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--llm-mode=live", "-rs")
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=8)
    # The same weights in a re-packaged file (one metadata letter changed): another model file.
    assert llama.model is None
    original = Path(llama_server.find_model() or "")
    swapped = tmp_path / "swapped.gguf"
    swapped.write_bytes(original.read_bytes().replace(b"HuggingFaceTB", b"HuggingFaceTC", 1))
    with LlamaServer(model=str(swapped)) as other:
        assert other.served_name != llama.served_name
        monkeypatch.setenv("OPENAI_BASE_URL", other.url)
        result = pytester.runpytest_subprocess(*args)
    # Every test that calls the model is skipped; the one that does not still passes.
    result.assert_outcomes(passed=1, skipped=7)
    result.stdout.fnmatch_lines(
        [f"model changed '{llama.served_name}' -> '{other.served_name}' in 7 test(s):"]
    )


RESPONSES = """
import os
import openai

def test_responses(seeded_calls):
    client = openai.OpenAI(base_url=os.environ["LLAMA_URL"], api_key="no-key-needed")
    r = client.responses.create(model="smollm2-135m", input="Write one sentence about the sea.",
                                max_output_tokens=24)
    assert r.output_text
"""

MESSAGES = """
import os
import anthropic

def test_messages(seeded_calls):
    client = anthropic.Anthropic(base_url=os.environ["LLAMA_URL"].removesuffix("/v1"),
                                 api_key="no-key-needed")
    r = client.messages.create(model="smollm2-135m", max_tokens=24,
                               messages=[{"role": "user", "content": "One sentence about the sea."}])
    assert r.content[0].text
"""


def test_the_responses_api_is_seeded_where_the_server_takes_a_seed(
    real: Project, llama: LlamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Responses API has no seed, but llama.cpp takes one there: llm_seed_hosts puts it
    in, and a live run of the same model passes (without it: 3 distinct answers of 3)."""
    monkeypatch.setenv("LLAMA_URL", llama.url)
    real.write_ini(f"llm_seed_hosts = 127.0.0.1:{llama.port}\n")
    real.pytester.makepyfile(test_real=RESPONSES)
    real.run("--llm-mode=record").assert_outcomes(passed=1)
    (call,) = [c for t in real.snapshots().values() for c in json.loads(t)["calls"]]
    assert call["request"]["body"]["seed"] == 42
    for _ in range(2):
        live = real.run("--llm-mode=live")
        live.assert_outcomes(passed=1)
        live.stdout.fnmatch_lines(["*calls: 1 matched live*"])


def test_anthropic_messages_unseeded_says_so_and_a_server_seed_holds(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama.cpp (build 11434) ignores a seed on /v1/messages, so no request field can seed
    it: a live failure says the call went unseeded and what fits; a server started with
    --seed answers the same each time, and the live run passes."""
    project.pytester.makepyfile(test_real=MESSAGES)
    with LlamaServer() as server:
        monkeypatch.setenv("LLAMA_URL", server.url)
        project.run("--llm-mode=record").assert_outcomes(passed=1)
        failed = project.run("--llm-mode=live")
        failed.assert_outcomes(failed=1)
        failed.stdout.fnmatch_lines(["*unseeded: its API takes no seed*", "*llm_seed_hosts*"])
    with LlamaServer(extra_args=("--seed", "7")) as server:
        monkeypatch.setenv("LLAMA_URL", server.url)
        project.run("--llm-mode=record").assert_outcomes(passed=1)
        for _ in range(2):
            project.run("--llm-mode=live").assert_outcomes(passed=1)


EMBED = """
def test_embed(seeded_llm):
    r = seeded_llm.embeddings.create(model="smollm2-135m", input=["the sea", "the sky"])
    assert len(r.data) == 2
"""


def test_embeddings_from_a_swapped_model_file_are_drift(
    project: Project, llama: LlamaServer, tmp_path: Path
) -> None:
    """llama.cpp's embeddings answers repeat the requested model name, whatever file it
    serves; its /v1/models names the file. A swapped file is drift, not a failure."""
    args = ("--embeddings", "--pooling", "mean")
    project.pytester.makepyfile(test_embed=EMBED)
    with LlamaServer(extra_args=args) as first:
        project.base_url = first.url
        project.write_ini()
        project.run("--llm-mode=record").assert_outcomes(passed=1)
        (call,) = json.loads(next(iter(project.snapshots().values())))["calls"]
        assert call["model"] == "smollm2-135m"
        assert call["fingerprint"].startswith(first.served_name)
        project.run("--llm-mode=live").assert_outcomes(passed=1)
    original = Path(llama_server.find_model() or "")
    swapped = tmp_path / "swapped.gguf"
    swapped.write_bytes(original.read_bytes().replace(b"HuggingFaceTB", b"HuggingFaceTC", 1))
    with LlamaServer(extra_args=args, model=str(swapped)) as other:
        project.base_url = other.url
        project.write_ini()
        result = project.run("--llm-mode=live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"served model changed '{first.served_name}*"])
