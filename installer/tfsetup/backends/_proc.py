"""Run an engine's command; failures become BackendError with the useful tail of its output."""
from __future__ import annotations

import os
import signal
from typing import Callable, Dict, List, Optional

from tfsetup import child
from tfsetup.backends.base import BackendError
from tfsetup.credentials import refuse_secret_argv


# What an engine may take from the user's environment: where it caches, how it reaches the network
# (proxies, certificates, credentials, mirrors; hashes are enforced whatever the index). Any other
# PIP_*/UV_* setting could change where packages go (PIP_TARGET, PIP_PREFIX), how they are placed
# (UV_LINK_MODE=symlink) or what is installed (UV_EXCLUDE, UV_CONSTRAINT, PIP_NO_DEPS...): dropped.
ENGINE_PASS = {
    "UV_CACHE_DIR", "UV_NO_CACHE", "UV_NATIVE_TLS", "UV_HTTP_TIMEOUT", "UV_REQUEST_TIMEOUT", "UV_HTTP_RETRIES",
    "UV_CONCURRENT_DOWNLOADS", "UV_CONCURRENT_INSTALLS", "UV_INSECURE_HOST", "UV_KEYRING_PROVIDER",
    "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_OFFLINE", "UV_NO_PROGRESS",
    "UV_FIND_LINKS", "UV_NO_INDEX", "PIP_FIND_LINKS", "PIP_NO_INDEX",
    # where uv keeps the managed Pythons tfsetup asks it for, and where it downloads them from
    "UV_PYTHON_INSTALL_DIR", "UV_PYTHON_INSTALL_MIRROR", "UV_PYTHON_DOWNLOADS_JSON_URL",
    "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_TIMEOUT",
    "PIP_RETRIES", "PIP_TRUSTED_HOST", "PIP_KEYRING_PROVIDER", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
}
ENGINE_PASS_PREFIXES = ("UV_INDEX_",)  # UV_INDEX_<NAME>_USERNAME / _PASSWORD: index credentials
DROPPED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "CONDA_PREFIX")


# A lock's cross-resolution takes from the user only where uv caches and whether it may go online: its
# indexes and find-links come from the config alone (a user's UV_INDEX would change the team's lock), and
# the macOS version that decides which wheels count comes from the recipe (passed in `extra`).
LOCK_PASS = {"UV_CACHE_DIR", "UV_OFFLINE"}


def engine_env(extra: Optional[Dict[str, str]] = None, lock: bool = False) -> Dict[str, str]:
    """The explicit environment every engine child runs with (see ENGINE_PASS; LOCK_PASS with `lock`)."""
    env = {}
    for key, value in os.environ.items():
        if key in DROPPED or (lock and key == "MACOSX_DEPLOYMENT_TARGET"):
            continue
        if key.startswith(("PIP_", "UV_")) and not _passes(key, lock):
            continue
        env[key] = value
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: it could set target/prefix/user like the variables
    if lock:
        env["UV_NO_CONFIG"] = "1"  # no uv.toml either (the argv says --no-config too)
    env.update(extra or {})
    return env


def _passes(key: str, lock: bool) -> bool:
    if lock:
        return key in LOCK_PASS
    return key in ENGINE_PASS or key.startswith(ENGINE_PASS_PREFIXES)


def run_engine(argv: List[str], env: Dict[str, str], timeout: float, merge: bool = False,
               on_line: Optional[Callable[[str], None]] = None, stdin: Optional[str] = None) -> child.ChildResult:
    """Start an engine command through the one child runner (child.run: registered before a signal can
    land, killed and reaped on any exception) with `env` (an engine_env). FileNotFoundError when the
    engine is missing; its exit code, output and timeout are the caller's to judge."""
    refuse_secret_argv(argv)  # credentials travel in `env`: a command line is readable by every user (ps)
    return child.run(argv, timeout, env, merge=merge, on_line=on_line, stdin=stdin)


def run_step(step: str, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 3600,
             on_line: Optional[Callable[[str], None]] = None) -> str:
    """Run an engine command through the one child runner (child.run: registered before a signal can land,
    killed and reaped on any exception); its output is returned, and with `on_line` each line is also
    passed on as it arrives (uv's "Downloading tensorflow-cpu (240.1MiB)" while a cold cache fills)."""
    try:
        result = run_engine(argv, engine_env(env), timeout, merge=on_line is not None, on_line=on_line)
    except FileNotFoundError:
        raise BackendError(step, f"{argv[0]} not found") from None
    if result.timed_out:
        raise BackendError(step, f"timed out after {timeout:g}s")
    if result.returncode != 0:
        output = result.stderr or result.stdout
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        if result.returncode < 0:  # killed by a signal: say which, and why that usually happens
            lines.append(killed_by(os.path.basename(argv[0]), -result.returncode))
        raise BackendError(step, "\n".join(lines[-12:]) or f"exit code {result.returncode}")
    return result.stdout


SIGNAL_CAUSES = {
    "SIGXFSZ": "the file size limit (ulimit -f) was exceeded",
    "SIGKILL": "the system ran out of memory, or someone killed it",
    "SIGSEGV": "it crashed",
    "SIGBUS": "it crashed (bus error: often a full disk under a memory-mapped file)",
}


def killed_by(program: str, signum: int) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    cause = SIGNAL_CAUSES.get(name)
    return f"{program} was killed by {name}" + (f": {cause}" if cause else "")
