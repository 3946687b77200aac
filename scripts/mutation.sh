#!/usr/bin/env bash
# Mutation testing of the decision modules (scripts/mutation.py; not in CI: run before each release).
# Uses the test venv of scripts/test.sh (made if missing). Args go to mutation.py, e.g.
#   scripts/mutation.sh --max-per-module 60 --seed 1     # a sample, about 20 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_CACHE_DIR="${UV_CACHE_DIR:-$PWD/.cache/uv}"
if [ ! -x .test-venv/bin/python ]; then
  python3 -m venv .test-venv
  .test-venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"
  .test-venv/bin/python -m uv pip install --quiet --python .test-venv/bin/python ".[test]"
fi
exec .test-venv/bin/python scripts/mutation.py "$@"
