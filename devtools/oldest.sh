#!/usr/bin/env bash
# The suite on the oldest versions pyproject.toml allows (devtools/oldest.txt), in a virtualenv
# of its own, so that each lower bound is one that was tested. The integration tests (the
# llama.cpp server) and the slow kill tests run in devtools/test.sh only: what they check does
# not depend on these libraries' versions.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv-oldest/bin/python ] || "$PYTHON" -m venv .venv-oldest
.venv-oldest/bin/python -m pip install -q --upgrade pip
.venv-oldest/bin/python -m pip install -q -c devtools/oldest.txt -e '.[test]'
# Say which versions ran, so a failure here names them.
.venv-oldest/bin/python -m pip list 2>/dev/null | grep -iE '^(pytest|openai|httpx2|syrupy|pluggy|rapidfuzz|aiohttp|urllib3|httpx) '
.venv-oldest/bin/python -m pytest -n 2 tests -m "not integration and not slow" "$@"
