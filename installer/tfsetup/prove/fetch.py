"""The edge of prove: the wheels to prove, unpacked by the backend (backends/uv.py: `uv pip install
--target DIR --python-platform ... --no-deps`, hash-checked for a lock) for the target the loader
names. The uv cache keeps them, so a second proof of the same wheels costs hard links."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional, Sequence

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import Backend, BackendError, PackageSource
from tfsetup.backends.hints import fetch_fix
from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.prove.result import Loader

EXIT_CANNOT_FETCH = EXIT_INSTALL_FAILED  # 4: nothing was proven, nothing was changed
_LOCK_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^]]*\])?==")
Progress = Callable[[str], None]  # a line as each long step starts (a spinner on a terminal: render.tty_progress)


def fetch(backend: Backend, directory: Path, python: str, loader: Loader, source: PackageSource,
          lock: Optional[Path] = None, pins: Sequence[str] = (), picked: Optional[str] = None,
          progress: Optional[Progress] = None) -> None:
    """Unpack the wheels into `directory`; TfsetupError exit 4 when they cannot be had. `picked`: the
    macOS or glibc to pick wheels for (the ones `install` would pick there; loader.fetch_target)."""
    if progress is not None:
        progress(fetching(loader.platform, python, lock, pins))
    uv_platform, extra = loader.fetch_target(picked)
    env = dict(source.env())
    env.update(extra)
    try:
        run_step("fetch", backend.install_target_dir_argv(directory, python, uv_platform, source, lock, pins),
                 env=env)
    except BackendError as exc:
        raise TfsetupError(f"cannot fetch the wheels to prove: {exc.message}", EXIT_CANNOT_FETCH,
                           fix=fetch_fix(exc.message, source, python, loader.platform)) from None


def fetching(platform: str, python: str, lock: Optional[Path], pins: Sequence[str]) -> str:
    count = len(pins) if lock is None else sum(
        1 for line in lock.read_text(encoding="utf-8", errors="replace").splitlines() if _LOCK_PIN.match(line))
    return f"fetching {count} wheel{'s' if count != 1 else ''} for {platform}, Python {python} (the uv cache keeps them) ..."


def reusing(platform: str, python: str) -> str:
    return f"using the wheels fetched before for {platform}, Python {python} ..."


def reading(site: Path) -> str:
    """'reading N files of M distributions' (their RECORDs: no walk of the tree before the real one)."""
    files = 0
    dists = 0
    for record in site.glob("*.dist-info/RECORD"):
        dists += 1
        try:
            with open(record, "rb") as fh:
                files += sum(1 for _ in fh)
        except OSError:
            continue
    return f"reading {files:,} files of {dists} distribution{'s' if dists != 1 else ''} ..."
