"""`tfsetup list`: the envs tfsetup made on this machine and their status (envs/manage.py)."""
from __future__ import annotations

from tfsetup.envs.manage import ListResult


def run(prune: bool) -> ListResult:
    from tfsetup.envs.manage import list_envs

    return list_envs(prune)
