"""Install engines behind one interface (see base.Backend)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import Backend, BackendError, PackageSource, Target
from tfsetup.backends.pip import PipBackend
from tfsetup.backends.uv import UvBackend


def get_backend(name: str, uv: Optional[str] = None) -> Backend:
    if name == "uv":
        return UvBackend(uv)
    if name == "pip":
        return PipBackend()
    raise BackendError("backend", f"unknown backend {name!r}; choose uv or pip")


def install_lock(backend: Backend, python: Sequence[str], lock: Path, source: PackageSource, target: Target,
                 on_download: Optional[Callable[[str], None]] = None) -> None:
    """`on_download` hears the engine's "Downloading <package> (<size>)" lines as they come."""
    env = dict(target.env)
    env.update(source.env())  # index credentials: in the environment, never on the argv

    def on_line(line: str) -> None:
        if on_download is not None and line.startswith("Downloading "):
            on_download(line)

    run_step("install", backend.install_lock_argv(python, lock, source, target), env=env,
             on_line=on_line if on_download is not None else None)


@contextlib.contextmanager
def constraints_file(pins: Dict[str, str]) -> Iterator[Path]:
    """A lock's pins as a constraints file (`name==version` lines), for the user's packages to be resolved
    and installed against: nothing in the verified set may move. Deleted when the block ends."""
    fd, path = tempfile.mkstemp(prefix="tfsetup-constraints-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{k}=={v}\n" for k, v in sorted(pins.items())))
        yield Path(path)
    finally:
        os.unlink(path)
