"""Run a python child that must not outlive tfsetup: a deadline, and a kill on Ctrl-C or any error."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, List


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def clean_env() -> Dict[str, str]:
    """The env must stand on its own: nothing from the caller's Python settings leaks in."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(key, None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ chatter hides the real error
    return env


def run_child(argv: List[str], timeout: float) -> ChildResult:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=clean_env(), errors="replace")
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        timed_out = True
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ChildResult(proc.returncode, stdout or "", stderr or "", time.perf_counter() - started, timed_out)
