"""`tfsetup list`: the envs tfsetup made on this machine and their status (envs/manage.py), judged by
doctor's fast pass (no TensorFlow import) and the record (doctor/status.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict

from tfsetup.commands._common import load_host, load_table
from tfsetup.envs.manage import ListResult, list_envs


@dataclass
class ListOutcome:
    command: ClassVar[str] = "list"
    result: ListResult
    exit_code: int = 0

    def to_json(self) -> Dict[str, Any]:
        return self.result.to_json()


def run(prune: bool) -> ListOutcome:
    return ListOutcome(list_envs(prune, load_host(None, with_pythons=False), load_table(None)))
