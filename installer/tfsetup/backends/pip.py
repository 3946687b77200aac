"""pip: `python -m venv` + `pip install --require-hashes` from the lock (the fallback engine)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import HASHED_LOCK, BackendError, PackageSource, Target

PIP = ("-m", "pip")
QUIET = ("--disable-pip-version-check", "--no-input")


class PipBackend:
    """The env's own pip, started the way the env's python is launched, so it picks native wheels."""

    name = "pip"

    def create_venv(self, launch: List[str], path: Path, prompt: str) -> None:
        run_step("create venv", list(launch) + ["-m", "venv", "--prompt", prompt, str(path)])

    def install_lock_argv(self, python: Sequence[str], lock: Path, source: PackageSource,
                          target: Target) -> List[str]:
        argv = [*python, *PIP, "install", "--quiet", *QUIET, *HASHED_LOCK, "-r", os.path.abspath(lock)]
        return argv + source.args(no_network=["--no-index"], no_index=[])

    def install_packages_argv(self, python: Sequence[str], specs: Sequence[str], constraints: Path,
                              source: PackageSource) -> List[str]:
        return [*python, *PIP, "install", *QUIET, "-c", str(constraints),
                *source.args(no_network=["--no-index"], no_index=[]), *specs]

    def uninstall_argv(self, python: Sequence[str], names: Sequence[str]) -> List[str]:
        return [*python, *PIP, "uninstall", "-y", *QUIET[:1], *names]

    def install_target_dir_argv(self, directory: Path, python_version: str, python_platform: str,
                                source: PackageSource, lock: Optional[Path] = None,
                                specs: Sequence[str] = ()) -> List[str]:
        # pip would need every macOS platform tag spelled out (--platform macosx_12_0_arm64 ...).
        raise BackendError("fetch", "fetching wheels for another platform needs uv")

    def compile_argv(self, requirements: Path, constraints: Path, python: Sequence[str], source: PackageSource,
                     lowest: bool = False) -> List[str]:
        # pip has no resolve-only mode with hashes (`pip-compile` is another tool): tfsetup resolves with uv.
        raise BackendError("resolve", "resolving packages needs uv, which is missing")
