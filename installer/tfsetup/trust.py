"""Who may have written a file tfsetup obeys (a project config, a team lock, its own state dir).

Like git's safe.directory: a file is trusted only when it and its directory belong to the current user
(or root) and nobody else can write them (no group/world write bit). On Windows there are no such
bits: everything is trusted, as before.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional


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
    kind = "directory" if is_dir else "file"
    if not _owner_ok(st.st_uid):
        return f"the {kind} {path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
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
