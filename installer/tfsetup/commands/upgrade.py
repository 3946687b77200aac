"""`tfsetup upgrade [PATH]`: the env moved to the newest (or the asked) recipe, the user's packages carried
(envs/upgrade.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from tfsetup.envs.upgrade import UpgradePlan, UpgradeResult


def run(path: Optional[Path], tf: Optional[str], recipes_file: Optional[Path],
        confirm: Optional[Callable[[UpgradePlan], bool]], progress: Callable[[str], None],
        stage_progress: Callable[[str, str], None],
        show: Optional[Callable[[UpgradePlan], None]] = None) -> UpgradeResult:
    """Plan (nothing changes), show it, ask (`confirm` None: no terminal and no --yes -> exit 2), apply."""
    from tfsetup.envs.upgrade import apply_upgrade, plan_upgrade
    from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
    from tfsetup.request import env_or_default

    up = plan_upgrade(env_or_default(path), tf, recipes_file, progress)
    if show is not None:
        show(up)
    if up.up_to_date:
        return UpgradeResult(up, False)
    if confirm is None:
        raise TfsetupError("upgrade replaces the env and needs confirmation, and stdin is not a terminal",
                           EXIT_BAD_INPUT, fix="pass --yes to upgrade without asking")
    if not confirm(up):
        return UpgradeResult(up, False, declined=True)
    return apply_upgrade(up, stage_progress)
