"""Every API shape compared for what it says: embeddings (cosine similarity), moderations
(flags), speech and images (bytes by digest), a handled 400, a model swap behind an unchanged
fingerprint, answers kept per identity, and server-made ids carried across turns. Each goes
record -> offline replay -> live unchanged passes -> live changed fails, against the loopback
server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Project


def _calls(project: Project) -> list[dict[str, Any]]:
    return [c for text in project.snapshots().values() for c in json.loads(text)["calls"]]


def _replays_offline(project: Project, tests: int) -> None:
    sent = len(project.server.state.requests)
    base_url = project.base_url
    project.offline()
    project.run().assert_outcomes(passed=tests)
    assert len(project.server.state.requests) == sent
    project.base_url = base_url
    project.write_ini()


EMBEDDINGS = """
def test_embed(seeded_llm):
    r = seeded_llm.embeddings.create(model="embed-x", input=["rain", "harbour"])
    assert len(r.data) == 2 and len(r.data[0].embedding) == 8

def test_embed_floats(seeded_llm):
    r = seeded_llm.embeddings.create(model="embed-x", input="gulls", encoding_format="float")
    assert len(r.data[0].embedding) == 8
"""


def test_embeddings_are_compared_by_cosine_similarity(project: Project) -> None:
    project.pytester.makepyfile(test_embed=EMBEDDINGS)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    calls = sorted(_calls(project), key=lambda c: c["output"])
    assert calls[0]["output"].startswith("vector 0: 8 dims [")
    assert "vector 1: 8 dims" in calls[1]["output"]
    assert calls[0]["model"] == "embed-x"
    _replays_offline(project, 2)
    # Rounding noise passes; the report says what was compared.
    project.server.state.embedding_noise = 1e-6
    result = project.run("--llm-mode=live")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*2 matched live*", "compared live, by API: embeddings 2"])
    # Another text's vectors fail, naming the measure and the threshold.
    project.server.state.salt = "a new embedding model"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*cosine similarity, llm_min_cosine 0.999, score *", "*below llm_min_cosine 0.999*"]
    )
    # A stricter or looser threshold comes from the ini file.
    project.write_ini("llm_min_cosine = -1\n")
    result = project.run("--llm-mode=live")
    result.stderr.fnmatch_lines(["*ini option llm_min_cosine takes a rate from 0 to 1*"])
    project.write_ini("llm_min_cosine = 0\n")
    project.server.state.salt = ""
    project.run("--llm-mode=live").assert_outcomes(passed=2)


def test_a_new_model_version_behind_the_same_name_is_drift(project: Project) -> None:
    project.pytester.makepyfile(test_embed=EMBEDDINGS)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    project.server.state.model_version = "-v2"
    result = project.run("--llm-mode=live", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["*model changed for call #1 of test_embed.py::test_embed*'embed-x'*'embed-x-v2'*"]
    )


CHAT = """
def test_chat(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "hello"}])
    with open("answer.txt", "w") as f:
        f.write(r.choices[0].message.content)
"""


def test_a_model_swap_under_the_same_fingerprint_skips_naming_the_model(project: Project) -> None:
    """llama.cpp's fingerprint is its build, whatever model file it serves: the answer's model
    is what shows the swap."""
    project.pytester.makepyfile(test_chat=CHAT)
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_seeded_fingerprint_changed(what, old, new):
            print(f"DRIFT {what}: {old} -> {new}")
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (call,) = _calls(project)
    assert (call["fingerprint"], call["model"]) == ("fp_loopback_1", "loop-1")
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    project.server.state.model_version = "-q8"
    project.server.state.salt = "other weights"
    result = project.run("--llm-mode=live", "-rs", "-s")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*DRIFT model: loop-1 -> loop-1-q8*",
            "model changed 'loop-1' -> 'loop-1-q8' in 1 test(s):",
            "*model changed for call #1 of test_chat.py::test_chat: recorded 'loop-1', "
            "live 'loop-1-q8'*",
        ]
    )


def test_answers_are_kept_per_fingerprint_and_each_compared_with_its_own(
    project: Project,
) -> None:
    """A provider serving one model from two backends: both answers stay in the snapshot, and a
    live run on either backend passes; replay answers with the one recorded last."""
    state = project.server.state
    project.pytester.makepyfile(test_chat=CHAT)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    first = _calls(project)[0]["output"]
    state.fingerprint, state.salt = "fp_loopback_2", "backend two"
    project.run("--llm-mode=live").assert_outcomes(skipped=1)
    result = project.run("--llm-mode=live", "--llm-on-drift=record")
    result.assert_outcomes(passed=1)
    (call,) = _calls(project)
    second = call["output"]
    assert second != first
    assert call["fingerprint"] == "fp_loopback_2"
    assert [(e["fingerprint"], e["output"]) for e in call["earlier"]] == [("fp_loopback_1", first)]
    # Each backend is compared with its own answer, and a changed answer under one still fails.
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    state.fingerprint, state.salt = "fp_loopback_1", ""
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    state.salt = "changed under fp 1"
    project.run("--llm-mode=live").assert_outcomes(failed=1)
    # Replay answers with the answer recorded last.
    project.offline()
    project.run().assert_outcomes(passed=1)
    assert (project.pytester.path / "answer.txt").read_text() == second
    # Re-recording under backend one keeps backend two's answer, and is byte-stable.
    project.base_url = project.server.url
    project.write_ini()
    state.salt = ""
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (call,) = _calls(project)
    assert call["fingerprint"] == "fp_loopback_1"
    assert [e["fingerprint"] for e in call["earlier"]] == ["fp_loopback_2"]
    before = project.snapshots()
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert project.snapshots() == before


FALLBACK = """
import openai

