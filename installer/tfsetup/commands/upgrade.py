"""`tfsetup upgrade [PATH]`: the env moved to the newest (or the asked) recipe, the user's packages carried
(envs/upgrade.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Optional

from tfsetup import validate
from tfsetup.commands._common import Terminal, confirmer
from tfsetup.envs.upgrade import UpgradePlan, UpgradeResult, apply_upgrade, plan_upgrade
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.request import env_or_default


@dataclass
class UpgradeOutcome:
    command: ClassVar[str] = "upgrade"
    result: UpgradeResult

    @property
    def exit_code(self) -> int:
        return 1 if self.result.declined else 0  # a no at the prompt: nothing done

    def to_json(self) -> Dict[str, Any]:
        return self.result.to_json()


def run(path: Optional[Path], tf: Optional[str], recipes_file: Optional[Path], yes: bool,
        progress: Callable[[str], None], stage_progress: Callable[[str, str], None],
        show: Optional[Callable[[UpgradePlan], None]] = None, terminal: Optional[Terminal] = None) -> UpgradeOutcome:
    """Plan (nothing changes), show it, ask (no terminal and no --yes -> exit 2), apply."""
    validate.env_path(path)
    ask = confirmer(yes, terminal or Terminal())
    up = plan_upgrade(env_or_default(path), tf, recipes_file, progress)
    if show is not None:
        show(up)
    if up.up_to_date:
        return UpgradeOutcome(UpgradeResult(up, False))
    if ask is None:
        raise TfsetupError("upgrade replaces the env and needs confirmation, and stdin is not a terminal",
                           EXIT_BAD_INPUT, fix="pass --yes to upgrade without asking")
    if not ask(f"Upgrade {up.env} to {up.new}?"):
        return UpgradeOutcome(UpgradeResult(up, False, declined=True))
    return UpgradeOutcome(apply_upgrade(up, stage_progress))
