"""Record against the loopback server, then replay offline: every call shape, seeds, errors."""

from __future__ import annotations

import json
from typing import Any

from conftest import Project

HAIKU_TEST = """
def test_haiku(seeded_llm):
    r = seeded_llm.chat.completions.create(
        model="loop-1", messages=[{"role": "user", "content": "a haiku about rain"}]
    )
    assert r.choices[0].message.content
    print("OUTPUT:" + r.choices[0].message.content)
"""


def _printed(result: object, tag: str) -> str:
    """What a test printed after ``tag`` (with -s it shares a line with the file name)."""
    lines = result.stdout.lines  # type: ignore[attr-defined]
    return str(next(x for x in lines if tag in x).split(tag, 1)[1])


def _only(project: Project) -> dict[str, Any]:
    files = project.snapshots()
    assert len(files) == 1, files
    doc: dict[str, Any] = json.loads(next(iter(files.values())))
    return doc


def test_record_writes_one_file_per_test_and_seed(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    result = project.run("--llm-mode=record", "-s")
    result.assert_outcomes(passed=1)
    files = project.snapshots()
    assert list(files) == ["__llm_snapshots__/test_haiku/test_haiku[seed=42].seeded.jsonc"]
    doc = _only(project)
    assert doc["schema_version"] == 1
    assert doc["seed"] == 42
    (call,) = doc["calls"]
    assert call["request"]["path"] == "/v1/chat/completions"
    assert call["request"]["body"]["seed"] == 42
    assert call["fingerprint"] == "fp_loopback_1"
    assert call["output"]
    assert call["output"] in result.stdout.str()
    assert call["response"]["body"]["choices"][0]["message"]["content"] == call["output"]
    assert project.server.seeds_received() == [42]
    result.stdout.fnmatch_lines(["*pytest-seeded*", "*1 recorded*"])


def test_replay_answers_offline_with_the_recorded_text(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    recorded = project.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=1)
    output = _only(project)["calls"][0]["output"]
    project.server.state.requests.clear()
    project.offline()
    replayed = project.run("-s")
    replayed.assert_outcomes(passed=1)
    assert _printed(replayed, "OUTPUT:") == output
    replayed.stdout.fnmatch_lines(["*1 replayed*"])
    assert project.server.state.requests == []


def test_replay_is_the_default_and_needs_no_api_key(project: Project) -> None:
    project.pytester.makepyfile(
        test_app="""
        import os
        from openai import OpenAI

        def summarise(text):
            client = OpenAI()  # the app builds its own client, deep inside
            r = client.chat.completions.create(
                model="loop-1", messages=[{"role": "user", "content": text}]
            )
            return r.choices[0].message.content

        def test_app(seeded_calls):
            print("KEY:" + repr(os.environ.get("OPENAI_API_KEY")))
            assert summarise("ticket 17: printer on fire")
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert project.server.seeds_received() == [42]
    project.offline()
    result = project.run("-s")
    result.assert_outcomes(passed=1)
    assert _printed(result, "KEY:") == "'pytest-seeded-no-key'"
    result.stdout.fnmatch_lines(["*mode replay (default)*"])


def test_every_call_shape_is_seeded_recorded_and_replayed(project: Project) -> None:
    project.pytester.makepyfile(
        test_shapes="""
        from pydantic import BaseModel

        class Answer(BaseModel):
            text: str

        MSG = [{"role": "user", "content": "shapes"}]

        def test_shapes(seeded_llm):
            out = []
            r = seeded_llm.chat.completions.create(model="m", messages=MSG)
            out.append(r.choices[0].message.content)
            s = seeded_llm.chat.completions.create(model="m", messages=MSG, stream=True,
                                                   stream_options={"include_usage": True})
            out.append("".join(c.choices[0].delta.content or "" for c in s if c.choices))
            with seeded_llm.chat.completions.stream(model="m", messages=MSG) as st:
                out.append(st.get_final_completion().choices[0].message.content)
            copy = seeded_llm.with_options(timeout=5)
            out.append(copy.chat.completions.create(model="m", messages=MSG).choices[0].message.content)
            parsed = seeded_llm.chat.completions.parse(model="m", messages=MSG, response_format=Answer)
            out.append(parsed.choices[0].message.parsed.text)
            legacy = seeded_llm.completions.create(model="m", prompt="legacy")
            out.append(legacy.choices[0].text)
            ls = seeded_llm.completions.create(model="m", prompt="legacy", stream=True)
            out.append("".join(c.choices[0].text for c in ls))
            assert all(out)
            print("OUTS:" + "|".join(out))
        """
    )
    recorded = project.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=1)
    assert project.server.seeds_received() == [42] * 7
    line = _printed(recorded, "OUTS:")
    doc = _only(project)
    assert len(doc["calls"]) == 7
    streamed = doc["calls"][1]
    assert streamed["response"]["content_type"] == "text/event-stream"
    assert streamed["response"]["events"][-1] == {"data": "[DONE]"}
    project.offline()
    replayed = project.run("-s")
    replayed.assert_outcomes(passed=1)
    assert _printed(replayed, "OUTS:") == line
    replayed.stdout.fnmatch_lines(["*7 replayed*"])


def test_async_client_and_app_async_client(project: Project) -> None:
    project.pytester.makepyfile(
        test_async="""
        import pytest
        from openai import AsyncOpenAI

        @pytest.mark.asyncio
        async def test_async(seeded_async_llm):
            r = await seeded_async_llm.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "async"}])
            s = await seeded_async_llm.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "async stream"}], stream=True)
            parts = [c.choices[0].delta.content or "" async for c in s]
            app = AsyncOpenAI()
            a = await app.completions.create(model="m", prompt="async app")
            await app.close()
            print("OUTS:" + r.choices[0].message.content + "|" + "".join(parts) + "|" + a.choices[0].text)
        """
    )
    recorded = project.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=1)
    assert project.server.seeds_received() == [42, 42, 42]
    line = _printed(recorded, "OUTS:")
    project.offline()
    replayed = project.run("-s")
    replayed.assert_outcomes(passed=1)
    assert _printed(replayed, "OUTS:") == line
    replayed.stdout.fnmatch_lines(["*3 replayed*"])


def test_async_tests_that_call_out_share_one_ssl_context(project: Project) -> None:
    # An SSL context costs about 17 ms to build (it reads the CA store). The async fixture needs
    # a new transport per test, its pool being tied to the test's event loop, but not a new
    # context. The project's conftest counts every context made once it is loaded.
    project.pytester.makeconftest(
        """
        import ssl

        made = []
        new = ssl.SSLContext.__new__

        def counted(cls, *args, **kwargs):
            made.append(1)
            return new(cls, *args, **kwargs)

        # openai imports aiohttp where it is installed, which builds two contexts at import:
        # import it first, and count only what is made after.
        import openai

        ssl.SSLContext.__new__ = staticmethod(counted)

        def pytest_sessionfinish(session):
            print(f"\\nSSL_CONTEXTS:{len(made)}")
        """
    )
    project.pytester.makepyfile(
        test_async="""
        import pytest

        @pytest.mark.parametrize("n", range(3))
        @pytest.mark.asyncio
        async def test_call(seeded_async_llm, seeded_llm, n):
            r = await seeded_async_llm.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"async {n}"}])
            s = seeded_llm.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"sync {n}"}])
            assert r.choices[0].message.content and s.choices[0].message.content
        """
    )
    # In a subprocess: the conftest replaces ssl.SSLContext for the whole interpreter.
    result = project.run_subprocess("--llm-mode=record", "-s")
    result.assert_outcomes(passed=3)
    assert project.server.seeds_received() == [42] * 6
    assert _printed(result, "SSL_CONTEXTS:") == "1"


def test_seed_precedence_marker_cli_ini_default(project: Project) -> None:
    project.pytester.makepyfile(
        test_seeds="""
        import pytest
        MSG = [{"role": "user", "content": "seed"}]

        def test_default(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=MSG)

        @pytest.mark.llm(seed=7)
        def test_marker(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=MSG)

        def test_explicit(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=MSG, seed=99)

        def test_extra_body(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=MSG, extra_body={"seed": 5})
        """
    )
    project.run("--llm-mode=record", "-p", "no:randomly").assert_outcomes(passed=4)
    assert project.server.seeds_received() == [42, 7, 99, 5]
    names = sorted(project.snapshots())
    assert "__llm_snapshots__/test_seeds/test_marker[seed=7].seeded.jsonc" in names
    assert "__llm_snapshots__/test_seeds/test_default[seed=42].seeded.jsonc" in names

    project.server.state.requests.clear()
    project.run("--llm-mode=record", "--llm-seed=3", "-k", "default").assert_outcomes(passed=1)
    assert project.server.seeds_received() == [3]

    project.server.state.requests.clear()
    project.write_ini("llm_seed = 11\n")
    result = project.run("--llm-mode=record", "-k", "default or marker")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*seed 11 (ini llm_seed)*"])
    assert sorted(project.server.seeds_received()) == [7, 11]


def test_a_different_seed_gives_other_output_and_another_file(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.run("--llm-mode=record", "--llm-seed=1").assert_outcomes(passed=1)
    project.run("--llm-mode=record", "--llm-seed=2").assert_outcomes(passed=1)
    files = project.snapshots()
    outputs = {name: json.loads(text)["calls"][0]["output"] for name, text in files.items()}
    assert set(outputs) == {
        "__llm_snapshots__/test_haiku/test_haiku[seed=1].seeded.jsonc",
        "__llm_snapshots__/test_haiku/test_haiku[seed=2].seeded.jsonc",
    }
    assert len(set(outputs.values())) == 2


def test_missing_snapshot_names_test_seed_and_command(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.offline()
    result = project.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "no snapshot for test_haiku.py::test_haiku with seed 42." in out
    assert "Expected: __llm_snapshots__/test_haiku/test_haiku[seed=42].seeded.jsonc" in out
    assert "Record it with: pytest test_haiku.py::test_haiku --llm-mode=record" in out
    assert "calls: 1 missing from snapshots" in out
    assert project.snapshots() == {}


def test_changed_prompt_fails_with_a_request_diff(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    before = project.snapshots()
    project.pytester.makepyfile(test_haiku=HAIKU_TEST.replace("about rain", "about snow"))
    project.offline()
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a request of test_haiku.py::test_haiku does not match its snapshot*",
            "*--- recorded request*",
            '*-      "content": "a haiku about rain",*',
            '*+      "content": "a haiku about snow",*',
            "*Re-record it with*",
        ]
    )
    assert project.snapshots() == before


def test_changed_seed_or_model_does_not_silently_replay(project: Project) -> None:
    project.pytester.makepyfile(
        test_haiku=HAIKU_TEST.replace(
            "def test_haiku", "import pytest\n@pytest.mark.llm(seed=1)\ndef test_haiku"
        )
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    name = "__llm_snapshots__/test_haiku/test_haiku[seed=1].seeded.jsonc"
    path = project.pytester.path / name
    doc = json.loads(path.read_text())
    doc["calls"][0]["request"]["body"]["model"] = "other-model"
    path.write_text(json.dumps(doc))
    project.offline()
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*-  "model": "other-model",*', '*+  "model": "loop-1",*'])


def test_more_calls_than_recorded_fails(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    project.pytester.makepyfile(
        test_haiku=HAIKU_TEST
        + "    seeded_llm.chat.completions.create(model='loop-1', messages=[])\n"
    )
    project.offline()
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*made more calls than its snapshot holds (1 recorded*"])


def test_snapshot_update_alone_records(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    result = project.run("--snapshot-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*mode record (--snapshot-update)*", "*1 recorded*"])
    assert len(project.snapshots()) == 1


def test_a_failing_test_writes_nothing_and_keeps_the_old_file(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    before = project.snapshots()
    project.server.state.salt = "new answers"
    project.pytester.makepyfile(test_haiku=HAIKU_TEST + "    assert False, 'app bug'\n")
    for flag in ("--llm-mode=record", "--snapshot-update"):
        result = project.run(flag)
        result.assert_outcomes(failed=1)
        assert project.snapshots() == before, flag


def test_recording_again_with_the_same_answers_leaves_the_file_untouched(project: Project) -> None:
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    path = next(project.pytester.path.rglob("*.seeded.jsonc"))
    stamp = path.stat().st_mtime_ns
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert path.stat().st_mtime_ns == stamp
    project.server.state.salt = "other"
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert path.stat().st_mtime_ns != stamp


def test_unused_snapshots_are_removed_by_snapshot_update_only(project: Project) -> None:
    project.pytester.makepyfile(
        test_haiku=HAIKU_TEST + HAIKU_TEST.replace("test_haiku", "test_two")
    )
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    assert len(project.snapshots()) == 2
    project.pytester.makepyfile(test_haiku=HAIKU_TEST)
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert len(project.snapshots()) == 2
    project.run("--snapshot-update").assert_outcomes(passed=1)
    assert list(project.snapshots()) == [
        "__llm_snapshots__/test_haiku/test_haiku[seed=42].seeded.jsonc"
    ]


def test_replay_keeps_snapshots_of_parametrized_and_class_tests(project: Project) -> None:
    project.pytester.makepyfile(
        test_param="""
        import pytest

        @pytest.mark.parametrize("topic", ["rain", "sun"])
        def test_topic(seeded_llm, topic):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": topic}])

        class TestGroup:
            def test_in_class(self, seeded_llm):
                seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "c"}])
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    names = sorted(project.snapshots())
    assert names == [
        "__llm_snapshots__/test_param/TestGroup.test_in_class[seed=42].seeded.jsonc",
        "__llm_snapshots__/test_param/test_topic[rain][seed=42].seeded.jsonc",
        "__llm_snapshots__/test_param/test_topic[sun][seed=42].seeded.jsonc",
    ]
    project.offline()
    project.run().assert_outcomes(passed=3)
    project.run("--snapshot-update", "--llm-mode=record").assert_outcomes(failed=3)
    assert sorted(project.snapshots()) == names


def test_a_fixture_that_fails_to_set_up_leaves_no_interception_behind(project: Project) -> None:
    # The client cannot be built (a base URL that does not parse), so seeded_llm errors in its
    # setup, which pytest never tears down. The next test's own client must reach the server,
    # not a replay left running for the test before it.
    url = project.server.url
    project.base_url = "http://[::1"
    project.write_ini()
    project.pytester.makepyfile(
        f"""
        from openai import OpenAI

        def test_bad(seeded_llm):
            pass

        def test_after():
            client = OpenAI(api_key="x", base_url={url!r})
            r = client.chat.completions.create(
                model="m", messages=[{{"role": "user", "content": "hi"}}])
            assert r.choices[0].message.content
        """
    )
    result = project.run("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*InvalidURL: Invalid port*"])
    assert project.snapshots() == {}
