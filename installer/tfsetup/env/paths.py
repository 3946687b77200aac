"""Where things are inside an environment, on every OS; which path names it (one identity rule for every
command); and how a file inside it is replaced."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List

from tfsetup.env.record import RECORD_FILE
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError

# What `python -m venv`, `uv venv`, pip and tfsetup put at an env's root. Anything else there is the
# user's (a project made with `python -m venv .`): no replace or remove ever deletes it.
VENV_ENTRIES = frozenset({"bin", "Scripts", "lib", "lib64", "Lib", "include", "Include", "share", "etc",
                          "man", "pyvenv.cfg", ".gitignore", "CACHEDIR.TAG", "tfsetup-env.json", ".lock"})


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def env_python(env: Path) -> Path:
    return bin_dir(env) / ("python.exe" if os.name == "nt" else "python")


def is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def is_conda_env(path: Path) -> bool:
    return (path / "conda-meta").is_dir()


def is_tfsetup_env(path: Path) -> bool:
    return is_venv(path) and (path / RECORD_FILE).is_file()


def resolve_env_path(path: "os.PathLike[str] | str", follow: bool = True) -> Path:
    """PATH as the kernel resolves it, once, for every command: the real path of its parent (symlinks
    resolved before `..`, component by component, so `x/link/../env` is the `env` beside the link's
    target, not `x/env`) joined with its name.

    A symlink as the last component is followed when it names a directory (`follow`): the env is that
    directory, and changing it through the link leaves the link working, as `cd link` would; a command
    that deletes (remove) asks follow=False and refuses a link rather than leave it dangling. A dangling
    link, or one to a file, is kept as it is, for the caller's error to name."""
    text = os.path.expanduser(os.fspath(path))
    head, name = os.path.split(text.rstrip(os.sep) or os.sep)
    if name in ("", os.curdir, os.pardir):
        return Path(os.path.realpath(text))
    joined = os.path.join(os.path.realpath(head or os.curdir), name)
    if follow and os.path.islink(joined) and os.path.isdir(joined):
        return Path(os.path.realpath(joined))
    return Path(joined)


def running_env() -> Path:
    """The env tfsetup itself runs from (its tool env, or whatever env it was installed into): never
    replaced, added to, upgraded or removed."""
    return Path(os.path.realpath(sys.prefix))


def foreign_files(env: Path) -> List[str]:
    """The entries at the env's root that no venv tool put there (the user's files), sorted."""
    return sorted(p.name for p in env.iterdir() if p.name not in VENV_ENTRIES)


def name_some(names: List[str], most: int = 8) -> str:
    """"a, b and 3 more": the first `most` names of a list, for a message."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def dir_identity(path: Path) -> str:
    """What names PATH whatever its spelling: the device and inode of its parent directory, and its
    name. Falls back to the resolved text while the parent does not exist yet."""
    try:
        st = os.stat(path.parent)
    except OSError:
        return "path:" + os.path.realpath(path)
    return f"{st.st_dev}:{st.st_ino}:{os.fsencode(path.name).hex()}"


def check_env_dir(env: Path) -> None:
    """A clear error for a PATH that cannot be an environment at all."""
    fix = "give the path of a Python environment (a venv or a conda env), e.g. one made by `tfsetup install`"
    if not env.exists():
        target = f" (a link to {os.readlink(env)}, which is missing)" if env.is_symlink() else ""
        raise TfsetupError(f"{env} does not exist{target}", EXIT_BAD_INPUT, fix=fix)
    if not env.is_dir():
        raise TfsetupError(f"{env} is a file, not an environment", EXIT_BAD_INPUT, fix=fix)


def replace_file(path: Path, data: bytes) -> None:
    """Write `path` as a new file renamed over the old one, keeping its mode: never into the old file,
    whose inode a repair's hard-link backup shares (an in-place write would change the backup too)."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    tmp = path.with_name(f".{path.name}.tfsetup-new")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
