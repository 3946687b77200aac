"""A fresh env beside PATH that replaces the one there: build it from a lock, add the user's packages,
verify it, record it, swap it in. Shared by `tfsetup upgrade` and `doctor --fix`'s rebuild, inside the
caller's Transaction: PATH is untouched until the swap, and any failure before it leaves PATH as it was.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Tuple

from tfsetup.backends.base import Backend, PackageSource
from tfsetup.envpaths import env_python
from tfsetup.host.facts import HostFacts
from tfsetup.install import InstallFailed, broken_scripts, build_env, relocate_scripts
from tfsetup.plan import Plan
from tfsetup.platforms import relaunch
from tfsetup.txn import Transaction
from tfsetup.verify import VerifyResult

Stage = Callable[[str], ContextManager[Any]]  # stage("install"): progress and timing around one step


def build_verify_promote(txn: Transaction, plan: Plan, facts: HostFacts, backend: Backend, source: PackageSource,
                         stage: Stage, add_packages: Callable[[List[str]], None],
                         verify: Callable[[Path, List[str]], VerifyResult],
                         record: Callable[[Path, VerifyResult], Dict[str, Any]]) -> Tuple[VerifyResult, Dict[str, Any]]:
    """Build `plan` in a new stage of `txn`, then `add_packages(launch)`, `verify(staging, launch)` (raises
    to refuse the env), `record(staging, verification)` (writes the record, returns it), and promote.
    `launch` is the staged env's python as the plan launches it."""
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
        txn.promote(staging)  # the commit point
    return verification, written
