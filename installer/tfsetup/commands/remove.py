"""`tfsetup remove PATH`: delete a tfsetup env and forget it, or with --forget only forget it (envs/manage.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from tfsetup.envs.manage import RemoveResult


def run(path: Path, forget: bool, confirm: Optional[Callable[[str], bool]]) -> RemoveResult:
    from tfsetup.envs.manage import forget_env, remove_env

    return forget_env(path) if forget else remove_env(path, confirm)
