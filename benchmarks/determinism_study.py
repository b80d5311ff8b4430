"""How deterministic is a seeded call, really? Measured with llama.cpp's server and SmolLM2-135M,
using the plugin's own --llm-repeat and its reports.

    python benchmarks/determinism_study.py                  # 8 prompts, 6 answers each
    python benchmarks/determinism_study.py --repeat 10 --out /tmp/study

Three ways to serve the same seeded requests (temperature 0.8, 40 tokens):
- one slot, no prompt cache: each request alone on a fresh context;
- four slots, concurrent requests: four test processes (pytest-xdist) send at once, and the
  server batches them;
- one slot, prompt cache on: llama.cpp's default, which reuses the slot's cached prompt;
- one slot, one thread: the first configuration with one CPU thread instead of two;
- a control: seed -1, which llama.cpp takes as a random seed per request.

All four send the same fingerprint (the build), so the table also says whether each gives the
same answers as the first: what a fingerprint does and does not promise.

Each configuration runs a generated suite of one test per prompt with
``--llm-mode=record --llm-repeat=N --llm-min-agreement=0`` and writes the JSON and HTML reports
to the output folder; the script prints a Markdown table of agreement per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "devtools"))

from llama_server import LlamaServer, missing

PROMPTS = [
    "Write one sentence about the sea.",
    "Name three colours of a sunset.",
    "Summarise: the app crashes when I open my basket.",
    "Give a short title for a story about a lighthouse.",
    "Describe rain in five words.",
    "What is a kettle for? One sentence.",
    "Suggest a name for a grey cat.",
    "Write a haiku about paper boats.",
]

TEST = """
import os

import pytest

PROMPTS = {prompts!r}

@pytest.mark.parametrize("n", range(len(PROMPTS)))
def test_prompt(seeded_llm, n):
    r = seeded_llm.chat.completions.create(
        model="smollm2-135m",
        messages=[{{"role": "user", "content": PROMPTS[n]}}],
        temperature=0.8,
        max_tokens=40,
        # The control: llama.cpp takes seed -1 as "a random seed for this request".
        **({{"seed": -1}} if os.environ.get("STUDY_RANDOM_SEED") else {{}}),
    )
    assert r.choices[0].message.content is not None
"""

CONFIGS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("one slot, no prompt cache", {"parallel": 1}, ()),
    ("four slots, concurrent requests", {"parallel": 4}, ("-n", "4")),
    ("one slot, prompt cache on", {"parallel": 1, "cache_prompt": True}, ()),
    ("one slot, one thread", {"parallel": 1, "extra_args": ("-t", "1")}, ()),
    # Not seeded at all: shows what the measure sees when answers do vary.
    ("control: seed -1 (random per request)", {"parallel": 1}, ()),
]


def run_config(
    name: str, server_args: dict[str, Any], pytest_args: tuple[str, ...], repeat: int, out: Path
) -> dict[str, Any]:
    slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    report, page = out / f"{slug}.json", out / f"{slug}.html"
    with tempfile.TemporaryDirectory() as folder, LlamaServer(**server_args) as server:
        Path(folder, "test_study.py").write_text(TEST.format(prompts=PROMPTS))
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "not-needed"}
        if name.startswith("control"):
            env["STUDY_RANDOM_SEED"] = "1"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--llm-mode=record", f"--llm-repeat={repeat}", "--llm-min-agreement=0",
            f"--llm-report={report}", f"--llm-report-html={page}", *pytest_args,
        ]  # fmt: skip
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{name}: pytest exited {done.returncode}\n{done.stdout[-3000:]}")
    doc = json.loads(report.read_text())
    calls = doc["determinism"]["calls"]
    fingerprints = {c["fingerprint"] for c in calls}
    return {
        "fingerprints": fingerprints,
        "majorities": {c["nodeid"]: c["majority_text"] for c in calls},
        "name": name,
        "agreement": doc["determinism"]["agreement"],
        "answers": doc["determinism"]["responses"],
        "calls": len(calls),
        "identical": sum(1 for c in calls if c["distinct"] == 1),
        "distinct": max(c["distinct"] for c in calls),
        "tokens": [c["divergence_token"] for c in calls if c["divergence_token"] is not None],
        "page": page,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=6, help="answers per call (default 6)")
    parser.add_argument(
        "--out", type=Path, default=Path("study-out"), help="folder for the reports"
    )
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"determinism_study: {reason}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    rows = [run_config(name, s, p, args.repeat, out) for name, s, p in CONFIGS]
    print(f"\n{len(PROMPTS)} prompts, {args.repeat} answers each, seed 42, SmolLM2-135M Q4_1\n")
    print("| how the server ran | fingerprint | answers agreeing with their call's majority | "
          "calls with one answer only | first divergence (token) | same answer as the first "
          "configuration |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    base = rows[0]["majorities"]
    for row in rows:
        tokens = row["tokens"]
        where = f"{min(tokens)}–{max(tokens)}" if tokens else "none"
        same = sum(1 for k, v in row["majorities"].items() if base.get(k) == v)
        print(
            f"| {row['name']} | {', '.join(map(str, sorted(row['fingerprints'])))} | "
            f"{row['agreement']:.1%} of {row['answers']} | {row['identical']} of {row['calls']} | "
            f"{where} | {same} of {len(base)} |"
        )
    print("\nreports: " + ", ".join(str(r["page"]) for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