def test_fallback(seeded_llm):
    try:
        seeded_llm.chat.completions.create(
            model="loop-1", messages=[{"role": "user", "content": "reject me please"}])
    except openai.BadRequestError as exc:
        assert "content filter" in str(exc)
        r = seeded_llm.chat.completions.create(
            model="loop-1", messages=[{"role": "user", "content": "a polite request"}])
        assert r.choices[0].message.content
    else:
        raise AssertionError("the first request was accepted")
"""


def test_a_handled_400_is_recorded_replayed_and_compared(project: Project) -> None:
    project.pytester.makepyfile(test_fallback=FALLBACK)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    calls = _calls(project)
    assert [c["response"]["status"] for c in calls] == [400, 200]
    assert "content filter" in calls[0]["output"]
    _replays_offline(project, 1)
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    # The provider now accepts the request: the test's premise changed, and live says so.
    project.server.state.accept_all = True
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*call #1 of * was answered with HTTP 200; the snapshot holds HTTP 400*"]
    )


TRANSIENT = """
def test_retried(seeded_llm):
    r = seeded_llm.with_options(max_retries=2).chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content
"""


def test_transient_errors_are_never_recorded(project: Project) -> None:
    project.pytester.makepyfile(test_retried=TRANSIENT)
    project.server.state.fail_with = [429, 503]
    project.server.state.retry_after = "0"
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert [c["response"]["status"] for c in _calls(project)] == [200]


MODERATION_SPEECH_IMAGE = """
import hashlib

def test_moderation(seeded_llm):
    r = seeded_llm.moderations.create(model="omni-moderation", input="a lovely day of rain")
    assert r.results[0].flagged is False

def test_speech(seeded_llm):
    audio = seeded_llm.audio.speech.create(model="tts-x", voice="alloy", input="hello there")
    data = audio.content
    assert data.startswith(b"ID3\\xff\\xfb") and len(data) == 5 + 64 * 32
    with open("speech.sha", "w") as f:
        f.write(hashlib.sha256(data).hexdigest())

def test_image(seeded_llm):
    r = seeded_llm.images.generate(model="img-x", prompt="a harbour", response_format="b64_json")
    assert r.data[0].b64_json
"""


def test_moderations_speech_and_images_are_compared(project: Project) -> None:
    project.pytester.makepyfile(test_media=MODERATION_SPEECH_IMAGE)
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    recorded_sha = (project.pytester.path / "speech.sha").read_text()
    outputs = {c["request"]["path"]: c["output"] for c in _calls(project)}
    assert outputs["/v1/moderations"] == "result 0: flagged false"
    assert outputs["/v1/audio/speech"].startswith("<2053 bytes, sha256 ")
    assert '"b64_json": "<260 bytes, sha256 ' in outputs["/v1/images/generations"]
    assert '"created"' not in outputs["/v1/images/generations"]
    # Replay hands back the very bytes recorded.
    _replays_offline(project, 3)
    assert (project.pytester.path / "speech.sha").read_text() == recorded_sha
    # Scores and timestamps move on every call; what the answers say does not.
    result = project.run("--llm-mode=live")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["compared live, by API: moderations 1, openai 2"])
    # A flag that flipped, other audio, another image: each fails.
    project.server.state.salt = "strict"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*+result 0: flagged true; hate*"])


TOOL_LOOP = """
import json

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

