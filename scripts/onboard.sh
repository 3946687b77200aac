#!/bin/sh
# onboard.sh — the one command a new team member runs (macOS or Linux):
#   1. finds a python3 >= 3.9; without one (a fresh Mac, whose /usr/bin/python3 is only a stub until the
#      Command Line Tools are installed) it uses uv: on PATH, $TFSETUP_UV, or else installed with uv's own
#      standalone installer (said so), and lets uv install the tool env's Python,
#   2. installs tfsetup into its own isolated env in the user's data directory
#      (from this checkout, a wheel, or the index: TFSETUP_SOURCE=path|wheel|requirement),
#   3. puts `tfsetup` in the user's bin directory (~/.local/bin, like pipx and `uv tool`: a symlink to
#      the tool env's tfsetup) and, when that directory is not on PATH, says how to add it for the
#      user's shell (--modify-path: adds it; on a terminal it asks; --no-modify-path: never asks),
#   4. runs `tfsetup install` with this script's other arguments (e.g. --yes, a PATH, --tf 2.19).
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
  if [ "${TFSETUP_PYTHON:-}" = uv ]; then return 0; fi  # asked: the tool env on a Python uv installs
  if [ -n "${TFSETUP_PYTHON:-}" ]; then
    usable_python "$TFSETUP_PYTHON" || die "TFSETUP_PYTHON=$TFSETUP_PYTHON is not a working Python >= 3.9"
    printf '%s\n' "$TFSETUP_PYTHON"; return 0
  fi
  no_clt=no
  if [ "$(uname -s)" = Darwin ] && ! xcode-select -p >/dev/null 2>&1; then no_clt=yes; fi
  for candidate in python3 /opt/homebrew/bin/python3 /usr/local/bin/python3 /usr/bin/python3; do
    found=$(command -v "$candidate" 2>/dev/null) || continue
    # without the Command Line Tools /usr/bin/python3 is a stub: running it opens an installer dialog
    if [ "$no_clt" = yes ] && [ "$found" = /usr/bin/python3 ]; then continue; fi
    if usable_python "$found"; then printf '%s\n' "$found"; return 0; fi
  done
  return 0  # none: the tool env is made with uv and a Python uv installs (find_uv)
}

find_uv() {  # a uv on PATH, $TFSETUP_UV, or uv's standalone installer (it needs the network: said first)
  if [ -n "${TFSETUP_UV:-}" ]; then
    [ -x "$TFSETUP_UV" ] || die "TFSETUP_UV=$TFSETUP_UV is not an executable uv"
    printf '%s\n' "$TFSETUP_UV"; return 0
  fi
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  say "no python3 >= 3.9 and no uv here: installing uv with its standalone installer (https://astral.sh/uv/install.sh)"
  command -v curl >/dev/null 2>&1 || die "no python3, no uv and no curl; install uv (https://docs.astral.sh/uv/) and run this again"
  curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh >&2 \
    || die "could not install uv; install it (https://docs.astral.sh/uv/) or a python3 >= 3.9, and run this again"
  for found in "${XDG_BIN_HOME:-$HOME/.local/bin}/uv" "$HOME/.cargo/bin/uv"; do
    if [ -x "$found" ]; then printf '%s\n' "$found"; return 0; fi
  done
  die "uv's installer ran but no uv was found in ~/.local/bin"
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

# --modify-path / --no-modify-path are this script's; every other argument goes to `tfsetup install`.
modify_path=ask
for arg in "$@"; do
  shift
  case "$arg" in
    --modify-path) modify_path=yes ;;
    --no-modify-path) modify_path=no ;;
    *) set -- "$@" "$arg" ;;
  esac
done

started=$(date +%s)
elapsed() { printf '%ss' "$(( $(date +%s) - started ))"; }

python=$(find_python)
uv=
if [ -z "$python" ]; then uv=$(find_uv); fi
mkdir -p "$data_dir" || die "cannot create $data_dir"

tool_pip_install() {  # tool_pip_install ARGS...: into the tool env, with its pip, or uv for a uv-made one
  if [ -x "$tool_env/bin/pip" ]; then
    "$tool_env/bin/python" -m pip install --disable-pip-version-check "$@"
  else
    "${uv:-$(find_uv)}" pip install --no-config --python "$tool_env/bin/python" "$@"
  fi
}
stamp="$tool_env/.tfsetup-source"
want=$(fingerprint)
if [ -x "$tool_env/bin/tfsetup" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ ! -d "$source_spec" ] && [ ! -f "$source_spec" ]; then
  say "updating tfsetup from the index"
  tool_pip_install --quiet --upgrade "$source_spec" || die "could not update tfsetup"
