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
import stat
from pathlib import Path
from typing import List, Optional

from tfsetup import child
from tfsetup.state import cache_state_dir

PROBE = str(Path(__file__).resolve().parent / "probes" / "bytecode.py")
KEY_FILE = "key"


def cache_dir() -> Optional[Path]:
    return cache_state_dir("bytecode")


def key_file(cache: Path) -> Optional[Path]:
    """The cache's HMAC key: 32 random bytes, 0600, made once (O_EXCL, never through a link)."""
    path = cache / KEY_FILE
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(32))
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077 or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
        return None  # a key others could read or replace is no key
    return path


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
    key = key_file(cache) if cache is not None and dirs else None
    if cache is None or key is None:
        return
    try:  # it writes into the env: the one runner, so a rollback stops it first
        child.run(list(python_cmd) + ["-I", "-S", PROBE, "restore", str(cache), str(key)] + dirs, timeout,
                  _probe_env())
    except OSError:
        pass


def harvest_later(python_cmd: List[str], env: Path) -> None:
    """Start the harvest and return at once; it only reads the env and writes the cache atomically."""
    cache = cache_dir()
    dirs = site_dirs(env)
    key = key_file(cache) if cache is not None and dirs else None
    if cache is None or key is None:
        return
    argv = list(python_cmd) + ["-I", "-S", PROBE, "harvest", str(cache), str(key)] + dirs
    nice = shutil.which("nice")
    if nice:  # after the user has their env, at low priority
        argv = [nice, "-n", "10"] + argv
    try:
        child.start_detached(argv, _probe_env())
    except OSError:
        pass


def _probe_env() -> dict:
    """A deliberate environment: the caller's, without Python settings that could load other code."""
    return child.clean_env()


def has_tf_pycs(env: Path) -> bool:
    """Whether TensorFlow's modules already have their .pyc in `env` (restored from the cache): if not,
    its first import compiles ~2,400 modules, which progress should say."""
    return any(env.glob("lib/python3*/site-packages/tensorflow/__pycache__/__init__.*.pyc")) or \
        any(env.glob("Lib/site-packages/tensorflow/__pycache__/__init__.*.pyc"))
