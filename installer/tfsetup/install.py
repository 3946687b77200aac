"""`tfsetup install`: plan -> the one build (build.py: stage -> install -> verify -> promote, through txn.py).

Here: what install alone decides: whether PATH may be replaced (and asking), whether it already holds
this plan's env (then nothing is done), and the result it reports.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from tfsetup import bytecode
from tfsetup.backends import BackendError, get_backend
from tfsetup.backends.base import PackageSource, PythonSource
from tfsetup.backends.hints import backend_fix
from tfsetup.build import (InstallFailed, Progress, Stages, build_record, build_verify_promote, check_lock_hashes,
                           check_replaceable, lock_digest)
from tfsetup.env.paths import env_python, is_tfsetup_env, resolve_env_path, running_env
from tfsetup.env.record import ReplaceChanges, is_verified, now_iso, read_record
from tfsetup.errors import TfsetupError
from tfsetup.host.facts import HostFacts
from tfsetup.managed_python import managed_python
from tfsetup.plan import Plan
from tfsetup.platforms import relaunch
from tfsetup.txn import Transaction
from tfsetup.verify import VerifyResult

@dataclass(frozen=True)
class ReplaceAsk:
    """What install asks before it replaces the env at PATH (render.replace_question words it)."""
    target: Path
    kind: str  # "tfsetup env" | "virtual environment"
    record: Optional[Dict[str, Any]]  # what is there now, by its record
    new: str  # what replaces it: "<recipe> (<distribution> <version>)"
    changes: Sequence[str]  # what the replace drops or changes (ReplaceChanges.lines)


@dataclass
class InstallOptions:
    target: Path
    backend: str = "uv"
    force: bool = False
    verify: bool = True
    source: PackageSource = field(default_factory=PackageSource)
    confirm: Optional[Callable[[ReplaceAsk], bool]] = None  # asks "replace?" when --force was not given
    lock_path: Optional[Path] = None  # a team lock section instead of the recipe's lock
    extra_record: Dict[str, Any] = field(default_factory=dict)
    python_source: PythonSource = field(default_factory=PythonSource)  # where a managed Python comes from
    # what replacing the env at target would drop or change (None: nothing there); asked only when a build
    # is due (an up-to-date env is left alone without inspecting it)
    replace_changes: Optional[Callable[[Path], Optional[ReplaceChanges]]] = None


class Declined(Exception):
    """The user answered no to "replace?": nothing was changed (a choice, not bad input)."""


@dataclass
class InstallResult:
    target: Path
    plan: Plan
    verification: Optional[VerifyResult]
    timings: Dict[str, float]
    replaced: bool
    record: Dict[str, Any]
    unchanged: bool = False  # PATH already held this plan's env, verified: nothing was done
    changes: Optional[ReplaceChanges] = None  # with replaced: what the replace dropped or changed
    declined: bool = False  # the user answered no to "replace?": nothing was done

    def to_json(self) -> Dict[str, Any]:
        return {"ok": True, "target": str(self.target), "plan": self.plan.to_json(),
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
                "replaced": self.replaced, "unchanged": self.unchanged, "declined": self.declined,
                "replace": self.changes.to_json() if (self.replaced or self.declined) and self.changes else None,
                "verified": is_verified(self.record),
                "verification": self.verification.to_json() if self.verification else None,
                "activate": activate_hint(self.target)}


# Characters that CPython's venv (and pip's console-script launchers) put unquoted or inside double
# quotes in shell scripts: with the pip engine, a PATH holding one of them could run commands.
SHELL_SPECIAL = set('$`"\\!\n')


def check_engine_path(engine: str, target: Path) -> None:
    special = sorted(SHELL_SPECIAL & set(str(target)))
    if engine == "pip" and special:
        raise TfsetupError(f"{target} contains {' '.join(repr(c) for c in special)}, which the pip engine would "
                           "write unquoted into the env's shell scripts (activate, console scripts)",
                           fix="use the uv engine (the default), or a path without these characters")


def activate_hint(target: Path) -> str:
    if os.name == "nt":
        return str(target / "Scripts" / "activate")
    return f"source {shlex.quote(str(target / 'bin' / 'activate'))}"


# ---------------------------------------------------------------------------------------------
# the target: what is there, and may we replace it

def check_target(target: Path, force: bool, confirm: Optional[Callable[[ReplaceAsk], bool]], new: str = "",
                 changes: Sequence[str] = ()) -> bool:
    """Validate PATH; True when an existing env will be replaced (Declined when the user says no). Never
    touches anything. `changes`: what the replace drops or changes, for the question."""
    try:
        return _check_target(target, force, confirm, new, changes)
    except OSError as exc:  # e.g. a name longer than the filesystem allows, a symlink loop
        raise TfsetupError(f"cannot use {target}: {exc.strerror or exc}") from None


def _check_target(target: Path, force: bool, confirm: Optional[Callable[[ReplaceAsk], bool]], new: str,
                  changes: Sequence[str]) -> bool:
    parent = target.parent
    if target.is_symlink() and not target.exists():
        raise TfsetupError(f"{target} is a dangling symlink; remove it or choose another path")
    if target.exists() and not target.is_dir():
        raise TfsetupError(f"{target} is a file, not an environment; choose another path")
    if target.exists() and Path(os.path.realpath(target)) == running_env():
        raise TfsetupError(f"{target} is the environment tfsetup itself is running from; refusing to replace it",
                           fix="choose another PATH for the TensorFlow env (e.g. ./.venv)")
    existing_parent = parent
    while not existing_parent.exists():
        existing_parent = existing_parent.parent
    if not existing_parent.is_dir():
        raise TfsetupError(f"{existing_parent} is a file, not a directory; choose another path")
    if not os.access(existing_parent, os.W_OK | os.X_OK):
        raise TfsetupError(f"cannot write in {existing_parent}: permission denied",
                           fix="choose a PATH in a directory you own")
    if not target.exists() or not any(target.iterdir()):
        return False
    check_replaceable(target)
    kind = "tfsetup env" if is_tfsetup_env(target) else "virtual environment"
    if force:
        return True
    if confirm is not None:
        if confirm(ReplaceAsk(target, kind, read_record(target), new, tuple(changes))):
            return True
        raise Declined(str(target))
    raise TfsetupError(f"{target} is an existing {kind} and there is no terminal to ask whether to replace it",
                       fix="pass --force to replace it")


def up_to_date(target: Path, plan: Plan, digest: str) -> Optional[Dict[str, Any]]:
    """The env's record when PATH already holds exactly this plan's env and it verified; else None.

    Makes a second `tfsetup install` (an onboarding script run twice) a no-op, like `uv sync`.
    """
    if not is_tfsetup_env(target) or not env_python(target).exists():
        return None
    record = read_record(target) or {}
    python = (record.get("python") or {}).get("version", "")
    if (record.get("recipe") == plan.recipe.id and (record.get("lock") or {}).get("digest") == digest
            and python.split(".")[:2] == plan.python.version.split(".")[:2] and is_verified(record)):
        return record
    return None


def run_install(plan: Plan, facts: HostFacts, opts: InstallOptions, progress: Progress) -> InstallResult:
    target = resolve_env_path(opts.target)  # once, as the kernel does: one env, one transaction
    lock_path = opts.lock_path or Path(plan.lock.path)
    digest = lock_digest(lock_path)
    if not opts.force:
        current = up_to_date(target, plan, digest)
        if current is not None:
            return InstallResult(target, plan, None, {}, False, current, unchanged=True)
    changes = opts.replace_changes(target) if opts.replace_changes is not None else None
    lines = changes.lines() if changes is not None else []
    try:
        replaced = check_target(target, opts.force, opts.confirm, f"{plan.recipe.id} ({plan.recipe.distribution} "
                                f"{plan.packages.get(plan.recipe.distribution, plan.recipe.tensorflow)})", lines)
    except Declined:
        return InstallResult(target, plan, None, {}, False, read_record(target) or {}, changes=changes,
                             declined=True)
    if replaced:
        for line in lines:  # said again, as the build starts: with --force or --yes nobody was asked
            progress("replace", f"warning: {line}")
    check_lock_hashes(lock_path)
    backend = get_backend(opts.backend)
    check_engine_path(backend.name, target)
    started_at = now_iso()

    def noted(name: str, event: str) -> None:
        progress(name, event)
        if name == "install" and event == "start":  # what the wait is for
            progress(name, f"{len(plan.lock.pins)} packages, hash-checked (a cold cache downloads them first)")

    stages = Stages(noted)
    timings = stages.timings
    plan = managed_python(plan, facts, opts.python_source, stages, lambda line: progress("python", line))

    def record(verification: Optional[VerifyResult]) -> Dict[str, Any]:
        written = build_record(plan, facts, backend.name, digest, lock_path.name, verification, started_at)
        written.update(opts.extra_record)
        return written

    def refuse(why: str, verification: VerifyResult) -> InstallFailed:
        return InstallFailed("verification failed: " + why,
                             fix="nothing was changed at the target; `tfsetup explain` can read the error above",
                             verification=verification, timings=timings)

    try:
        with Transaction(target, lambda message: progress("recover", message)) as txn:
            # Again under the lock: another run may have put an env at PATH since the first look.
            replaced = check_target(target, opts.force or replaced, None)
            verification, written = build_verify_promote(
                txn, plan, facts, backend, opts.source, stages, record, refuse, lock_path=lock_path,
                verify=opts.verify, on_download=lambda line: progress("install", line),
                on_verify=lambda line: progress("verify", line))
    except BackendError as exc:
        raise InstallFailed(f"{exc.step} failed ({backend.name}): {exc.message}",
                            fix=backend_fix(exc.message, opts.source), timings=timings) from None
    except OSError as exc:
        raise InstallFailed(f"install failed: {exc.strerror or exc} ({exc.filename or target})",
                            timings=timings) from None
    try:
        if verification is not None:
            bytecode.harvest_later(relaunch(plan.launch, env_python(target)), target)
    except KeyboardInterrupt:
        pass  # the env is in place and verified: a late Ctrl-C must not report a failure
    return InstallResult(target, plan, verification, timings, replaced, written, changes=changes)