elif [ -x "$tool_env/bin/tfsetup" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "tfsetup is up to date in $tool_env"
else
  say "installing tfsetup into $tool_env (python: ${python:-one uv installs}; about a minute the first time)"
  # Built in place: a venv embeds its own path, so it cannot be built elsewhere and moved.
  rm -rf "$tool_env"
  if [ -n "$python" ]; then
    say "  1/2 creating the tool env (python -m venv) ..."
    "$python" -m venv "$tool_env" || die "could not create a venv with $python (Debian/Ubuntu: sudo apt install python3-venv)"
  else
    # uv downloads a native CPython (python-build-standalone) into its own store when none is installed
    say "  1/2 creating the tool env with $uv and a Python it installs (uv venv --managed-python) ..."
    # a uv-managed Python >= 3.9 already installed, else the newest uv installs (--no-bin: nothing on PATH)
    if ! "$uv" venv --quiet --no-config --managed-python --no-python-downloads --python '>=3.9' "$tool_env" \
         >/dev/null 2>&1; then
      rm -rf "$tool_env"
      say "     uv is installing a Python (python-build-standalone, into its own store) ..."
      "$uv" python install --no-config --no-bin >&2 || die "uv could not install a Python (network? mirror?)"
      "$uv" venv --quiet --no-config --managed-python --no-python-downloads --python '>=3.9' "$tool_env" >&2 \
        || { rm -rf "$tool_env"; die "uv could not create the tool env"; }
    fi
  fi
  say "  2/2 installing tfsetup and its dependencies (typer, rich, packaging, platformdirs, uv) ... ($(elapsed) so far)"
  # On a terminal pip shows what it downloads; captured (CI, scripts) it stays quiet.
  if [ -t 2 ]; then quiet=--progress-bar=on; else quiet=--quiet; fi
  if [ -z "$python" ]; then quiet=--quiet; fi
  tool_pip_install "$quiet" "$source_spec" >&2 \
    || { rm -rf "$tool_env"; die "could not install tfsetup from $source_spec"; }
  printf '%s\n' "$want" > "$stamp"
  say "tfsetup installed in $(elapsed)"
fi

# The command on PATH, as pipx and `uv tool` do it: a symlink in the user's bin directory.
bin_dir="${XDG_BIN_HOME:-$HOME/.local/bin}"
link="$bin_dir/tfsetup"
linked=no
mkdir -p "$bin_dir" 2>/dev/null || true
if [ -L "$link" ] || [ ! -e "$link" ]; then
  current=$(readlink "$link" 2>/dev/null || true)
  case "$current" in
    ""|*/tool-env/bin/tfsetup)  # nothing there, or ours (from this or an older tool env)
      ln -sf "$tool_env/bin/tfsetup" "$link" && linked=yes ;;
    *) say "warning: $link points to $current; left as it is (tfsetup is at $tool_env/bin/tfsetup)" ;;
  esac
else
  say "warning: $link exists and is not a link; left as it is (tfsetup is at $tool_env/bin/tfsetup)"
fi

# How to put bin_dir on PATH for this user's shell, and in which file.
case "$bin_dir" in
  "$HOME"/*) bin_expr="\$HOME/${bin_dir#"$HOME"/}" ;;
  *) bin_expr=$bin_dir ;;
esac
shell_name=$(basename "${SHELL:-sh}")
case "$shell_name" in
  zsh) rc_files="$HOME/.zshrc"; path_line="export PATH=\"$bin_expr:\$PATH\"" ;;
  bash)
    # Terminal on macOS starts login shells (~/.bash_profile); on Linux a terminal reads ~/.bashrc and a
    # login shell ~/.bash_profile, else ~/.profile.
    if [ "$(uname -s)" = Darwin ]; then rc_files="$HOME/.bash_profile"
    elif [ -f "$HOME/.bash_profile" ]; then rc_files="$HOME/.bashrc $HOME/.bash_profile"
    else rc_files="$HOME/.bashrc $HOME/.profile"; fi
    path_line="export PATH=\"$bin_expr:\$PATH\"" ;;
  fish) rc_files="$HOME/.config/fish/config.fish"; path_line="fish_add_path \"$bin_expr\"" ;;
  *) rc_files="$HOME/.profile"; path_line="export PATH=\"$bin_expr:\$PATH\"" ;;
esac

add_to_path() {
  for rc in $rc_files; do
    mkdir -p "$(dirname "$rc")"
    if [ -f "$rc" ] && grep -qF "$path_line" "$rc"; then continue; fi
    printf '\n# added by tfsetup onboarding: the user bin directory (tfsetup)\n%s\n' "$path_line" >> "$rc"
    say "added to $rc: $path_line"
  done
}

on_path=no
case ":${PATH:-}:" in *":$bin_dir:"*) on_path=yes ;; esac
if [ "$linked" = yes ] && [ "$on_path" = no ]; then
  if [ "$modify_path" = ask ] && [ -t 0 ] && [ -t 2 ]; then
    printf 'onboard: %s is not on your PATH. Add it in %s? [y/N] ' "$bin_dir" "$rc_files" >&2
    read -r answer || answer=n
    case "$answer" in [yY]*) modify_path=yes ;; *) modify_path=no ;; esac
  fi
  if [ "$modify_path" = yes ]; then add_to_path; fi
fi

report_path() {  # the last words: where tfsetup is, and how to reach it
  if [ "$linked" = yes ]; then say "tfsetup is installed as $link (-> $tool_env/bin/tfsetup)"; fi
  if [ "$linked" = yes ] && [ "$on_path" = no ]; then
    if [ "$modify_path" = yes ]; then
      say "open a new terminal (or run: $path_line) and \`tfsetup\` works"
    else
      say "$bin_dir is not on your PATH ($shell_name). Add it:"
      for rc in $rc_files; do
        printf '    echo '"'"'%s'"'"' >> %s\n' "$path_line" "$rc" >&2
      done
      say "then open a new terminal (or run: $path_line), or run this script with --modify-path"
    fi
  fi
}

say "running: tfsetup install $* ($(elapsed) so far)"
status=0
"$tool_env/bin/tfsetup" install "$@" || status=$?
report_path
exit "$status"
