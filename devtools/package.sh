#!/usr/bin/env bash
# The package as released: build the wheel and the sdist, check their metadata with twine, install
# the wheel (not this checkout) in a clean virtualenv, and run the example project's tests
# offline from a copy of it outside the repository, so only the installed package can answer.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
.venv/bin/python -m pip install -q build twine
rm -rf dist build
.venv/bin/python -m build --sdist --wheel --outdir dist . >/dev/null
rm -rf build  # setuptools' work folder
.venv/bin/python -m twine check --strict dist/*

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q dist/*.whl
cp -r example_project "$work/example_project"
cd "$work/example_project"
# The example's own tests, replayed from its shipped snapshots, by the installed plugin.
"$work/venv/bin/python" -c "import pytest_seeded, sys; print('installed from', pytest_seeded.__file__)"
"$work/venv/bin/pytest" -p no:cacheprovider
