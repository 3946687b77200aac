"""`tfsetup doctor`: inspect an env -> diagnose (pure rules) -> plan the repair -> with --fix, apply it."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from tfsetup.commands._common import load_host, load_table
from tfsetup.doctor.findings import Finding
from tfsetup.doctor.inspect import EnvFacts
from tfsetup.doctor.repair import RepairPlan
from tfsetup.errors import EXIT_INSTALL_FAILED

Progress = Callable[[str], None]


@dataclass
class DoctorOutcome:
    doc: Dict[str, Any]
    exit_code: int
    findings: List[Finding]
    repair: RepairPlan
    env: EnvFacts
    after: Optional[List[Finding]] = None

    def to_json(self) -> Dict[str, Any]:
        return self.doc


def run(target: Path, deep: bool, fix: bool, confirm: Callable[[RepairPlan], bool],
        recipes_file: Optional[Path], progress: Progress,
        show: Optional[Callable[[List[Finding], RepairPlan, EnvFacts], None]] = None,
        host_file: Optional[Path] = None) -> DoctorOutcome:
    """Inspect -> diagnose -> plan the repair -> (with fix, after confirm) apply it. `show` sees the
    findings and the plan before anything is asked or changed."""
    from tfsetup.backends.uv import uv_or_none
    from tfsetup.doctor.apply import RepairFailed, apply_repair, refuse_system_python
    from tfsetup.doctor.inspect import deep_import, inspect_env, launch_for_env, with_loader
    from tfsetup.doctor.repair import needs_rebuild, plan_repair, project_stack_plan
    from tfsetup.doctor.rules import diagnose, problems
    from tfsetup.txn import recover_if_idle

    from tfsetup.envpaths import resolve_env_path

    target = resolve_env_path(target)  # once, as the kernel does: the same env as --fix changes
    for note in recover_if_idle(target):
        progress(note)
    table = load_table(recipes_file)
    host = load_host(host_file, with_pythons=False)  # fast: no interpreter discovery
    env = with_loader(inspect_env(target), host.os, host.machine, host.os_version)
    if deep:
        progress("importing tensorflow in the env (up to 300 s) ...")
        env = replace(env, deep=deep_import(env, launch_for_env(Path(env.python), host.os, host.machine,
                                                                host.rosetta)))
    findings = diagnose(env, host, table)
    if needs_rebuild(findings) and host_file is None:
        host = load_host(None)  # a rebuild needs the host's interpreters
    uv = uv_or_none()
    engine = "pip" if (env.record or {}).get("backend") == "pip" or uv is None else "uv"
    rp = plan_repair(findings, env, host, table, engine, uv, project_stack_plan(env, host, table))
    if show is not None:
        show(findings, rp, env)
    doc: Dict[str, Any] = {"env": env.to_json(), "findings": [f.to_json() for f in findings],
                           "repair_plan": rp.to_json(), "repaired": False, "verification": None}
    if env.deep is not None:
        doc["deep"] = dict(env.deep.to_json(), findings=[f.id for f in findings if f.data.get("deep")])
    code = 1 if problems(findings) else 0
    outcome = DoctorOutcome(doc, code, findings, rp, env)
    if not fix or not rp.automatic:
        if fix and problems(findings):
            doc["fix"] = "nothing here can be repaired automatically; see the manual steps"
        return outcome
    if host_file is not None:
        from tfsetup.errors import TfsetupError

        raise TfsetupError("--fix repairs an env for this machine, not for --host-file",
                           fix="run `tfsetup doctor --fix` on the machine the env belongs to")
    refuse_system_python(env)  # before asking: the answer could not change it
    if not confirm(rp):
        doc["fix"] = "declined"
        return outcome
    try:
        result = apply_repair(rp, env, host, findings, progress)
    except RepairFailed as exc:
        doc.update({"error": exc.message, "restored": exc.restored,
                    "verification": exc.verification.to_json() if exc.verification is not None else None})
        outcome.exit_code = EXIT_INSTALL_FAILED
        return outcome
    doc.update({"repaired": True, "verification": result.verification.to_json() if result.verification else None})
    outcome.exit_code = 0
    try:
        here = load_host(None, with_pythons=False)
        outcome.after = diagnose(with_loader(inspect_env(target), here.os, here.machine, here.os_version), here, table)
        doc["findings_after"] = [f.to_json() for f in outcome.after]
    except KeyboardInterrupt:
        doc["findings_after"] = None  # interrupted after the repair had succeeded: it stands
    return outcome
