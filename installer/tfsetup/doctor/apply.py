"""Carry out a repair plan through the shared transaction (txn.py), verify, record.

Stack repair: back up the env (hard links), change it in place, verify; any failure or signal puts
it back exactly from the backup. Rebuild: build a fresh env beside PATH, reinstall the user's
packages into it, verify it there, then swap it in like `install` does; PATH is untouched until the
swap. Either way nothing at PATH is copied, moved or deleted before the path's lock is held, and
a failure exits 4 with the env exactly as it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from tfsetup import __version__, bytecode
from tfsetup.backends import constraints_file, get_backend
from tfsetup.backends._proc import run_step
from tfsetup.backends.base import Backend, BackendError, PackageSource
from tfsetup.doctor.findings import Finding
from tfsetup.env.paths import resolve_env_path
from tfsetup.env.facts import EnvFacts
from tfsetup.doctor.repair import LOCK_PINS, RepairPlan
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.facts import HostFacts
from tfsetup.managed_python import managed_python
from tfsetup.build import (InstallFailed, Stages, apply_recipe_env, build_record, build_verify_promote,
                           check_lock_hashes, install_target, lock_digest, refusal, verify_env)
from tfsetup.platforms import relaunch
from tfsetup.request import env_python_settings
from tfsetup.env.record import now_iso, write_record
from tfsetup.txn import Transaction

Progress = Callable[[str], None]


@dataclass
class RepairResult:
    ok: bool
    verification: Optional[Any] = None  # VerifyResult
    restored: bool = False
    error: Optional[str] = None
    record: Dict[str, Any] = field(default_factory=dict)


class RepairFailed(TfsetupError):
    def __init__(self, message: str, verification: Optional[Any] = None, restored: bool = True) -> None:
        details: Dict[str, Any] = {"restored": restored}
        if verification is not None:
            details["verification"] = verification.to_json()
        super().__init__(message, EXIT_INSTALL_FAILED,
                         "the env was restored exactly as it was before the repair" if restored else None, details)
        self.verification = verification
        self.restored = restored


def refuse_system_python(env: EnvFacts) -> None:
    """Only venvs and conda envs are changed: never a system (or pyenv, Homebrew, python.org) Python's
    own site-packages, and never with sudo."""
    if not env.venv and not env.conda:
        raise TfsetupError(f"{env.path} is a Python installation, not a virtual environment or a conda env; "
                           "tfsetup does not change a system Python's site-packages", EXIT_BAD_INPUT,
                           fix="make a separate env with `tfsetup install PATH` and use that")


def _verify(rp: RepairPlan, host: HostFacts, launch: List[str], env_dir: Path) -> Any:
    """The repaired env's verification, through the verify gate (build.refusal)."""
    assert rp.plan is not None
    verification = verify_env(rp.plan, host.machine, launch, env_dir)
    why = refusal(verification)
    if why is not None:
        raise _not_kept(why, verification)
    return verification


def _not_kept(why: str, verification: Any) -> RepairFailed:
    return RepairFailed(f"the repaired env failed verification ({why}); it was not kept", verification)


def _record_after(rp: RepairPlan, env: EnvFacts, host: HostFacts, verification: Any, started: str,
                  findings: Sequence[Finding]) -> Dict[str, Any]:
    """The env's record once the repair verified (not written: the caller writes it where it belongs)."""
    assert rp.plan is not None
    lock_path = Path(rp.plan.lock.path)
    fresh = build_record(rp.plan, host, rp.engine, lock_digest(lock_path), lock_path.name, verification, started)
    previous = env.record or {}
    if rp.rebuild:
        record = fresh
        if previous.get("project"):
            record["project"] = previous["project"]
    else:
        record = dict(previous) or {"schema": 1, "tfsetup": __version__, "created_by": "tfsetup doctor",
                                    "created_at": None}
        for key in ("recipe", "accelerator", "distribution", "packages", "lock", "backend", "host",
                    "verified_at", "verification"):
            record[key] = fresh[key]
        record["tfsetup"] = __version__
        record.setdefault("python", {"base": env.base_executable or env.executable, "version": env.version,
                                     "launch": list(rp.plan.launch)})
    record["repairs"] = list(previous.get("repairs") or []) + [{
        "at": now_iso(), "findings": [f.id for f in findings], "addressed": list(rp.addresses),
        "actions": [a.summary for a in rp.automatic], "recipe": rp.plan.recipe.id,
        "verification": {"ok": bool(verification is not None and verification.ok)},
    }]
    return record


