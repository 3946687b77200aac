"""`tfsetup add PKG...`: the user's packages into a tfsetup env, under its lock's pins (envs/add.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

from tfsetup.envs.add import AddResult


def run(specs: Sequence[str], env: Optional[Path], progress: Callable[[str], None]) -> AddResult:
    from tfsetup.envs.add import add_packages
    from tfsetup.request import env_or_default

    return add_packages(env_or_default(env), specs, progress)
