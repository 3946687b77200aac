"""Bytecode reuse across envs (the edge: runs probes/bytecode.py in the env).

Before verification, cached checked-hash pycs are placed next to identical sources, so the first
`import tensorflow` of a second env from the same lock skips compiling ~2,400 modules (measured:
11-12 s -> ~5 s on 2 cores, scripts/bench.py). After promotion, the env's fresh pycs are harvested
into the cache by a detached, low-priority process, so a first install pays nothing extra.
TFSETUP_NO_CACHE=1 turns both off.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

from tfsetup.envpaths import state_dir

PROBE = str(Path(__file__).resolve().parent / "probes" / "bytecode.py")


def cache_dir() -> Optional[Path]:
    return None if os.environ.get("TFSETUP_NO_CACHE") else state_dir() / "bytecode"


def site_dirs(env: Path) -> List[str]:
    if os.name == "nt":
        candidates = [env / "Lib" / "site-packages"]
    else:
        candidates = sorted((env / "lib").glob("python3*/site-packages"))
    return [str(p) for p in candidates if p.is_dir()]


def restore(python_cmd: List[str], env: Path, timeout: float = 120) -> None:
    """Best effort: a failure only means the first import compiles as usual."""
    cache = cache_dir()
    dirs = site_dirs(env)
    if cache is None or not dirs or not cache.is_dir():
        return
    try:
        subprocess.run(list(python_cmd) + ["-I", PROBE, "restore", str(cache)] + dirs, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        pass


def harvest_later(python_cmd: List[str], env: Path) -> None:
    """Start the harvest and return at once; it only reads the env and writes the cache atomically."""
    cache = cache_dir()
    dirs = site_dirs(env)
    if cache is None or not dirs:
        return
    argv = list(python_cmd) + ["-I", PROBE, "harvest", str(cache)] + dirs
    nice = shutil.which("nice")
    if nice:  # after the user has their env, at low priority
        argv = [nice, "-n", "10"] + argv
    try:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass
