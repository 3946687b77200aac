"""Run an engine's command; failures become BackendError with the useful tail of its output."""
from __future__ import annotations

import os
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
        raise BackendError(step, "\n".join(lines[-12:]) or f"exit code {proc.returncode}")
    return proc.stdout
