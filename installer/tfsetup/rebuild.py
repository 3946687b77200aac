"""A fresh env beside PATH that replaces the one there: build it from a lock, add the user's packages,
verify it, record it, swap it in. Shared by `tfsetup upgrade` and `doctor --fix`'s rebuild, inside the
caller's Transaction: PATH is untouched until the swap, and any failure before it leaves PATH as it was.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple

from tfsetup.backends.base import Backend, PackageSource
from tfsetup.env.paths import env_python
from tfsetup.host.facts import HostFacts
from tfsetup.install import InstallFailed, broken_scripts, build_env, check_replaceable, relocate_scripts
from tfsetup.plan import Plan
from tfsetup.platforms import relaunch
from tfsetup.txn import Transaction
from tfsetup.verify import VerifyResult

Stage = Callable[[str], ContextManager[Any]]  # stage("install"): progress and timing around one step


def build_verify_promote(txn: Transaction, plan: Plan, facts: HostFacts, backend: Backend, source: PackageSource,
                         stage: Stage, add_packages: Callable[[List[str]], None],
                         verify: Callable[[Path, List[str]], VerifyResult],
                         record: Callable[[Path, VerifyResult], Dict[str, Any]],
                         planned_from: Optional[Dict[str, Any]] = None) -> Tuple[VerifyResult, Dict[str, Any]]:
    """The one replace step of `upgrade` and the rebuild: under the transaction's lock, the record the caller
    planned from (`planned_from`) must still be PATH's (else another tfsetup changed the env meanwhile, e.g.
    an `add`, and carrying the plan out would lose that change: refused, nothing changed); the swap refuses
    an env that holds the user's files (install.check_replaceable, again just before the rename).

    Build `plan` in a new stage of `txn`, then `add_packages(launch)`, `verify(staging, launch)` (raises
    to refuse the env), `record(staging, verification)` (writes the record, returns it), and promote.
    `launch` is the staged env's python as the plan launches it."""
    check_unchanged(txn.target, planned_from)
    check_replaceable(txn.target)  # before the build: a user's file costs no wasted work
    staging = txn.new_stage()
    build_env(plan, facts, backend, staging, txn.target, Path(plan.lock.path), source, stage)
    launch = relaunch(plan.launch, env_python(staging))
    add_packages(launch)
    with stage("verify"):
        verification = verify(staging, launch)
    written = record(staging, verification)
    with stage("promote"):
        relocate_scripts(staging, staging, txn.target)
        broken = broken_scripts(staging, final=txn.target)
        if broken:
            raise InstallFailed(f"console scripts would not run after the move: {', '.join(broken[:3])}")
        txn.promote(staging, lambda target: (check_unchanged(target, planned_from), check_replaceable(target)))
    return verification, written


def check_unchanged(target: Path, planned_from: Optional[Dict[str, Any]]) -> None:
    """Re-read PATH's record under the lock: the plan holds only for the record it was made from."""
    if planned_from is None:
        return
    from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError
    from tfsetup.env.record import read_record

    if read_record(target) != planned_from:
        raise TfsetupError(f"{target} was changed by another tfsetup while this one was planning (its record is "
                           f"not the one the plan was made from); nothing was changed", EXIT_INSTALL_FAILED,
                           fix="run the command again: it plans from the env as it is now",
                           details={"target_unchanged": True})
