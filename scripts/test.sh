#!/usr/bin/env bash
# The one test command: makes its own venv, installs tfsetup (as a wheel, so the packaged
# recipes are what is tested) with its test extras, and runs pytest. Extra args go to pytest.
# Also runs the fast tests under Python 3.9 (tfsetup's floor): found like `tfsetup detect` finds
# Pythons, else installed with uv; no 3.9 is an error unless TFSETUP_SKIP_PY39=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export UV_CACHE_DIR="${UV_CACHE_DIR:-$root/.cache/uv}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$root/.cache/pip}"
export TFSETUP_STATE_DIR="${TFSETUP_STATE_DIR:-$root/.cache/state}"
# The tests' temp dir sits beside the uv cache, so their envs are hard links into it: a /tmp on another
# filesystem (a tmpfs, say) would get a full copy of TensorFlow, ~1 GB, for every env a test makes.
export TMPDIR="${TFSETUP_TEST_TMPDIR:-$(dirname "$UV_CACHE_DIR")/tmp}"
mkdir -p "$UV_CACHE_DIR" "$TMPDIR"
free_on() { df -Ph "$1" | awk 'NR == 2 {print $4 " free on " $6}'; }
echo "== disk: $(free_on "$UV_CACHE_DIR") (a run from an empty cache needs about 10 GB there)"
# The most disk the run took at once, sampled every 5 s (CI's disk is finite: printed at the end).
peak_file=$(mktemp)
echo 0 > "$peak_file"
(
  free_kb() { df -Pk "$UV_CACHE_DIR" | awk 'NR == 2 {print $4}'; }
  start=$(free_kb) peak=0
  while sleep 5; do
    used=$((start - $(free_kb)))
    if [ "$used" -gt "$peak" ]; then peak=$used; echo "$peak" > "$peak_file"; fi
  done
) &
sampler=$!
trap 'kill "$sampler" 2>/dev/null; rm -f "$peak_file"' EXIT

make_env() {  # make_env DIR PYTHON
  local dir=$1 python=$2
  if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.5"
  "$dir/bin/python" -m uv pip install --quiet --python "$dir/bin/python" --reinstall-package tfsetup ".[test]"
}

make_env .test-venv "${TFSETUP_TEST_PYTHON:-python3}"

is_py39() {  # ask each candidate to run: a pyenv shim is on PATH even when its version is not selected
  [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 9)' >/dev/null 2>&1
}

find_py39() {  # where `tfsetup detect` looks: pyenv (PYENV_ROOT, `pyenv root`), uv's Pythons, PATH
  local roots=() root candidate
  [ -n "${PYENV_ROOT:-}" ] && roots+=("$PYENV_ROOT")
  if command -v pyenv >/dev/null 2>&1; then roots+=("$(pyenv root 2>/dev/null)"); fi
  roots+=("$HOME/.pyenv")
  for root in "${roots[@]}"; do
    for candidate in "$root"/versions/3.9*/bin/python3.9; do
      if is_py39 "$candidate"; then echo "$candidate"; return 0; fi
    done
  done
  candidate=$(.test-venv/bin/python -m uv python find --no-config 3.9 2>/dev/null || true)
  if is_py39 "$candidate"; then echo "$candidate"; return 0; fi
  for candidate in python3.9 /usr/bin/python3.9 /usr/local/bin/python3.9 /opt/homebrew/bin/python3.9; do
    if is_py39 "$candidate"; then command -v "$candidate"; return 0; fi
  done
  return 1
}

if [ "${TFSETUP_SKIP_PY39:-}" = 1 ]; then
  echo "== fast tests on Python 3.9: skipped (TFSETUP_SKIP_PY39=1)"
else
  py39=$(find_py39 || true)
  if [ -z "$py39" ]; then
    echo "== no Python 3.9 found (pyenv, uv, PATH): installing one with uv"
    .test-venv/bin/python -m uv python install --no-config 3.9 \
      && py39=$(.test-venv/bin/python -m uv python find --no-config 3.9 2>/dev/null || true)
  fi
  if ! is_py39 "$py39"; then
    echo "test.sh: error: no Python 3.9 for the fast tests (tfsetup's floor), and \`uv python install 3.9\` failed" >&2
    echo "  fix: install one (pyenv install 3.9, or uv python install 3.9), or set TFSETUP_SKIP_PY39=1 to skip them" >&2
    exit 1
  fi
  echo "== fast tests on Python 3.9 ($py39)"
  make_env .test-venv-py39 "$py39"
  .test-venv-py39/bin/python -m pytest -q -m "not slow and not network" tests/unit
fi

echo "== all tests on $(.test-venv/bin/python --version)"
status=0
.test-venv/bin/python -m pytest "$@" || status=$?
echo "== disk: uv cache $(du -sh "$UV_CACHE_DIR" | cut -f1), $(free_on "$UV_CACHE_DIR"), at most $(( $(cat "$peak_file") / 1024 )) MB more in use than at the start"
exit "$status"
