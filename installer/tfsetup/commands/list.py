"""`tfsetup list`: the envs tfsetup made on this machine and their status (envs/manage.py), judged by
doctor's fast pass (no TensorFlow import) and the record (doctor/status.py)."""
from __future__ import annotations

from tfsetup.envs.manage import ListResult


def run(prune: bool) -> ListResult:
    from tfsetup.commands._common import load_host, load_table
    from tfsetup.envs.manage import list_envs

    return list_envs(prune, load_host(None, with_pythons=False), load_table(None))
