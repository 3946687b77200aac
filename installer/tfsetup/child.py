"""Run a python child that must not outlive tfsetup: a deadline, and a kill on Ctrl-C or any error."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional


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


def run_child(argv: List[str], timeout: float, on_tick: Optional[Callable[[], None]] = None,
              tick_s: float = 0.1) -> ChildResult:
    """Run argv to its end, or kill it at the deadline (timed_out) or on any exception (Ctrl-C).
    `on_tick`: called every `tick_s` while it runs and once after it ends (e.g. to stream a report
    file as it grows); the deadline and the kill do not depend on it."""
    # Its own temp dir, deleted when it ends: TensorFlow leaves a generated module there for every
    # function autograph traces (the training check), which would pile up in /tmp with each verify.
    scratch = tempfile.mkdtemp(prefix="tfsetup-child-")
    env = dict(clean_env(), TMPDIR=scratch, TEMP=scratch, TMP=scratch)
    try:
        return _run(argv, timeout, env, on_tick, tick_s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(argv: List[str], timeout: float, env: Dict[str, str], on_tick: Optional[Callable[[], None]],
         tick_s: float) -> ChildResult:
    started = time.perf_counter()
    deadline = started + timeout
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env, errors="replace")
    timed_out = False
    try:
        while True:
            left = deadline - time.perf_counter()
            try:
                stdout, stderr = proc.communicate(timeout=max(0.0, min(left, tick_s) if on_tick else left))
                break
            except subprocess.TimeoutExpired:  # communicate may be called again: nothing read is lost
                if time.perf_counter() >= deadline:
                    proc.kill()
                    stdout, stderr = proc.communicate()
                    timed_out = True
                    break
                if on_tick is not None:
                    on_tick()
        if on_tick is not None:
            on_tick()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ChildResult(proc.returncode, stdout or "", stderr or "", time.perf_counter() - started, timed_out)


class LineFollower:
    """Calls `on_line` with each complete new line of a file another process appends to (the
    verification probe's report), as it is written. For display only: what counts is read at the end."""

    def __init__(self, path: str, on_line: Callable[[str], None], limit: int = 1 << 20) -> None:
        self.path, self.on_line, self.limit = path, on_line, limit
        self._offset = 0
        self._partial = b""

    def __call__(self) -> None:
        if self._offset >= self.limit:
            return
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read(self.limit - self._offset)
        except OSError:  # not created yet
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.on_line(line.decode("utf-8", "replace"))
