"""tfsetup's own state directory (locks, caches, the registry of envs) and its private file I/O."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import List, Optional

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.output import err
from tfsetup.trust import private_dir_reason


def state_dir() -> Path:
    """tfsetup's own state (locks, caches, the registry of envs): TFSETUP_STATE_DIR or the user cache.
    Only the path: private_state_dir() creates and checks it."""
    state = os.environ.get("TFSETUP_STATE_DIR")
    if not state:
        from platformdirs import user_cache_dir  # lazy: start-up time (~45 ms, measured; unused with TFSETUP_STATE_DIR)

        state = user_cache_dir("tfsetup")
    return Path(state)


def private_state_dir(sub: str = "") -> Path:
    """The state dir (or its folder `sub`), created 0700 and checked: a real directory of this user's
    that nobody else can write (a cache or lock another user could plant files in would let them
    run code in every new env). Raises TfsetupError (exit 2) with the fix; never creates a directory
    when HOME is missing (no state dir outside HOME unless TFSETUP_STATE_DIR/XDG_CACHE_HOME say so)."""
    fix = "set TFSETUP_STATE_DIR to a directory of your own that only you can write"
    explicit = os.environ.get("TFSETUP_STATE_DIR") or os.environ.get("XDG_CACHE_HOME")
    home = os.path.expanduser("~")
    if not explicit and os.name != "nt" and not os.path.isdir(home):
        raise TfsetupError(f"HOME ({home}) is not a directory: tfsetup has nowhere to keep its state",
                           EXIT_BAD_INPUT, fix=f"set HOME to your home directory, or {fix}")
    root = state_dir()
    path = root / sub if sub else root
    for folder in (root, path):
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TfsetupError(f"cannot create tfsetup's state directory {folder}: {exc.strerror or exc}",
                               EXIT_BAD_INPUT, fix=fix) from None
        reason = private_dir_reason(folder)
        if reason:
            raise TfsetupError(f"refusing tfsetup's state directory: {reason}", EXIT_BAD_INPUT,
                               fix=f"`chmod 700 {folder}` if it is yours, or {fix}")
    return path


_warned: List[str] = []


def cache_state_dir(sub: str) -> Optional[Path]:
    """Like private_state_dir, for a cache: None (with one warning on stderr) when it is unusable, so a
    cache never fails a command. TFSETUP_NO_CACHE=1: None, silently."""
    if os.environ.get("TFSETUP_NO_CACHE"):
        return None
    try:
        return private_state_dir(sub)
    except TfsetupError as exc:
        if not _warned:
            err(f"tfsetup: warning: caches disabled: {exc.message}")
            _warned.append(exc.message)
        return None


def read_private(path: Path, limit: int) -> Optional[bytes]:
    """A file of the state dir, never through a symlink, at most `limit` bytes; None when unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(limit + 1)
    return data if len(data) <= limit else None


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace a file of the state dir: a fresh unguessable temporary (O_EXCL: a planted
    link is never followed), then a rename, which replaces a link instead of writing through it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
