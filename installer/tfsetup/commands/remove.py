"""`tfsetup remove PATH`: delete a tfsetup env and forget it, or with --forget only forget it (envs/manage.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional

from tfsetup import validate
from tfsetup.commands._common import Terminal, confirmer
from tfsetup.envs.manage import RemoveResult, forget_env, remove_env


@dataclass
class RemoveOutcome:
    command: ClassVar[str] = "remove"
    result: RemoveResult

    @property
    def exit_code(self) -> int:
        return 0 if (self.result.removed or self.result.forgotten) else 1  # 1: declined at the prompt

    def to_json(self) -> Dict[str, Any]:
        return self.result.to_json()


def run(path: Path, forget: bool, yes: bool, terminal: Optional[Terminal] = None) -> RemoveOutcome:
    """`yes`: delete without asking (else asked on the terminal; with no terminal, refused)."""
    validate.env_path(path)
    confirm = confirmer(yes, terminal or Terminal())
    return RemoveOutcome(forget_env(path) if forget else remove_env(path, confirm))
