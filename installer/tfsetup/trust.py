"""Who may have written a file tfsetup obeys (a project config, a team lock, its own state dir).

Like git's safe.directory: a file is trusted only when it and its directory belong to the current user
(or root) and nobody else can write them (no group/world write bit). On Windows there are no such
bits: everything is trusted, as before.

Every file that steers what tfsetup installs and from where (STEERING) is read through one opener,
`read_steering`, which judges the file it actually opened (fstat of the descriptor, so a file swapped
between a check and the read is not obeyed) and then the directory holding it. tests/unit/test_trust.py
lists every file read in the package and fails when a new reader of a steering file bypasses it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Union

from tfsetup.errors import BadInput
from tfsetup.inputs import MAX_BYTES, decode, read_stream

# The files that steer tfsetup, and who names them. No project key names a recipes table or a host-facts
# file: those come only from the command line (--recipes-file, --host-file), the user's own choice.
STEERING = (
    "tfsetup.toml / pyproject.toml [tool.tfsetup]: found from the current directory upwards, or named in an "
    "env's record",
    "tfsetup.lock beside either config: what `install` installs (hash-pinned, but it can add any package)",
    "the `requirements` file a config names: more packages for the lock",
)
UNTRUSTED_FIX = ("if the file is yours, `chown` it to you and `chmod go-w` it and its directory; if not, move "
                 "it away (in a project, --no-project ignores the project's files)")
WRITE_BITS = stat.S_IWGRP | stat.S_IWOTH  # either one: someone else can change the file


class Untrusted(BadInput):
    """A steering file (or its directory) another user could have written: exit 2, with the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message, fix=UNTRUSTED_FIX)


def _owner_ok(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def untrusted_reason(path: Path, is_dir: bool = False) -> Optional[str]:
    """Why `path` (a file or a directory) must not be trusted, or None when it may be."""
    if os.name == "nt" or not hasattr(os, "geteuid"):
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot stat it: {exc.strerror or exc}"
    return stat_reason(st, path, "directory" if is_dir else "file")


def stat_reason(st: os.stat_result, path: Union[str, Path], kind: str) -> Optional[str]:
    """Why a file or directory with this stat must not be trusted: another owner, or a group or world
    write bit (either one alone is enough: 0o602 is as open as 0o666)."""
    if not _owner_ok(st.st_uid):
        return f"the {kind} {path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & WRITE_BITS:
        who = "everyone" if st.st_mode & stat.S_IWOTH else "its group"
        return f"the {kind} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def file_reason(path: Path) -> Optional[str]:
    """A file and the directory holding it, both trusted (a symlink is judged by its target and the
    directory of the link itself, where anyone who can write could have replaced it)."""
    return untrusted_reason(path) or untrusted_reason(path.parent, is_dir=True) or \
        (untrusted_reason(path.resolve().parent, is_dir=True) if path.is_symlink() else None)


def private_dir_reason(path: Path) -> Optional[str]:
    """tfsetup's own state dir: a real directory (not a link), the user's own (root's files are not
    the user's here), and nobody else can write it."""
    if os.name == "nt" or not hasattr(os, "geteuid"):
        return None
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot stat it: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def read_steering(path: Union[str, Path], what: str = "project file") -> str:
    """The text of a file that steers tfsetup (STEERING), or Untrusted / BadInput (exit 2, the file named).

    The one opener for those files: the descriptor it reads is the one it judged (owner and write bits
    by fstat; a regular file, never a FIFO or a device), then the directory holding it (and, for a
    symbolic link, the directory of its target) by file_reason's rules. Bounded like every input."""
    path = Path(path)
    where = f"{what} {path}"
    try:  # O_NONBLOCK: a FIFO planted in its place must not hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise BadInput(f"cannot read {where}: {exc.strerror or exc}",
                       fix="check that the file exists and that you can read it") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise BadInput(f"{where} is not a regular file (a directory, a FIFO, a device)",
                       fix=f"replace {path} with the real file")
    reason = None
    if os.name != "nt" and hasattr(os, "geteuid"):
        reason = stat_reason(st, path, "file") or untrusted_reason(path.parent, is_dir=True) or \
            (untrusted_reason(path.resolve().parent, is_dir=True) if path.is_symlink() else None)
    if reason:
        os.close(fd)
        raise Untrusted(f"refusing the {what} {path}: {reason}")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = read_stream(handle, where, MAX_BYTES)
        except OSError as exc:
            raise BadInput(f"cannot read {where}: {exc.strerror or exc}",
                           fix="check that the file exists and that you can read it") from None
    return decode(data, where)
