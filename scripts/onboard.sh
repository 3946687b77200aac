#!/bin/sh
# onboard.sh — the one command a new team member runs (macOS or Linux):
#   1. finds a python3 >= 3.9 (on a Mac without one: asks for the Command Line Tools and stops),
#   2. installs tfsetup into its own isolated env in the user's data directory
#      (from this checkout, a wheel, or the index: TFSETUP_SOURCE=path|wheel|requirement),
#   3. runs `tfsetup install` with this script's arguments (e.g. --yes, a PATH, --tf 2.19).
# Idempotent: a second run reinstalls tfsetup only when its source changed.
set -eu

say() { printf '%s\n' "onboard: $*" >&2; }
die() { say "error: $*"; exit 1; }

case "$(uname -s)" in
  Darwin) data_dir="${TFSETUP_HOME:-$HOME/Library/Application Support/tfsetup}" ;;
  *)      data_dir="${TFSETUP_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tfsetup}" ;;
esac
tool_env="$data_dir/tool-env"

usable_python() {  # usable_python CMD: exits 0 when CMD is a Python >= 3.9 that runs
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1
}

find_python() {
  if [ -n "${TFSETUP_PYTHON:-}" ]; then
    usable_python "$TFSETUP_PYTHON" || die "TFSETUP_PYTHON=$TFSETUP_PYTHON is not a working Python >= 3.9"
    printf '%s\n' "$TFSETUP_PYTHON"; return 0
  fi
  if [ "$(uname -s)" = Darwin ] && ! xcode-select -p >/dev/null 2>&1 \
     && [ ! -x /opt/homebrew/bin/python3 ] && [ ! -x /usr/local/bin/python3 ]; then
    # /usr/bin/python3 is only a stub until the Command Line Tools are installed.
    die "no python3 yet: run 'xcode-select --install', finish the installer, then run this again"
  fi
  for candidate in python3 /opt/homebrew/bin/python3 /usr/local/bin/python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && usable_python "$candidate"; then
      command -v "$candidate"; return 0
    fi
  done
  die "no python3 >= 3.9 found; install one (macOS: 'xcode-select --install'; Debian/Ubuntu: 'sudo apt install python3 python3-venv')"
}

script_dir=$(cd "$(dirname "$0")" && pwd)
source_spec="${TFSETUP_SOURCE:-}"
if [ -z "$source_spec" ]; then
  if [ -f "$script_dir/../pyproject.toml" ]; then source_spec=$(cd "$script_dir/.." && pwd); else source_spec=tfsetup; fi
fi

# A fingerprint of what would be installed, so a second run can skip the reinstall.
fingerprint() {
  if [ -d "$source_spec" ]; then
    (cd "$source_spec" && find pyproject.toml installer recipes -type f ! -name '*.pyc' | LC_ALL=C sort \
      | while IFS= read -r f; do cksum "$f"; done) | cksum
  elif [ -f "$source_spec" ]; then
    cksum < "$source_spec"
  else
    printf 'index:%s\n' "$source_spec"
  fi
}

python=$(find_python)
mkdir -p "$data_dir" || die "cannot create $data_dir"
stamp="$tool_env/.tfsetup-source"
want=$(fingerprint)
if [ -x "$tool_env/bin/tfsetup" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ ! -d "$source_spec" ] && [ ! -f "$source_spec" ]; then
  say "updating tfsetup from the index"
  "$tool_env/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$source_spec" \
    || die "could not update tfsetup"
elif [ -x "$tool_env/bin/tfsetup" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "tfsetup is up to date in $tool_env"
else
  say "installing tfsetup into $tool_env (python: $python)"
  # Built in place: a venv embeds its own path, so it cannot be built elsewhere and moved.
  rm -rf "$tool_env"
  "$python" -m venv "$tool_env" || die "could not create a venv with $python (Debian/Ubuntu: sudo apt install python3-venv)"
  "$tool_env/bin/python" -m pip install --quiet --disable-pip-version-check "$source_spec" \
    || { rm -rf "$tool_env"; die "could not install tfsetup from $source_spec"; }
  printf '%s\n' "$want" > "$stamp"
fi

say "running: tfsetup install $*"
exec "$tool_env/bin/tfsetup" install "$@"
