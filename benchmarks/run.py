"""Benchmarks for pytest-seeded, measured side by side in one run, in turns, as medians.

    python benchmarks/run.py            # everything (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer repetitions and no 10,000-test suite

It generates suites in a temporary folder and runs each in a fresh pytest process:
- plain: tests that make no LLM call (with and without the plugin: its cost when unused);
- floor: one chat completion per test through an openai client answered by an in-memory
  httpx2.MockTransport (the least any replay can cost);
- pytest-recording: the same call replayed by vcrpy cassettes (--record-mode=none);
- pytest-seeded: the same call replayed from snapshots by the seeded_llm fixture;
- syrupy alone: no call, one snapshot file of a recording's size per test, asserted through
  syrupy's own fixture (what syrupy's bookkeeping costs any user per snapshot).
A call's cost is (suite time - plain suite time) / tests. Streams: time to first chunk with a
server that sends a chunk every 50 ms, direct and through the plugin, in turns. Memory: peak RSS
of 1,000 and 10,000 replayed tests (one parametrized test), beside plain tests and floor calls of
the same sizes. xdist: 1,000 tests with -n 2 against -n 0, replayed, floor, and a reference
suite that keeps a core busy for 5 ms a test (what xdist itself gains on the machine). litellm: a litellm.completion call replayed by the plugin beside litellm's own floor
(the call answered in memory by a client handed to litellm). Large
streams: the time a recording test takes to read a stream of one 10 MB and one 30 MB event
through the plugin (capture included), in turns; it should grow with the size, not its square.

    python benchmarks/run.py --only large-stream    # one section alone

Timings are wall clock on a shared machine: read the ratios, which are measured in the same
turns, rather than the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from llm_server import LLMServer

PY = sys.executable
# Runs are measured as a user's repeated runs go: with bytecode cached (pytest's rewritten test
# modules and the plugin's). With PYTHONDONTWRITEBYTECODE set (as on the machine these figures
# come from) every run recompiles each suite's test module, which added about 0.3 ms per test to
# every suite that makes a call and hid what the call costs. The figures (floor about
# 0.8 ms, pytest-recording about 3.6 ms a call) match runs with the cache.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
PROMPT = [{"role": "user", "content": "benchmark"}]

CONFTEST_COMMON = """
import openai, httpx2  # every suite pays the same imports, so differences are per test
"""

FLOOR_CONFTEST = (
    CONFTEST_COMMON
    + """
import json, pytest

