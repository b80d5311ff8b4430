"""One exact exchange under every client (issue 21): whatever library sends a request, from
whichever thread or fixture, the code gets in replay the status, redirect chain and bytes it got
when it was recorded, a changed request never matches another's recording, and a stream the code
closes early ends there. Each test was written against the old vcrpy-based path and failed there;
each runs on more than one client library, because the reproductions are examples, not the list.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import Project

# The libraries warn about their own dependencies at import; not what these tests are about.
QUIET = "    ignore::DeprecationWarning\n"

# How each client fetches a URL, as a function `fetch(url) -> (status, final_url, body bytes)`
# the test module defines; aiohttp's runs its own event loop.
FETCH = {
    "requests": """
import requests
def fetch(url):
    r = requests.get(url, timeout=5)
    return r.status_code, r.url, r.content, [h.status_code for h in r.history]
""",
    "urllib3": """
import urllib3
def fetch(url):
    r = urllib3.PoolManager().request("GET", url, timeout=5)
    return r.status, r.geturl() or url, r.data, [len(r.retries.history)] if r.retries else []
""",
    "urllib": """
import urllib.request
def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.url, r.read(), []
""",
    "aiohttp": """
import asyncio, aiohttp
def fetch(url):
    async def main():
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return r.status, str(r.url), await r.read(), [h.status for h in r.history]
    return asyncio.run(main())
""",
    "httpx": """
import httpx
def fetch(url):
    r = httpx.get(url, follow_redirects=True, timeout=5)
    return r.status_code, str(r.url), r.content, [h.status_code for h in r.history]
""",
}
CLIENTS = sorted(FETCH)


def _fetch_test(client: str, paths: list[str]) -> str:
    """A test module that fetches each path with the client and writes what it got."""
    return (
        "import json, os\n"
        + FETCH[client]
        + f"""
ROOT = os.environ["TOOL_ROOT"]
def test_fetch(seeded_calls):
    seen = []
    for path in {paths!r}:
        status, url, body, history = fetch(ROOT + path)
        seen.append([status, url.replace(ROOT, ""), body.hex(), history])
    with open("seen.jsonl", "a") as out:
        out.write(json.dumps(seen) + "\\n")
"""
    )


def _tool_project(project: Project, monkeypatch: pytest.MonkeyPatch, **files: str) -> None:
    """A project whose tests reach the loopback server's tool endpoints at TOOL_ROOT."""
    monkeypatch.setenv("TOOL_ROOT", project.base_url.removesuffix("/v1"))
    project.write_ini(QUIET)
    project.pytester.makepyfile(**files)


def _round_trip(
    project: Project, monkeypatch: pytest.MonkeyPatch, source: str, tests: int = 1
) -> list[Any]:
    """Record, then replay offline: both pass, the server is not asked in replay, and the code
    saw the same things both times. Returns what it saw."""
    _tool_project(project, monkeypatch, test_wire=source)
    project.run("--llm-mode=record").assert_outcomes(passed=tests)
    sent = len(project.server.state.requests)
    project.offline()
    project.run().assert_outcomes(passed=tests)
    assert len(project.server.state.requests) == sent, "replay reached the server"
    recorded, replayed = (project.pytester.path / "seen.jsonl").read_text().splitlines()
    assert json.loads(replayed) == json.loads(recorded)
    seen: list[Any] = json.loads(recorded)
    return seen


