"""`tfsetup doctor`: inspect an env -> diagnose (pure rules) -> plan the repair -> with --fix, apply it."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional

from tfsetup import validate
from tfsetup.backends.uv import uv_or_none
from tfsetup.build import record_verification
from tfsetup.commands._common import Terminal, load_host, load_table
from tfsetup.doctor.apply import RepairFailed, apply_repair, refuse_system_python
from tfsetup.doctor.findings import Finding
from tfsetup.doctor.inspect import deep_import, facts_json, launch_for_env
from tfsetup.doctor.repair import RepairPlan, needs_rebuild, plan_repair, project_stack_plan
from tfsetup.doctor.rules import diagnose, problems
from tfsetup.doctor.status import fast_facts, judge, of_verification
from tfsetup.env.facts import EnvFacts
from tfsetup.env.paths import resolve_env_path
from tfsetup.env.record import verification_state
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.detect import add_pythons
from tfsetup.request import env_or_default
from tfsetup.txn import recover_if_idle
from tfsetup.verify import progress_events, verify_existing

Progress = Callable[[str], None]


@dataclass
class DoctorOutcome:
    """`doc` is the JSON document; the exit code: 1 problems found (or a verification failed), 4 the repair
    failed, 0 otherwise."""

    command: ClassVar[str] = "doctor"
    doc: Dict[str, Any]
    exit_code: int
    findings: List[Finding]
    repair: RepairPlan
    env: EnvFacts
    after: Optional[List[Finding]] = None


    def to_json(self) -> Dict[str, Any]:
        return self.doc

    @property
    def verified(self) -> Optional[bool]:
        """--fix that only verified: whether the env passed (None: no such verification ran)."""
        return self.doc.get("verified")

    @property
    def verification(self) -> Optional[Dict[str, Any]]:
        """The verification that ran (after a repair, or instead of one), as in the JSON document."""
        return self.doc.get("verification")

    @property
    def repaired(self) -> bool:
        return bool(self.doc.get("repaired"))

    @property
    def error(self) -> Optional[str]:
        """Why the repair failed (None: it did not fail, or none ran)."""
        return self.doc.get("error") or None

    @property
    def restored(self) -> bool:
        """After a failed repair: the env is exactly as it was before it."""
        return bool(self.doc.get("restored"))

    @property
    def repair_failed(self) -> Optional[TfsetupError]:
        """The failed repair as an error (exit 4, its fix), or None."""
        if self.error is None:
            return None
        return TfsetupError(f"repair failed: {self.error}", self.exit_code, fix=self.doc.get("fix"))


def confirm_repair(yes: bool, terminal: Terminal) -> Callable[[RepairPlan], bool]:
    """--fix asks before it changes the env: --yes says yes; with no terminal to ask on, exit 2."""

    def confirm(repair: RepairPlan) -> bool:
        if yes:
            return True
        if not terminal.is_tty():
            raise TfsetupError("--fix needs confirmation and stdin is not a terminal", EXIT_BAD_INPUT,
                               fix="pass --yes to repair without asking")
        return terminal.ask("Apply this repair plan?")

    return confirm


def run(path: Optional[Path], deep: bool, fix: bool, yes: bool, recipes_file: Optional[Path], progress: Progress,
        show: Optional[Callable[[List[Finding], RepairPlan, EnvFacts], None]] = None,
        host_file: Optional[Path] = None, terminal: Optional[Terminal] = None) -> DoctorOutcome:
    """Inspect -> diagnose -> plan the repair -> (with fix, after asking) apply it. `show` sees the
    findings and the plan before anything is asked or changed."""
    validate.env_path(path)
    validate.input_file(host_file, "--host-file")
    return _run(env_or_default(path), deep, fix, confirm_repair(yes, terminal or Terminal()), recipes_file,
                progress, show, host_file)


def _run(target: Path, deep: bool, fix: bool, confirm: Callable[[RepairPlan], bool],
         recipes_file: Optional[Path], progress: Progress,
         show: Optional[Callable[[List[Finding], RepairPlan, EnvFacts], None]],
         host_file: Optional[Path]) -> DoctorOutcome:
    target = resolve_env_path(target)  # once, as the kernel does: the same env as --fix changes
    for note in recover_if_idle(target):
        progress(note)
    table = load_table(recipes_file)
    host = load_host(host_file, with_pythons=False)  # fast: no interpreter discovery
    env = fast_facts(target, host)
    if fix and not deep and verification_state(env.record) == "failed":
        deep = True  # its last verification failed: the fast pass may not see why, the import will
        progress("its last verification failed: importing tensorflow to find the cause ...")
    elif deep:
        progress("importing tensorflow in the env (up to 300 s) ...")
    if deep:
        env = replace(env, deep=deep_import(env, launch_for_env(Path(env.python), host.os, host.machine,
                                                                host.rosetta)))
    findings = diagnose(env, host, table)
    if needs_rebuild(findings) and host_file is None:
        host = add_pythons(host)  # a rebuild needs the host's interpreters; the rest is known already
    uv = uv_or_none()  # once: the plan and the repair use this one
    engine = "pip" if (env.record or {}).get("backend") == "pip" or uv is None else "uv"
    rp = plan_repair(findings, env, host, table, engine, uv, project_stack_plan(env, host, table))
    if show is not None:
        show(findings, rp, env)
    doc: Dict[str, Any] = {"env": facts_json(env), "findings": [f.to_json() for f in findings],
                           "repair_plan": rp.to_json(), "repaired": False, "verification": None}
    doc.update(judge(env.record, findings).to_json())
    if env.deep is not None:
        doc["deep"] = dict(env.deep.to_json(), findings=[f.id for f in findings if f.data.get("deep")])
    code = 1 if problems(findings) else 0
    outcome = DoctorOutcome(doc, code, findings, rp, env)
    if not fix or not rp.automatic:
        if fix and problems(findings):
            doc["fix"] = "nothing here can be repaired automatically; see the manual steps"
        return outcome
    if host_file is not None:
        raise TfsetupError("--fix repairs an env for this machine, not for --host-file",
                           fix="run `tfsetup doctor --fix` on the machine the env belongs to")
    refuse_system_python(env)  # before asking: the answer could not change it
    if rp.verify_only:  # nothing in the env changes: no question to ask
        return _verify(outcome, target, host, table, progress)
    if not confirm(rp):
        doc["fix"] = "declined"
        return outcome
    try:
        result = apply_repair(rp, env, host, findings, progress, uv)
    except RepairFailed as exc:
        doc.update({"error": exc.message, "restored": exc.restored,
                    "verification": exc.verification.to_json() if exc.verification is not None else None})
        outcome.exit_code = EXIT_INSTALL_FAILED
        return outcome
    doc.update({"repaired": True, "verification": result.verification.to_json() if result.verification else None})
    outcome.exit_code = 0
    _after(outcome, target, table)
    return outcome


def _after(outcome: DoctorOutcome, target: Path, table: Any, deep: bool = False) -> None:
    """The findings and the status once the fix ran (with `deep`, after importing TensorFlow)."""
    try:
        here = load_host(None, with_pythons=False)
        env = fast_facts(target, here)
        if deep:
            env = replace(env, deep=deep_import(env, launch_for_env(Path(env.python), here.os, here.machine,
                                                                    here.rosetta)))
        outcome.after = diagnose(env, here, table)
        outcome.doc["findings_after"] = [f.to_json() for f in outcome.after]
        outcome.doc.update(judge(env.record, outcome.after).to_json())
    except KeyboardInterrupt:
        outcome.doc["findings_after"] = None  # interrupted after the repair had succeeded: it stands


def _verify(outcome: DoctorOutcome, target: Path, host: Any, table: Any, progress: Progress) -> DoctorOutcome:
    """`doctor --fix` on an env that only lacks a passed verification: verify it, record the result (like
    `tfsetup verify`), and when it fails, import TensorFlow to name the cause."""
    progress(f"verifying {target} ...")
    result = verify_existing(target, on_event=progress_events(progress))
    record_verification(target, result)
    outcome.doc.update({"verified": result.ok, "verification": result.to_json()})
    outcome.doc.update(of_verification(result).to_json())
    outcome.exit_code = 0 if result.ok else 1
    _after(outcome, target, table, deep=not result.ok and not result.timed_out)
    return outcome