CANNED = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
    "system_fingerprint": "fp", "choices": [{"index": 0, "finish_reason": "stop",
    "message": {"role": "assistant", "content": "canned"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()

@pytest.fixture(scope="session")
def client():
    transport = httpx2.MockTransport(lambda request: httpx2.Response(
        200, content=CANNED, headers={"content-type": "application/json"}))
    return openai.OpenAI(api_key="x", http_client=httpx2.Client(transport=transport))
"""
)

VCR_CONFTEST = (
    CONFTEST_COMMON
    + """
import os, pytest

@pytest.fixture(scope="session")
def client():
    return openai.OpenAI(api_key="x", base_url=os.environ["BENCH_URL"])

@pytest.fixture(scope="module")
def vcr_config():
    return {"filter_headers": ["authorization"]}
"""
)

# syrupy by itself, through its public API, on the same kind of file: one snapshot file of about
# a recording's size per test, no LLM call. What any syrupy user pays per snapshot; the plugin's
# own replay is read against floor + this.
SYRUPY_CONFTEST = (
    CONFTEST_COMMON
    + """
import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension

@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(SingleFileSnapshotExtension)
"""
)
SYRUPY_TEXT = """
TEXT = ('{"role": "assistant", "content": "falls sings softly a copper copper rain"}\\n' * 16).encode()

"""

CALL = 'r = {client}.chat.completions.create(model="m", messages={prompt})\n    assert r.choices[0].message.content'


def _tests(n: int, body: str, fixture: str, decorator: str = "") -> str:
    return "\n".join(
        f"{decorator}def test_{i}({fixture}):\n    {body}\n" for i in range(n)
    ).replace("{prompt}", repr(PROMPT))


def make_suites(root: Path, n: int) -> dict[str, Path]:
    suites = {}
    for name, conftest, body in (
        ("plain", CONFTEST_COMMON, ("pass", "")),
        ("floor", FLOOR_CONFTEST, (CALL.format(client="client", prompt="{prompt}"), "client")),
        ("vcr", VCR_CONFTEST, (CALL.format(client="client", prompt="{prompt}"), "client")),
        (
            "seeded",
            CONFTEST_COMMON,
            (CALL.format(client="seeded_llm", prompt="{prompt}"), "seeded_llm"),
        ),
        ("syrupy", SYRUPY_CONFTEST, ("assert TEXT == snapshot", "snapshot")),
    ):
        folder = root / f"{name}_{n}"
        folder.mkdir(parents=True)
        (folder / "conftest.py").write_text(conftest)
        decorator = "@pytest.mark.vcr\n" if name == "vcr" else ""
        source = ("import pytest\n\n" if decorator else "") + _tests(n, body[0], body[1], decorator)
        if name == "syrupy":
            source = SYRUPY_TEXT + source
        (folder / "test_suite.py").write_text(source)
        (folder / "pytest.ini").write_text("[pytest]\n")
        suites[name] = folder
    return suites


class Run(NamedTuple):
    wall: float  # seconds
    rss_kib: int  # peak resident memory


def pytest_run(folder: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """Run pytest in a fresh process and measure it."""
    code = (
        "import resource, sys, pytest\n"
        "rc = pytest.main(sys.argv[1:])\n"
        "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [
            PY,
            "-c",
            code,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "-p",
            "no:hypothesispytest",
            *args,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"pytest failed in {folder} {args}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    rss = int(next(x for x in done.stdout.splitlines() if x.startswith("MAXRSS")).split()[1])
    return Run(elapsed, rss)


def median_of(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def replay_costs(root: Path, n: int, rounds: int, url: str) -> dict[str, float]:
    suites = make_suites(root, n)
    env = {"BENCH_URL": url, "OPENAI_BASE_URL": url}
    # Record once: cassettes for pytest-recording, snapshots for pytest-seeded.
    pytest_run(suites["vcr"], "-p", "no:seeded", "--record-mode=once", env=env)
    pytest_run(suites["seeded"], "-p", "no:recording", "--llm-mode=record", env=env)
    pytest_run(suites["syrupy"], "-p", "no:seeded", "-p", "no:recording", "--snapshot-update")
    # vcrpy matches on host and port too, so it replays against the recorded URL (it opens no
    # connection with --record-mode=none); pytest-seeded replays against a closed port.
    offline = {"BENCH_URL": url, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    runs: dict[str, list[Run]] = {k: [] for k in ("plain", "floor", "vcr", "seeded", "syrupy")}
    for round_ in range(rounds + 1):
        if round_ == 1:  # the first round fills the bytecode caches: not counted
            runs = {k: [] for k in runs}
        runs["plain"].append(pytest_run(suites["plain"], "-p", "no:seeded", "-p", "no:recording"))
        runs["floor"].append(pytest_run(suites["floor"], "-p", "no:seeded", "-p", "no:recording"))
        runs["vcr"].append(
            pytest_run(suites["vcr"], "-p", "no:seeded", "--record-mode=none", env=offline)
        )
        runs["seeded"].append(pytest_run(suites["seeded"], "-p", "no:recording", env=offline))
        runs["syrupy"].append(pytest_run(suites["syrupy"], "-p", "no:seeded", "-p", "no:recording"))
    medians = {k: median_of(v) for k, v in runs.items()}
    out = {f"{k}_s": v for k, v in medians.items()}
    # A call's cost is a small difference between two suite times, so each round's suite is
    # compared with the plain suite of the same round (a machine busier for a while affects
    # both), and the median of those differences is taken.
    for kind in ("floor", "vcr", "seeded", "syrupy"):
        diffs = [
            run.wall - plain.wall for run, plain in zip(runs[kind], runs["plain"], strict=True)
        ]
        out[f"{kind}_ms_per_call"] = statistics.median(diffs) / n * 1000
    return out


def unused_overhead(root: Path, rounds: int) -> dict[str, float]:
    folder = root / "unused"
    folder.mkdir()
    (folder / "test_plain.py").write_text(_tests(1000, "pass", ""))
    (folder / "pytest.ini").write_text("[pytest]\n")
    on: dict[str, list[Run]] = {"collect": [], "run": []}
    off: dict[str, list[Run]] = {"collect": [], "run": []}
    for _ in range(rounds):
        off["collect"].append(
            pytest_run(folder, "--collect-only", "-p", "no:seeded", "-p", "no:recording")
        )
        on["collect"].append(pytest_run(folder, "--collect-only", "-p", "no:recording"))
        off["run"].append(pytest_run(folder, "-p", "no:seeded", "-p", "no:recording"))
        on["run"].append(pytest_run(folder, "-p", "no:recording"))
    return {
        "collect_ratio": median_of(on["collect"]) / median_of(off["collect"]),
        "run_ratio": median_of(on["run"]) / median_of(off["run"]),
        "collect_off_s": median_of(off["collect"]),
        "run_off_s": median_of(off["run"]),
    }


SCALE_BODIES = {
    "plain": ("pass", "i"),
    "floor": (CALL.format(client="client", prompt="{prompt}"), "client, i"),
    "seeded": (CALL.format(client="seeded_llm", prompt="{prompt}"), "seeded_llm, i"),
}


def scale_suite(root: Path, kind: str, n: int, template: str) -> Path:
    """One parametrized test run n times: the suite's own code stays the same size, so what
    grows with n is pytest's per-item state and whatever the plugin keeps per test."""
    folder = root / f"scale_{kind}_{n}"
    if folder.exists():
        return folder
    folder.mkdir()
    body, args = SCALE_BODIES[kind]
    (folder / "conftest.py").write_text(FLOOR_CONFTEST if kind == "floor" else CONFTEST_COMMON)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_suite.py").write_text(
        f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\n"
        f"def test_call({args}):\n    {body.replace('{prompt}', repr(PROMPT))}\n"
    )
    if kind == "seeded":
        snaps = folder / "__llm_snapshots__" / "test_suite"
        snaps.mkdir(parents=True)
        for i in range(n):
            (snaps / f"test_call[{i}][seed=42].seeded.jsonc").write_text(template)
    return folder


def scale_template(root: Path, url: str) -> str:
    """One recorded snapshot, copied for every test (they all make the same request)."""
    one = root / "scale_template"
    one.mkdir()
    (one / "test_suite.py").write_text(
        _tests(1, CALL.format(client="seeded_llm", prompt="{prompt}"), "seeded_llm")
    )
    (one / "pytest.ini").write_text("[pytest]\n")
    pytest_run(one, "-p", "no:recording", "--llm-mode=record", env={"OPENAI_BASE_URL": url})
    return next(one.rglob("*.seeded.jsonc")).read_text()


def _plugins_for(kind: str) -> tuple[str, ...]:
    return ("-p", "no:recording") + (("-p", "no:seeded") if kind != "seeded" else ())


OFFLINE = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}


def scale(root: Path, sizes: tuple[int, ...], rounds: int, template: str) -> dict[str, float]:
    """Peak memory and time per test of replayed suites of several sizes, beside the same
    sizes of plain tests and of floor calls: pytest keeps per-item state of its own, which
    is what the plugin's growth is to be read against."""
    out: dict[str, float] = {}
    for n in sizes:
        folders = {kind: scale_suite(root, kind, n, template) for kind in SCALE_BODIES}
        runs: dict[str, list[Run]] = {kind: [] for kind in SCALE_BODIES}
        for _ in range(rounds):
            for kind, folder in folders.items():
                runs[kind].append(pytest_run(folder, *_plugins_for(kind), env=OFFLINE))
        for kind in SCALE_BODIES:
            out[f"{kind}_{n}_ms_per_test"] = median_of(runs[kind]) / n * 1000
            out[f"{kind}_{n}_maxrss_mib"] = max(r.rss_kib for r in runs[kind]) / 1024
    return out


BUSY_TEST = """
import time
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_busy(i):
    end = time.perf_counter() + 0.005
    while time.perf_counter() < end:
        pass
"""


def xdist(root: Path, rounds: int, template: str) -> dict[str, float]:
    """-n 0 against -n 2 on 1,000 replayed tests, beside the floor's calls and a reference
    suite of 1,000 tests that each keep a core busy for 5 ms: what pytest-xdist itself can
    gain on this machine."""
    busy = root / "xdist_busy"
    busy.mkdir()
    (busy / "test_busy.py").write_text(BUSY_TEST.format(n=1000))
    (busy / "pytest.ini").write_text("[pytest]\n")
    folders = {
        "busy": busy,
        "floor": scale_suite(root, "floor", 1000, template),
        "seeded": scale_suite(root, "seeded", 1000, template),
    }
    out: dict[str, float] = {}
    for kind, folder in folders.items():
        serial, parallel = [], []
        plugins = _plugins_for("seeded" if kind == "seeded" else "floor")
        for _ in range(rounds):
            serial.append(pytest_run(folder, *plugins, "-n", "0", env=OFFLINE))
            parallel.append(pytest_run(folder, *plugins, "-n", "2", env=OFFLINE))
        out[f"{kind}_n0_s"] = median_of(serial)
        out[f"{kind}_n2_s"] = median_of(parallel)
        out[f"{kind}_speedup"] = median_of(serial) / median_of(parallel)
    return out


STREAM_TEST = """
import os, time
import pytest
from openai import OpenAI

MSG = [{"role": "user", "content": "stream benchmark"}]

def first_chunk(client):
    start = time.perf_counter()
    stream = client.chat.completions.create(model="m", messages=MSG, stream=True, max_tokens=8)
    elapsed = None
    # Read to the end, both clients: a stream closed early costs the next call a new
    # connection, which would time connection setup instead of the plugin.
    for chunk in stream:
        if elapsed is None:
            elapsed = time.perf_counter() - start
    return elapsed

@pytest.fixture(scope="session")
def direct():
    client = OpenAI(api_key="x", base_url=os.environ["BENCH_URL"])
    first_chunk(client)  # warm up, as the seeded client is by its first test
    return client
"""

# Direct and seeded calls alternate, one per test, so that both see the same machine: timed
# one after the other, a drift in the machine's load made either look slower by turns.
STREAM_TURNS = 10
STREAM_TEST += "".join(
    f"""
def test_direct_{n}(direct):
    print(f"\\nTTFC direct {{first_chunk(direct):.6f}}")

def test_seeded_{n}(seeded_llm):
    print(f"\\nTTFC seeded {{first_chunk(seeded_llm):.6f}}")
"""
    for n in range(STREAM_TURNS + 1)
)


def streams(root: Path, url: str, mode: str) -> dict[str, float]:
    folder = root / f"stream_{mode}"
    folder.mkdir()
    (folder / "test_stream.py").write_text(STREAM_TEST)
    (folder / "pytest.ini").write_text("[pytest]\n")
    if mode == "live":
        pytest_run(
            folder,
            "-p",
            "no:recording",
            "--llm-mode=record",
            "-k",
            "seeded",
            env={"BENCH_URL": url, "OPENAI_BASE_URL": url},
        )
    done = subprocess.run(
        [
            PY,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:recording",
            f"--llm-mode={mode}",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**ENV, "BENCH_URL": url, "OPENAI_BASE_URL": url},
        check=False,
    )
    values: dict[str, list[float]] = {"direct": [], "seeded": []}
    for line in done.stdout.splitlines():
        if line.startswith("TTFC"):
            values[line.split()[1]].append(float(line.split()[2]))
    if done.returncode != 0 or any(len(v) != STREAM_TURNS + 1 for v in values.values()):
        raise SystemExit(f"stream benchmark failed:\n{done.stdout[-3000:]}")
    # The first seeded test builds the session's client and transport: left out, as the
    # direct client's warm-up is.
    direct = statistics.median(values["direct"][1:])
    seeded = statistics.median(values["seeded"][1:])
    return {
        f"{mode}_direct_s": direct,
        f"{mode}_seeded_s": seeded,
        f"{mode}_ratio": seeded / direct,
    }


LARGE_STREAM_TEST = """
import time

def test_large(seeded_llm):
    start = time.perf_counter()
    s = seeded_llm.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "large"}], stream=True
    )
    size = sum(len(c.choices[0].delta.content or "") for c in s if c.choices)
    print(f"CAPTURE {size} {time.perf_counter() - start:.4f}")
"""
LARGE_SIZES_MB = (10, 30)


def large_streams(root: Path, server: LLMServer, rounds: int) -> dict[str, float]:
    """Seconds to read one huge streamed event through the plugin while recording it."""
    folder = root / "large_stream"
    folder.mkdir()
    (folder / "test_large.py").write_text(LARGE_STREAM_TEST)
    (folder / "pytest.ini").write_text(f"[pytest]\nllm_base_url = {server.url}\n")
    times: dict[int, list[float]] = {mb: [] for mb in LARGE_SIZES_MB}
    for _ in range(rounds):
        for mb in LARGE_SIZES_MB:
            server.state.huge_event_bytes = mb * 1_000_000
            done = subprocess.run(
                [PY, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--llm-mode=record"],
                cwd=folder,
                capture_output=True,
                text=True,
                env=ENV,
                check=False,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("CAPTURE")]
            if done.returncode != 0 or len(lines) != 1:
                raise SystemExit(f"large-stream benchmark failed:\n{done.stdout[-3000:]}")
            size, seconds = lines[0].split()[1:]
            assert int(size) == mb * 1_000_000
            times[mb].append(float(seconds))
    server.state.huge_event_bytes = 0
    small, large = (statistics.median(times[mb]) for mb in LARGE_SIZES_MB)
    return {"small_s": small, "large_s": large, "ratio": large / small}


# The floor's canned answer and in-memory client (``client``), and litellm imported by every
# litellm suite alike.
LITELLM_CONFTEST = FLOOR_CONFTEST + "import litellm\n"
LITELLM_CALL = {
    # litellm's own floor: the call answered in memory by a client handed to litellm.
    "floor": (
        'r = litellm.completion(model="openai/m", messages={prompt}, client=client)',
        "client",
    ),
    # The same call replayed by the plugin, litellm building its own (legacy httpx) client.
    "seeded": (
        'r = litellm.completion(model="openai/m", messages={prompt}, api_base=os.environ["OPENAI_BASE_URL"], api_key="x")',
        "llm_seed",
    ),
}


def litellm_costs(root: Path, n: int, rounds: int, url: str) -> dict[str, float]:
    """A litellm call replayed by the plugin against litellm's own in-memory floor."""
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    suites = {}
    for name, (body, fixture) in {"plain": ("pass", ""), **LITELLM_CALL}.items():
        folder = root / f"litellm_{name}_{n}"
        folder.mkdir(parents=True)
        (folder / "conftest.py").write_text(LITELLM_CONFTEST)
        check = "" if name == "plain" else "\n    assert r.choices[0].message.content"
        (folder / "test_suite.py").write_text(
            "import os\nimport litellm\n\n" + _tests(n, body + check, fixture)
        )
        (folder / "pytest.ini").write_text("[pytest]\n")
        suites[name] = folder
    pytest_run(
        suites["seeded"],
        "-p",
        "no:recording",
        "--llm-mode=record",
        env={**env, "OPENAI_BASE_URL": url},
    )
    offline = {**env, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    runs: dict[str, list[Run]] = {k: [] for k in suites}
    for round_ in range(rounds + 1):
        if round_ == 1:
            runs = {k: [] for k in runs}
        runs["plain"].append(
            pytest_run(suites["plain"], "-p", "no:seeded", "-p", "no:recording", env=env)
        )
        runs["floor"].append(
            pytest_run(suites["floor"], "-p", "no:seeded", "-p", "no:recording", env=env)
        )
        runs["seeded"].append(pytest_run(suites["seeded"], "-p", "no:recording", env=offline))
    out = {}
    for kind in ("floor", "seeded"):
        diffs = [
            run.wall - plain.wall for run, plain in zip(runs[kind], runs["plain"], strict=True)
        ]
        out[f"{kind}_ms_per_call"] = statistics.median(diffs) / n * 1000
    return out


SECTIONS = ("replay", "unused", "scale", "xdist", "stream", "large-stream", "litellm")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no 10,000-test suite")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    rounds = 3 if args.quick else 5
    server = LLMServer().start()
    results: dict[str, dict[str, float]] = {}
    root = Path(tempfile.mkdtemp(prefix="seeded-bench-"))
    sizes = (1000,) if args.quick else (1000, 10000)
    try:
        if "replay" in only:
            for n in (300, 1000):
                # A difference of two suite times, small beside their spread on a shared
                # machine (at 300 tests one run to the next moved it by 0.4 ms a call).
                replay_rounds = rounds * (3 if n == 300 else 2)
                results[f"replay_{n}"] = replay_costs(root, n, replay_rounds, server.url)
        if "unused" in only:
            # A 5% difference on half-second runs (0.44 s for --collect-only, bytecode cached):
            # ten rounds read 1.012 in one run and 1.064 in the next. More rounds, or noise.
            results["unused"] = unused_overhead(root, rounds * 4)
        if only & {"scale", "xdist"}:
            template = scale_template(root, server.url)
            if "scale" in only:
                results["scale"] = scale(root, sizes, 1 if args.quick else 3, template)
            if "xdist" in only:
                results["xdist"] = xdist(root, rounds, template)
        if "stream" in only:
            server.state.chunk_delay = 0.05
            results["stream"] = {
                **streams(root, server.url, "record"),
                **streams(root, server.url, "live"),
            }
            server.state.chunk_delay = 0.0
        if "large-stream" in only:
            results["large_stream"] = large_streams(root, server, rounds)
        if "litellm" in only:
            results["litellm"] = litellm_costs(root, 300, rounds * 2, server.url)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print_table(results, sizes)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _added(x: dict[str, float], kind: str) -> float:
    """A replay's cost over the floor's, ms a call (never below 0.01: a ratio of noise)."""
    return max(x[f"{kind}_ms_per_call"] - x["floor_ms_per_call"], 0.01)


def print_table(r: dict[str, dict[str, float]], sizes: tuple[int, ...]) -> None:
    rows = []
    for n in (300, 1000) if "replay_300" in r else ():
        x = r[f"replay_{n}"]
        rows += [
            (f"replay {n}: floor ms/call", f"{x['floor_ms_per_call']:.2f}", ""),
            (f"replay {n}: pytest-recording ms/call", f"{x['vcr_ms_per_call']:.2f}", ""),
            (f"replay {n}: pytest-seeded ms/call", f"{x['seeded_ms_per_call']:.2f}", ""),
            (
                f"replay {n}: seeded / floor",
                f"{x['seeded_ms_per_call'] / x['floor_ms_per_call']:.2f}",
                "<= 1.3",
            ),
            (
                f"replay {n}: pytest-recording / seeded",
                f"{x['vcr_ms_per_call'] / x['seeded_ms_per_call']:.2f}",
                "",
            ),
            (
                # What each adds to the floor: the plugin's own cost against vcrpy's.
                f"replay {n}: added cost, pytest-recording / seeded",
                f"{_added(x, 'vcr') / _added(x, 'seeded'):.1f}",
                ">= 4",
            ),
            (
                f"replay {n}: syrupy alone ms/snapshot, no call",
                f"{x['syrupy_ms_per_call']:.2f}",
                "",
            ),
            (
                f"replay {n}: seeded / (floor + syrupy alone)",
                f"{x['seeded_ms_per_call'] / (x['floor_ms_per_call'] + x['syrupy_ms_per_call']):.2f}",
                "",
            ),
        ]
    lt = r.get("litellm")
    if lt is not None:
        rows += [
            ("litellm 300: litellm's floor ms/call", f"{lt['floor_ms_per_call']:.2f}", ""),
            ("litellm 300: pytest-seeded ms/call", f"{lt['seeded_ms_per_call']:.2f}", ""),
            (
                "litellm 300: seeded / litellm's floor",
                f"{lt['seeded_ms_per_call'] / lt['floor_ms_per_call']:.2f}",
                "",
            ),
        ]
    u = r.get("unused")
    rows += (
        []
        if u is None
        else [
            ("unused plugin: --collect-only, 1,000 tests", f"{u['collect_ratio']:.3f}", "<= 1.05"),
            ("unused plugin: run, 1,000 plain tests", f"{u['run_ratio']:.3f}", "<= 1.05"),
        ]
    )
    s = r.get("scale", {})
    for n in sizes if s else ():
        rows.append(
            (
                f"scale {n}: ms/test, peak RSS MiB (plain | floor | seeded)",
                " | ".join(
                    f"{s[f'{k}_{n}_ms_per_test']:.2f}, {s[f'{k}_{n}_maxrss_mib']:.0f}"
                    for k in SCALE_BODIES
                ),
                "",
            )
        )
    if 10000 in sizes and s:
        rows.append(
            (
                "scale: peak RSS 10,000 / 1,000 (plain | floor | seeded)",
                " | ".join(
                    f"{s[f'{k}_10000_maxrss_mib'] / s[f'{k}_1000_maxrss_mib']:.2f}"
                    for k in SCALE_BODIES
                ),
                "<= 1.2",
            )
        )
        grown = {k: s[f"{k}_10000_maxrss_mib"] - s[f"{k}_1000_maxrss_mib"] for k in SCALE_BODIES}
        rows.append(
            (
                "scale: KiB kept per extra test, seeded beyond floor",
                f"{(grown['seeded'] - grown['floor']) * 1024 / 9000:.1f}",
                "",
            )
        )
        rows.append(
            (
                "scale: ms/test 10,000 / 1,000 (plain | floor | seeded)",
                " | ".join(
                    f"{s[f'{k}_10000_ms_per_test'] / s[f'{k}_1000_ms_per_test']:.2f}"
                    for k in SCALE_BODIES
                ),
                "flat",
            )
        )
    xd = r.get("xdist")
    if xd is not None:
        rows.append(
            (
                "xdist 1,000 tests, -n 0 / -n 2 (5 ms busy | floor | seeded)",
                f"{xd['busy_speedup']:.2f} | {xd['floor_speedup']:.2f} | {xd['seeded_speedup']:.2f}",
                ">= 1.6",
            )
        )
    st = r.get("stream", {})
    for mode in ("record", "live") if st else ():
        rows.append(
            (f"stream {mode}: first chunk seeded / direct", f"{st[f'{mode}_ratio']:.2f}", "<= 1.2")
        )
    big = r.get("large_stream")
    if big is not None:
        rows += [
            ("large stream: s to read 10 MB | 30 MB, recording", f"{big['small_s']:.2f} | {big['large_s']:.2f}", ""),
            ("large stream: 30 MB / 10 MB", f"{big['ratio']:.2f}", "<= 4.5"),
        ]  # fmt: skip
    width = max(len(a) for a, _, _ in rows)
    print(f"\n{'measure'.ljust(width)}  {'median':>12}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>12}  {target}")


if __name__ == "__main__":
    sys.exit(main())
