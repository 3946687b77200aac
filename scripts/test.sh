#!/usr/bin/env bash
# The one test command: makes its own venv, installs tfsetup (as a wheel, so the packaged
# recipes are what is tested) with its test extras, and runs pytest. Extra args go to pytest.
# Also runs the fast tests under Python 3.9 (tfsetup's floor) when one is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export UV_CACHE_DIR="${UV_CACHE_DIR:-$root/.cache/uv}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$root/.cache/pip}"
export TFSETUP_STATE_DIR="${TFSETUP_STATE_DIR:-$root/.cache/state}"

make_env() {  # make_env DIR PYTHON
  local dir=$1 python=$2
  if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.5"
  "$dir/bin/python" -m uv pip install --quiet --python "$dir/bin/python" --reinstall-package tfsetup ".[test]"
}

make_env .test-venv "${TFSETUP_TEST_PYTHON:-python3}"

py39=""
# Ask each candidate to run: a pyenv shim is on PATH even when its version is not selected.
for candidate in "$HOME/.pyenv/versions/3.9"*/bin/python3.9 python3.9; do
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 9)' >/dev/null 2>&1; then
    py39=$candidate; break
  fi
done
if [ -n "$py39" ] && [ -z "${TFSETUP_SKIP_PY39:-}" ]; then
  echo "== fast tests on Python 3.9 ($py39)"
  make_env .test-venv-py39 "$py39"
  .test-venv-py39/bin/python -m pytest -q -m "not slow and not network" tests/unit
fi

echo "== all tests on $(.test-venv/bin/python --version)"
exec .test-venv/bin/python -m pytest "$@"
