#!/usr/bin/env bash
# The docs site (mkdocs, Material theme): built with --strict, so a broken link or anchor fails.
# The docs' Python examples run as tests in the suite (tests/test_docs_examples.py).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q -e '.[docs]'
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "${1:-$(mktemp -d)/site}"
