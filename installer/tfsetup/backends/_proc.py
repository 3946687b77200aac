"""Run an engine's command; failures become BackendError with the useful tail of its output."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Callable, Dict, List, Optional, Tuple

from tfsetup.backends.base import BackendError


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


def engine_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The explicit environment every engine child runs with (see ENGINE_PASS)."""
    env = {}
    for key, value in os.environ.items():
        if key in DROPPED:
            continue
        if key.startswith(("PIP_", "UV_")) and key not in ENGINE_PASS and not key.startswith(ENGINE_PASS_PREFIXES):
            continue
        env[key] = value
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: it could set target/prefix/user like the variables
    env.update(extra or {})
    return env


def run_step(step: str, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 3600,
             on_line: Optional[Callable[[str], None]] = None) -> str:
    """Run an engine command; its output is returned, and with `on_line` each line is also passed on as
    it arrives (uv's "Downloading tensorflow-cpu (240.1MiB)" while a cold cache fills)."""
    full_env = engine_env(env)
    try:
        if on_line is None:
            proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout,
                                  stdin=subprocess.DEVNULL, errors="replace")
            returncode, output = proc.returncode, proc.stderr or proc.stdout
        else:
            returncode, output = _streamed(argv, full_env, timeout, on_line)
            proc = None
    except FileNotFoundError:
        raise BackendError(step, f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BackendError(step, f"timed out after {timeout:g}s") from None
    if returncode != 0:
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        if returncode < 0:  # killed by a signal: say which, and why that usually happens
            lines.append(killed_by(os.path.basename(argv[0]), -returncode))
        raise BackendError(step, "\n".join(lines[-12:]) or f"exit code {returncode}")
    return proc.stdout if proc is not None else output


def _streamed(argv: List[str], env: Dict[str, str], timeout: float, on_line: Callable[[str], None]) -> Tuple[int, str]:
    """(returncode, stdout+stderr) of a child whose lines are handed to `on_line` as they come; killed
    at the deadline (TimeoutExpired) or when tfsetup itself is interrupted."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, env=env, errors="replace")
    fired = threading.Event()

    def deadline() -> None:
        fired.set()
        proc.kill()

    timer = threading.Timer(timeout, deadline)
    timer.start()
    lines: List[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    if fired.is_set():
        raise subprocess.TimeoutExpired(argv, timeout)
    return returncode, "".join(lines)


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