def test_tool_loop(seeded_llm):
    messages = [{"role": "user", "content": "use the tool please"}]
    first = seeded_llm.chat.completions.create(model="loop-1", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"found": 3})},
    ]
    second = seeded_llm.chat.completions.create(model="loop-1", messages=messages)
    assert second.choices[0].message.content

def test_conversation(seeded_llm):
    first = seeded_llm.responses.create(model="resp-x", input="hello")
    second = seeded_llm.responses.create(
        model="resp-x", input="and then?", previous_response_id=first.id)
    assert second.output_text
"""


def test_ids_the_server_made_are_matched_across_turns_in_live_mode(project: Project) -> None:
    """A live server makes new tool call and response ids each run: a request that sends one
    back still matches its recording, and a conversation that changed still fails."""
    project.server.state.volatile = True
    project.pytester.makepyfile(test_turns=TOOL_LOOP)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    calls = _calls(project)
    tool_turn = next(c for c in calls if "tool_call_id" in json.dumps(c["request"]))
    assert tool_turn["request"]["body"]["messages"][-1]["tool_call_id"].startswith("call_")
    _replays_offline(project, 2)
    result = project.run("--llm-mode=live")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*4 matched live*"])
    project.server.state.salt = "another model"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*live output of call #1*differs from the snapshot*"])


@pytest.mark.parametrize("edit", ["model", "earlier"])
def test_a_bad_identity_in_a_snapshot_fails_only_its_test(project: Project, edit: str) -> None:
    project.pytester.makepyfile(test_chat=CHAT, test_other=CHAT.replace("test_chat", "test_ok"))
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    path = next(p for p in project.pytester.path.rglob("test_chat*.seeded.jsonc"))
    doc = json.loads(path.read_text())
    doc["calls"][0][edit] = 7
    path.write_text(json.dumps(doc))
    result = project.run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*calls[[]0[]].{edit}*"])


def test_a_file_from_before_the_model_was_stored_is_read_and_upgraded(project: Project) -> None:
    """Its identity is read from its stored response: live compares as before, and a re-record
    adds the model without keeping the old answer as another identity's."""
    project.pytester.makepyfile(test_chat=CHAT)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (path,) = project.pytester.path.rglob("*.seeded.jsonc")
    doc = json.loads(path.read_text())
    del doc["calls"][0]["model"]
    path.write_text(json.dumps(doc, indent=2))
    project.run("--llm-mode=live").assert_outcomes(passed=1)
    project.server.state.model_version = "-v2"
    project.run("--llm-mode=live").assert_outcomes(skipped=1)
    project.server.state.model_version = ""
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    (call,) = _calls(project)
    assert call["model"] == "loop-1"
    assert "earlier" not in call


RESPONSES = """
def test_respond(seeded_llm):
    assert seeded_llm.responses.create(model="resp-x", input="hello there").output_text
"""


def test_repeat_measures_the_agreement_of_responses_answers(project: Project) -> None:
    """The Responses API has no seed and no fingerprint: its agreement is measured on what its
    answers say (not on an empty output that always agrees)."""
    project.pytester.makepyfile(test_respond=RESPONSES)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.server.state.completions = 1
    project.server.state.vary_every = 4
    result = project.run("--llm-mode=live", "--llm-repeat=4")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*call #1 served by 'resp-x-2026-11-01' (unseeded: its API takes no seed): 2 distinct of 4, agreement 75%*"
        ]
    )


def test_repeated_embeddings_agree_within_the_cosine_tolerance(project: Project) -> None:
    """Embeddings that differ by rounding agree under --llm-repeat, as a live comparison would
    judge them; with no tolerance left, the same answers count as distinct."""
    project.pytester.makepyfile(test_embed=EMBEDDINGS)
    project.run("--llm-mode=record", "-k", "floats").assert_outcomes(passed=1)
    project.server.state.embedding_noise = 1e-6
    result = project.run("--llm-mode=live", "--llm-repeat=3", "-k", "floats")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*call #1 served by 'embed-x': 1 distinct of 3, agreement 100%"])
    project.write_ini("llm_min_cosine = 1\n")
    result = project.run("--llm-mode=live", "--llm-repeat=3", "-k", "floats")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*call #1 served by 'embed-x': 3 distinct of 3*"])