def _install_user_packages(backend: Backend, rp: RepairPlan, python: List[str], host: HostFacts) -> None:
    specs = [s for a in rp.automatic if a.kind == "install-packages" for s in a.packages]
    if not specs:
        return
    assert rp.plan is not None
    with constraints_file(rp.plan.lock.pins) as constraints:
        run_step("reinstall your packages", backend.install_packages_argv(python, specs, constraints,
                                                                          PackageSource()),
                 env=dict(install_target(rp.plan, host).env))


def _rebuild(rp: RepairPlan, env: EnvFacts, host: HostFacts, findings: Sequence[Finding], target: Path,
             backend: Backend, progress: Progress, started: str, phase: List[str]) -> RepairResult:
    assert rp.plan is not None

    def stage_line(name: str, event: str) -> None:  # a line as each step starts; no timings
        if event == "start":
            progress("-> verifying the rebuilt env ..." if name == "verify" else f"-> {name} ...")

    stages = Stages(stage_line)

    # a managed Python (the plan's, when no host Python of the minor is left) comes first, through uv, from
    # the env's project's mirror or downloads list (like install)
    plan = managed_python(rp.plan, host, env_python_settings(env.record).source, stages,
                          lambda line: progress(f"   {line}"))
    rp = replace(rp, plan=plan)

    with Transaction(target, progress) as txn:
        progress(f"-> {rp.automatic[0].summary}")
        verification, record = build_verify_promote(
            txn, plan, host, backend, PackageSource(), stages,
            record=lambda result: _record_after(rp, env, host, result, started, findings),
            refuse=_not_kept, add_packages=lambda launch: _install_user_packages(backend, rp, launch, host),
            planned_from=env.record)
    return RepairResult(ok=True, verification=verification, record=record)


def _repair_in_place(rp: RepairPlan, env: EnvFacts, host: HostFacts, findings: Sequence[Finding], target: Path,
                     backend: Backend, progress: Progress, started: str, phase: List[str]) -> RepairResult:
    assert rp.plan is not None
    with Transaction(target, progress) as txn:
        phase.append("backup")  # before the line: a signal right after it must count as during the backup
        progress(f"backing up {target} ...")
        txn.backup()
        phase.append("repair")
        python = [env.python]
        for action in rp.automatic:
            progress(f"-> {action.summary}")
            if action.kind == "install-packages":
                _install_user_packages(backend, rp, python, host)
            else:
                argv = [a for a in action.argv if a != LOCK_PINS]
                run_step(action.kind, argv, env=dict(install_target(rp.plan, host).env))
        apply_recipe_env(target, rp.plan.recipe.env)
        progress("-> verifying the repaired env ...")
        launch = relaunch(rp.plan.launch, Path(env.python))
        bytecode.restore(launch, target)
        verification = _verify(rp, host, launch, target)
        record = _record_after(rp, env, host, verification, started, findings)
        write_record(target, record)
        txn.keep()
    return RepairResult(ok=True, verification=verification, record=record)


def apply_repair(rp: RepairPlan, env: EnvFacts, host: HostFacts, findings: Sequence[Finding],
                 progress: Progress, uv: Optional[str] = None) -> RepairResult:
    """Run the plan through one transaction on the env's directory; RepairFailed (exit 4) on any failure,
    with the env exactly as it was. `uv`: the uv binary the plan was made with (found when not given)."""
    if not rp.automatic or rp.plan is None:
        raise TfsetupError("nothing here can be repaired automatically", EXIT_BAD_INPUT)
    refuse_system_python(env)
    check_lock_hashes(Path(rp.plan.lock.path))  # a malformed lock is bad input, found before anything
    target = resolve_env_path(env.path)  # one identity for every spelling (a symlinked env: its directory)
    backend = get_backend(rp.engine, uv)
    started = now_iso()
    apply = _rebuild if rp.rebuild else _repair_in_place
    phase: List[str] = []
    try:
        return apply(rp, env, host, findings, target, backend, progress, started, phase)
    except RepairFailed as exc:
        raise RepairFailed(exc.message.replace("it was not kept", "the env is as it was before"), exc.verification)
    except KeyboardInterrupt:
        if phase[-1:] == ["backup"]:
            raise RepairFailed("interrupted while backing up; nothing was changed", restored=False) from None
        raise RepairFailed("interrupted; the env is as it was before the repair") from None
    except (BackendError, InstallFailed, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise RepairFailed(f"the repair failed ({message}); the env is as it was before") from None
    except TfsetupError as exc:  # e.g. another tfsetup holds the env: nothing was touched
        raise RepairFailed(f"{exc.message}", restored=False) from None