@pytest.mark.parametrize("client", CLIENTS)
def test_an_encoded_answer_is_decoded_once_and_replayed(
    project: Project, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    # redteam 01: gzip and deflate answers (sent whatever the client asked for) were decoded a
    # second time on requests and aiohttp: zlib.error.
    seen = _round_trip(project, monkeypatch, _fetch_test(client, ["/gzip?q=a", "/deflate?q=b"]))
    assert [json.loads(bytes.fromhex(body)) for _, _, body, _ in seen] == [
        {"gzip": True, "q": "a"},
        {"deflate": True, "q": "b"},
    ]
    # Stored decoded, readable, with no encoding left to apply.
    (text,) = project.snapshots().values()
    assert '"gzip": true' in text
    assert "content-encoding" not in text.lower()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_followed_redirect_replays_its_chain(
    project: Project, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    # redteam 03: a 302 was stored without its Location, so replay stopped at the bare 302.
    seen = _round_trip(project, monkeypatch, _fetch_test(client, ["/redirect"]))
    ((status, url, body, _),) = seen
    assert (status, bytes.fromhex(body)) == (200, b"redirected")
    assert url.startswith("/raw?"), url
    (text,) = project.snapshots().values()
    hops = [unquote(c["request"]["url"].split("/", 3)[3]) for c in json.loads(text)["calls"]]
    assert hops == ["redirect", "raw?b=redirected&ct=text/plain"]


BODIES = [
    ("application/json", '"ok"'),
    ("text/plain", '"hello"'),
    ("text/csv", "1.50"),
    ("text/plain", '{"base64": "aGVsbG8="}'),
    ("application/json", '{"a":1,"b":[1.0,2]}'),
    ("application/json", '{\n  "é": "ü"\n}\n'),
    ("application/json", "[1, 2]   "),
]


@pytest.mark.parametrize("client", ["requests", "aiohttp", "urllib", "httpx"])
def test_a_body_replays_as_the_bytes_recorded(
    project: Project, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    # redteam 04: answers were stored parsed and written back re-serialised.
    from urllib.parse import quote

    paths = [f"/raw?ct={quote(ct)}&b={quote(body)}" for ct, body in BODIES] + ["/bytes"]
    seen = _round_trip(project, monkeypatch, _fetch_test(client, paths))
    got = [bytes.fromhex(body) for _, _, body, _ in seen]
    assert got == [body.encode() for _, body in BODIES] + [bytes(range(256))]


@pytest.mark.parametrize("client", ["requests", "aiohttp", "httpx"])
def test_a_tools_event_stream_keeps_every_field(
    project: Project, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    # redteam 04: a tool's SSE lost its id:, retry: and comment lines, and 1.10 became 1.1.
    seen = _round_trip(project, monkeypatch, _fetch_test(client, ["/sseid"]))
    text = bytes.fromhex(seen[0][2]).decode()
    for line in (": hello", "id: 7", "retry: 100", "data: 1.10", "id: 8", 'data: {"a":1}'):
        assert line in text.splitlines(), text


AIOHTTP_POSTS = """
import asyncio, json, os
import aiohttp
ROOT = os.environ["TOOL_ROOT"]

async def post(**kw):
    async with aiohttp.ClientSession() as s, s.post(ROOT + "/echo", **kw) as r:
        return (await r.json())["body"]

def test_posts(seeded_calls):
    form = aiohttp.FormData()
    form.add_field("doc", b"file bytes", filename="a.txt")
    seen = [
        asyncio.run(post(json={"q": "weather"})),
        asyncio.run(post(data={"q": "weather", "n": "2"})),
        asyncio.run(post(data=[("ids", "1"), ("ids", "2")])),
        asyncio.run(post(data=form)).count("file bytes"),
    ]
    with open("seen.jsonl", "a") as out:
        out.write(json.dumps(seen) + "\\n")
"""


def test_aiohttp_json_form_and_multipart_posts_are_recorded(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redteam 05: aiohttp's json= and data= reached the plugin as a dict or FormData: TypeError.
    seen = _round_trip(project, monkeypatch, AIOHTTP_POSTS)
    assert seen[:3] == ['{"q": "weather"}', "q=weather&n=2", "ids=1&ids=2"]
    assert seen[3] == 1
    (text,) = project.snapshots().values()
    bodies = [c["request"]["body"] for c in json.loads(text)["calls"]]
    assert bodies[2] == {"form": {"ids": ["1", "2"]}}


THREADS = """
import json, os, threading
from concurrent.futures import ThreadPoolExecutor
import requests, urllib3
ROOT = os.environ["TOOL_ROOT"]
POOL = urllib3.PoolManager(maxsize=16)

def by_requests(n):
    return requests.get(f"{ROOT}/raw?b=r{n}", timeout=5).text

def by_urllib3(n):
    return POOL.request("GET", f"{ROOT}/raw?b=u{n}").data.decode()

def test_threads(seeded_calls):
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(by_requests, range(80)))
    found = []
    threads = [threading.Thread(target=lambda n=n: found.append(by_urllib3(n))) for n in range(80)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert got == [f"r{n}" for n in range(80)]
    assert sorted(found) == sorted(f"u{n}" for n in range(80))
    with open("seen.jsonl", "a") as out:
        out.write(json.dumps(sorted(got + found)) + "\\n")
"""


def test_sixteen_threads_record_every_request_and_replay_in_any_order(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redteam 06: vcrpy un-patched process-wide while another thread connected: requests went
    # unrecorded, and replay failed at random.
    _round_trip(project, monkeypatch, THREADS)
    (text,) = project.snapshots().values()
    assert len(json.loads(text)["calls"]) == 160
    for _ in range(2):  # another order each time
        project.run().assert_outcomes(passed=1)


CHANGED = """
import os
import aiohttp, asyncio, requests, urllib3
ROOT = os.environ["TOOL_ROOT"]
NEW = os.environ.get("CHANGED") == "1"

def test_form_repeated_field(seeded_calls):
    assert requests.post(ROOT + "/echo", data={"ids": ["999", "2"] if NEW else ["1", "2"]}).ok

def test_multipart_two_files_one_field(seeded_calls):
    first = b"first CHANGED" if NEW else b"first v1"
    files = [("docs", ("a.txt", first)), ("docs", ("b.txt", b"second"))]
    assert requests.post(ROOT + "/echo", files=files).ok

def test_binary_body(seeded_calls):
    body = b"\\xfe\\x01payload" if NEW else b"\\xff\\x01payload"
    headers = {"content-type": "application/octet-stream"}
    assert urllib3.PoolManager().request("PUT", ROOT + "/echo", body=body, headers=headers).status == 200

def test_json_true_vs_1(seeded_calls):
    assert requests.post(ROOT + "/echo", json={"dry_run": True if NEW else 1}).ok

def test_aiohttp_repeated_field(seeded_calls):
    async def main():
        data = [("ids", "9"), ("ids", "2")] if NEW else [("ids", "1"), ("ids", "2")]
        async with aiohttp.ClientSession() as s, s.post(ROOT + "/echo", data=data) as r:
            return r.status
    assert asyncio.run(main()) == 200
"""


def test_a_changed_request_never_replays_the_old_answer(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redteam 16: a repeated field kept its last value, two files under one field became one, a
    # binary body was stored with U+FFFD, and JSON true matched 1.
    _tool_project(project, monkeypatch, test_changed=CHANGED)
    project.run("--llm-mode=record").assert_outcomes(passed=5)
    project.run().assert_outcomes(passed=5)
    monkeypatch.setenv("CHANGED", "1")
    result = project.run()
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*does not hold: POST http://*/echo*"])


STREAMS = """
import asyncio, os
import aiohttp, httpx, requests
ROOT = os.environ["TOOL_ROOT"]

def test_httpx(seeded_calls):
    with httpx.stream("GET", ROOT + "/forever", timeout=5) as r:
        lines = []
        for line in r.iter_lines():
            if line:
                lines.append(line)
            if len(lines) == 3:
                break
    assert lines == ["data: tick0", "data: tick1", "data: tick2"]

def test_requests(seeded_calls):
    with requests.get(ROOT + "/forever", stream=True, timeout=5) as r:
        assert next(r.iter_lines()) == b"data: tick0"

def test_aiohttp(seeded_calls):
    async def main():
        async with aiohttp.ClientSession() as s, s.get(ROOT + "/forever") as r:
            return await r.content.readline()
    assert asyncio.run(main()) == b"data: tick0\\n"

def test_left_open(seeded_calls):
    r = requests.get(ROOT + "/forever", stream=True, timeout=5)
    assert next(r.iter_lines()) == b"data: tick0"
"""


def test_a_stream_closed_early_ends_where_the_code_stopped(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redteam 17: the tee read the rest of an endless stream on close, and vcrpy read it whole
    # first: record and live runs hung forever.
    _tool_project(project, monkeypatch, test_streams=STREAMS)
    project.run_subprocess("--llm-mode=record", timeout=120).assert_outcomes(passed=4)
    for text in project.snapshots().values():
        (call,) = json.loads(text)["calls"]
        assert call["response"]["cut_by_client"] is True
        # As far as the client library read ahead (urllib3 before 2.3 reads 1 KB at a time).
        assert len(call["response"]["events"]) < 200
    sent = len(project.server.state.requests)
    project.offline()
    project.run_subprocess(timeout=120).assert_outcomes(passed=4)
    assert len(project.server.state.requests) == sent


LLM_BY_HAND = """
import asyncio, json, os
import aiohttp, requests
BASE = os.environ["OPENAI_BASE_URL"]
BODY = {"model": "m", "messages": [{"role": "user", "content": "by hand"}]}

def test_requests(seeded_calls):
    r = requests.post(BASE + "/chat/completions", json=BODY, timeout=5)
    assert r.json()["choices"][0]["message"]["content"]

def test_aiohttp(seeded_calls):
    async def main():
        async with aiohttp.ClientSession() as s, s.post(BASE + "/chat/completions", json=BODY) as r:
            return await r.json()
    assert asyncio.run(main())["choices"][0]["message"]["content"]
"""


def test_an_llm_call_by_hand_is_seeded_replayed_and_compared(project: Project) -> None:
    # redteam 02/22: an LLM call made with requests or aiohttp was recorded unseeded and never
    # replayed; a test with no snapshot yet was told to move to httpx.
    project.write_ini(QUIET)
    project.pytester.makepyfile(test_by_hand=LLM_BY_HAND)
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    assert project.server.seeds_received() == [42, 42]
    sent = len(project.server.state.requests)
    project.offline()
    project.run().assert_outcomes(passed=2)
    assert len(project.server.state.requests) == sent
    project.base_url = project.server.url
    project.write_ini()
    project.server.state.salt = "a new model"
    result = project.run("--llm-mode=live")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*live output of call #1*differs from the snapshot*"])


WINDOW = """
import os, threading, time
import pytest, requests
ROOT = os.environ["TOOL_ROOT"]

# A library's background thread, started at import (litellm fetches its price list so).
GO, DONE = threading.Event(), threading.Event()
def price_list():
    GO.wait()
    try:
        requests.get(ROOT + "/raw?b=prices", timeout=5)
        outcome = "sent"
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(exc)
    with open("prices.txt", "w") as out:
        out.write(outcome)
    DONE.set()
threading.Thread(target=price_list, name="price-list", daemon=True).start()

def test_import_thread(seeded_calls):
    GO.set()
    assert DONE.wait(10)

@pytest.fixture
def config_data():                      # set up before seeded_calls: listed first
    return requests.get(ROOT + "/raw?b=fixture", timeout=5).text

@pytest.fixture(autouse=True)
def warm_cache(request):
    if "seeded_calls" in request.fixturenames:
        requests.get(ROOT + "/raw?b=autouse", timeout=5)
    yield
    if "seeded_calls" in request.fixturenames:
        requests.get(ROOT + "/raw?b=teardown", timeout=5)

def test_fixture_first(config_data, seeded_calls):
    assert config_data == "fixture"

def test_background_sender(seeded_calls):
    def late():
        time.sleep(0.5)
        try:
            requests.get(ROOT + "/raw?b=late", timeout=5)
        except Exception as exc:
            with open("late.txt", "w") as out:
                out.write(type(exc).__name__ + ": " + str(exc))
    threading.Thread(target=late, daemon=True).start()

def test_zz_later():
    time.sleep(1.5)
"""


def test_the_whole_test_item_is_the_window(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redteam 08: HTTP of a fixture set up before the plugin's, of an autouse fixture, and of a
    # thread that outlived its test was neither recorded nor refused: replay reached the network.
    _tool_project(project, monkeypatch, test_window=WINDOW)
    result = project.run("--llm-mode=record", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    assert (project.pytester.path / "prices.txt").read_text() == "sent"
    result.stdout.fnmatch_lines(["*GET http://*/raw: the thread 'price-list', which no test*"])
    # The late thread's request went out in record, but no test's snapshot holds it.
    result.stdout.fnmatch_lines(["*GET http://*/raw: a thread or task started by*(not recorded)*"])
    snapshots = project.snapshots()
    first = next(t for name, t in snapshots.items() if "fixture_first" in name)
    urls = [c["request"]["url"].rsplit("=", 1)[1] for c in json.loads(first)["calls"]]
    assert urls == ["autouse", "fixture", "teardown"]
    sent = len(project.server.state.requests)
    project.offline()
    project.run("-p", "no:randomly").assert_outcomes(passed=4)
    assert len(project.server.state.requests) == sent, "replay reached the server"
    for name in ("late.txt", "prices.txt"):
        refused = (project.pytester.path / name).read_text()
        assert "outside any test's window" in refused, refused
    imported = next(t for name, t in snapshots.items() if "import_thread" in name)
    urls = [c["request"]["url"].rsplit("=", 1)[1] for c in json.loads(imported)["calls"]]
    assert urls == ["autouse", "teardown"]


TELEMETRY = """
import asyncio, os, urllib.request
import aiohttp, requests
ROOT = os.environ["TOOL_ROOT"]
URL = ROOT + "/v1/traces/ingest"

def test_requests(seeded_calls):
    requests.post(URL, json={"spans": [1]}, timeout=5)

def test_urllib(seeded_calls):
    req = urllib.request.Request(URL, data=b'{"spans": [1]}', method="POST")
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except urllib.error.HTTPError:
        pass  # the loopback server does not know the path; what matters is where it went

def test_aiohttp(seeded_calls):
    async def main():
        async with aiohttp.ClientSession() as s, s.post(URL, json={"spans": [1]}) as r:
            await r.read()
    asyncio.run(main())
"""


def test_telemetry_through_any_client_is_never_recorded(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redteam 23: telemetry sent through requests was recorded, then failed every replay; the
    # in-process answer replay gives it must reach each client as a body it can read.
    monkeypatch.setenv("TOOL_ROOT", project.base_url.removesuffix("/v1"))
    # Nothing but telemetry: the plugin says so (NoCallWarning), which is not what is tested.
    project.write_ini(QUIET + "    ignore::pytest_seeded.NoCallWarning\n")
    project.pytester.makepyfile(test_telemetry=TELEMETRY)
    project.run("--llm-mode=record").assert_outcomes(passed=3)
    for text in project.snapshots().values():
        assert json.loads(text)["calls"] == []
    sent = len(project.server.state.requests)
    project.offline()
    project.run().assert_outcomes(passed=3)
    assert len(project.server.state.requests) == sent


SESSION_FIXTURE = """
import os
import pytest, requests
ROOT = os.environ["TOOL_ROOT"]

@pytest.fixture(scope="session")
def settings():
    return requests.get(ROOT + "/raw?b=settings", timeout=5).text

def test_uses_settings(settings, seeded_calls):
    assert settings == "settings"
    assert requests.get(ROOT + "/raw?b=own", timeout=5).text == "own"
"""


def test_a_session_fixtures_http_belongs_to_no_one_test(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fixture set up once for many tests sends once: in the first test's snapshot it would be
    # missing from every other order. It is a stray: sent and listed in record, refused in replay.
    _tool_project(project, monkeypatch, test_session=SESSION_FIXTURE)
    result = project.run("--llm-mode=record")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*/raw: the session-scoped fixture 'settings'*(not recorded)*"])
    (text,) = project.snapshots().values()
    assert [c["request"]["url"].rsplit("=", 1)[1] for c in json.loads(text)["calls"]] == ["own"]
    sent = len(project.server.state.requests)
    project.offline()
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the session-scoped fixture 'settings'*outside any test's window*"]
    )
    assert len(project.server.state.requests) == sent
