"""uv: `uv venv --relocatable` + `uv pip install --require-hashes` from the lock."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import BackendError, PackageSource, Target
from tfsetup.envpaths import env_python


def find_uv() -> str:
    override = os.environ.get("TFSETUP_UV")
    if override:
        return override
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        raise BackendError("uv", "the uv binary is missing; reinstall tfsetup or use --backend pip") from None


class UvBackend:
    name = "uv"

    def __init__(self) -> None:
        self.uv = find_uv()

    def create_venv(self, launch: List[str], path: Path, prompt: str) -> None:
        # Relocatable: the env is built in a staging dir and renamed into place; uv then writes
        # console scripts and activate files that find their env relative to themselves.
        run_step("create venv", [self.uv, "venv", "--quiet", "--relocatable", "--no-config",
                                 "--prompt", prompt, "--python", launch[-1], str(path)])

    def install_lock(self, launch: List[str], env: Path, lock: Path, source: PackageSource,
                     target: Target) -> None:
        # No --compile-bytecode: it compiles every .py in the env (4,400 files for tensorflow-cpu
        # 2.21, ~15 s on 2 cores), while the verification's first import (run with -I, so it writes
        # .pyc even under PYTHONDONTWRITEBYTECODE) compiles only the ~2,400 that `import
        # tensorflow` needs, and they land in the env before it is promoted (scripts/bench.py).
        argv = [self.uv, "pip", "install", "--quiet", "--python", str(env_python(env)),
                "--require-hashes", "--no-deps", "--only-binary", ":all:",
                "--no-config", "-r", str(lock)]
        if target.python_platform:
            argv += ["--python-platform", target.python_platform]
        argv += source.args(no_network=["--offline"], no_index=["--no-index"])
        run_step("install", argv, env=dict(target.env))
