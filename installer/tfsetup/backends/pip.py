"""pip: `python -m venv` + `pip install --require-hashes` from the lock (the fallback engine)."""
from __future__ import annotations

from pathlib import Path
from typing import List

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import PackageSource, Target
from tfsetup.envpaths import env_python, relaunch


class PipBackend:
    name = "pip"

    def create_venv(self, launch: List[str], path: Path, prompt: str) -> None:
        run_step("create venv", list(launch) + ["-m", "venv", "--prompt", prompt, str(path)])

    def install_lock(self, launch: List[str], env: Path, lock: Path, source: PackageSource,
                     target: Target) -> None:
        # The env's own pip, launched like the base interpreter, so it picks native wheels.
        argv = relaunch(launch, env_python(env)) + [
            "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
            "--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(lock)]
        argv += source.args(no_network=["--no-index"], no_index=[])
        run_step("install", argv, env=dict(target.env))
