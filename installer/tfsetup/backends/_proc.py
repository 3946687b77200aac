"""Run an engine's command; failures become BackendError with the useful tail of its output."""
from __future__ import annotations

import os
import signal
import subprocess
from typing import Dict, List, Optional

from tfsetup.backends.base import BackendError


def run_step(step: str, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 3600) -> str:
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except FileNotFoundError:
        raise BackendError(step, f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BackendError(step, f"timed out after {timeout:g}s") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        if proc.returncode < 0:  # killed by a signal: say which, and why that usually happens
            lines.append(killed_by(os.path.basename(argv[0]), -proc.returncode))
        raise BackendError(step, "\n".join(lines[-12:]) or f"exit code {proc.returncode}")
    return proc.stdout


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
