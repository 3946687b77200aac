"""Orchestration: plan -> stage -> install -> verify -> promote, through the shared transaction (txn.py).

The target PATH holds, at every moment a user can observe, either exactly what was there before or
the complete, verified new env: the env is built in a staging directory beside PATH, verified there,
and renamed into place by `Transaction.promote`.

Over 400 lines because the checks of what is at PATH (may it be replaced, and what a replace drops) live
beside the pipeline that relies on them.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from tfsetup import bytecode
from tfsetup.backends import BackendError, get_backend, install_lock
from tfsetup.backends.base import Backend, PackageSource, PythonSource, Target, target_for
from tfsetup.managed_python import managed_python
from tfsetup.backends.hints import backend_fix
from tfsetup.env.paths import (bin_dir, env_python, foreign_files, is_tfsetup_env, is_venv, name_some, replace_file,
                               resolve_env_path, running_env)
from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.facts import HostFacts
from tfsetup.plan import Plan
from tfsetup.platforms import relaunch
from tfsetup.env.record import ReplaceChanges, build_record, is_verified, now_iso, read_record, replace_question, write_record
from tfsetup.txn import Transaction
from tfsetup.verify import VerifyResult, run_verification

@dataclass
class InstallOptions:
    target: Path
    backend: str = "uv"
    force: bool = False
    verify: bool = True
    source: PackageSource = field(default_factory=PackageSource)
    confirm: Optional[Callable[[str], bool]] = None  # asks "replace?" when --force was not given
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


class InstallFailed(TfsetupError):
    def __init__(self, message: str, fix: Optional[str] = None, verification: Optional[VerifyResult] = None,
                 timings: Optional[Dict[str, float]] = None) -> None:
        details: Dict[str, Any] = {"target_unchanged": True}
        if verification is not None:
            details["verification"] = verification.to_json()
        if timings:
            details["timings"] = {k: round(v, 3) for k, v in timings.items()}
        super().__init__(message, EXIT_INSTALL_FAILED, fix, details)
        self.verification = verification


def safe_prompt(name: str) -> str:
    """The venv prompt for an env named `name`. uv (and CPython's venv before the CVE-2024-9287 fix) write
    the prompt unquoted into the activate scripts, so a directory named `$(cmd)` would run cmd when the
    user activates the env: keep letters, digits, space and ._-+@,=: and make anything else '_'."""
    return "".join(c if (c.isalnum() or c in " ._-+@,=:") else "_" for c in name).strip() or "env"


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
    import shlex

    return f"source {shlex.quote(str(target / 'bin' / 'activate'))}"


# ---------------------------------------------------------------------------------------------
# the target: what is there, and may we replace it

def check_target(target: Path, force: bool, confirm: Optional[Callable[[str], bool]], new: str = "",
                 changes: Sequence[str] = ()) -> bool:
    """Validate PATH; True when an existing env will be replaced (Declined when the user says no). Never
    touches anything. `changes`: what the replace drops or changes, for the question."""
    try:
        return _check_target(target, force, confirm, new, changes)
    except OSError as exc:  # e.g. a name longer than the filesystem allows, a symlink loop
        raise TfsetupError(f"cannot use {target}: {exc.strerror or exc}") from None


def _check_target(target: Path, force: bool, confirm: Optional[Callable[[str], bool]], new: str,
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
        if confirm(replace_question(target, kind, read_record(target), new, changes)):
            return True
        raise Declined(str(target))
    raise TfsetupError(f"{target} is an existing {kind} and there is no terminal to ask whether to replace it",
                       fix="pass --force to replace it")


def check_replaceable(target: Path) -> None:
    """The check of every replace (install --force, upgrade, doctor's rebuild), run again under the lock
    just before the swap (Transaction.promote): PATH is a venv holding nothing but what a venv holds,
    since the swap deletes the old env whole. Raises TfsetupError (exit 2) naming the user's files."""
    if not target.exists() or not any(target.iterdir()):
        return
    if not is_venv(target):
        raise TfsetupError(f"{target} exists and is not a virtual environment; refusing to touch it",
                           fix="choose another PATH, or move your files away first")
    foreign = foreign_files(target)
    if foreign:
        raise TfsetupError(f"{target} is a virtual environment that also holds other files ({name_some(foreign)}); "
                           "replacing it would delete them", fix="move those files out of the env, or install "
                           "the env somewhere else (e.g. PATH/.venv)")


_HASH = re.compile(r"--hash[= ](\S+)")
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def check_lock_hashes(lock_path: Path) -> None:
    """Every requirement of the lock carries well-formed sha256/384/512 hashes, or it is bad input (exit 2).

    The engines enforce the hashes (--require-hashes); this catches a truncated or hand-edited lock
    before anything is built, and refuses weak digests (md5) an engine might accept.
    """
    from tfsetup.inputs import read_text

    text = read_text(lock_path, "lock")  # bounded; BadInput (exit 2) names the file
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        name = line.split()[0]
        digests = _HASH.findall(line)
        bad = [d for d in digests if not _DIGEST.match(d)]
        if not digests or bad:
            what = f"malformed hash {bad[0][:80]!r}" if bad else "no --hash"
            raise TfsetupError(f"{lock_path}: {name}: {what} (each package needs --hash=sha256:<64 hex digits>)",
                               fix="regenerate the lock (scripts/lock_recipes.py, or `tfsetup lock` for a team)")


# ---------------------------------------------------------------------------------------------
# scripts that must work at the env's final place

def relocate_scripts(env: Path, old: Path, new: Path) -> int:
    """Point absolute paths in bin/ scripts and pyvenv.cfg at the env's final place.

    `python -m venv` + pip write the staging path into shebangs and activate scripts; uv's
    relocatable envs need none of this (the count is then 0).
    """
    old_b, new_b = str(old).encode(), str(new).encode()
    changed = 0
    files = [p for p in bin_dir(env).iterdir() if p.is_file() and not p.is_symlink()] + [env / "pyvenv.cfg"]
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if old_b in data and b"\0" not in data[:4096]:
            replace_file(path, data.replace(old_b, new_b))
            changed += 1
    return changed


def broken_scripts(env: Path, final: Optional[Path] = None) -> List[str]:
    """Console scripts whose shebang names an interpreter that does not exist; for a staged env, as it
    will be at `final` (its scripts already name the final place)."""
    broken = []
    for path in sorted(bin_dir(env).iterdir()):
        if not path.is_file():
            continue
        try:
            with open(path, "rb") as fh:
                first = fh.readline(512)
        except OSError:
            continue
        if first.startswith(b"#!") and b"python" in first and not first.startswith(b"#!/bin/sh"):
            interpreter = first[2:].strip().split(b" ")[0].decode(errors="replace")
            seen_at = interpreter
            if final is not None and (interpreter == str(final) or interpreter.startswith(str(final) + os.sep)):
                seen_at = str(env) + interpreter[len(str(final)):]
            if not os.path.exists(seen_at):
                broken.append(f"{path.name} -> {interpreter}")
    return broken


# ---------------------------------------------------------------------------------------------

Progress = Callable[[str, str], None]  # (stage, event: "start" | "done" | message)


def expected_versions(plan: Plan, pins: Dict[str, str]) -> Dict[str, str]:
    expect = {plan.recipe.distribution: pins.get(plan.recipe.distribution, plan.recipe.tensorflow)}
    for name in ("numpy", "tensorflow-metal"):
        if name in pins:
            expect[name] = pins[name]
    return expect


def install_target(plan: Plan, facts: HostFacts) -> Target:
    return target_for(facts.os, facts.os_version, facts.machine, plan.recipe.python_platform)


def verify_plan(plan: Plan, facts: HostFacts, env: Path, progress: Optional[Callable[[str], None]] = None
                ) -> VerifyResult:
    """The verification suite in `env`, launched the way the plan launches its interpreter."""
    from tfsetup.verify import progress_events as events  # progress: a line per check as it runs

    return run_verification(relaunch(plan.launch, env_python(env)), expected_versions(plan, plan.lock.pins),
                            plan.recipe.accelerator, facts.machine, plan.recipe.distribution,
                            keras=plan.recipe.keras,
                            on_event=events(progress, first_import=not bytecode.has_tf_pycs(env)))


ENV_PTH = "_tfsetup_env.pth"


def apply_recipe_env(env: Path, settings: Dict[str, str]) -> None:
    """Variables a recipe needs in every process of the env (TF_USE_LEGACY_KERAS=1 for a Keras 2 stack):
    set at interpreter start by a .pth file (so `.venv/bin/python`, Jupyter kernels and IDEs get them
    without activation) and exported by the activate scripts (for the rest of the shell)."""
    if not settings:
        return
    from tfsetup.bytecode import site_dirs

    assignments = "; ".join(f"os.environ.setdefault({k!r}, {v!r})" for k, v in sorted(settings.items()))
    for site in site_dirs(env):
        replace_file(Path(site) / ENV_PTH, f"import os; {assignments}\n".encode())
    import shlex

    lines = {"activate": "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(settings.items())),
             "activate.fish": "".join(f"set -gx {k} {shlex.quote(v)}\n" for k, v in sorted(settings.items())),
             "activate.csh": "".join(f"setenv {k} {shlex.quote(v)}\n" for k, v in sorted(settings.items()))}
    for name, text in lines.items():
        script = bin_dir(env) / name
        if script.is_file():  # a new file renamed over it: the backup of a repair shares the old one's inode
            block = "\n# set by tfsetup: the recipe needs these in every process\n" + text
            current = script.read_text(encoding="utf-8")
            if block not in current:
                replace_file(script, (current + block).encode("utf-8"))


def lock_digest(lock_path: Path) -> str:
    from tfsetup.inputs import read_bytes

    return hashlib.sha256(read_bytes(lock_path, "lock")).hexdigest()


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


def build_env(plan: Plan, facts: HostFacts, backend: Backend, staging: Path, final: Path, lock_path: Path,
              source: PackageSource, stage: Callable[[str], Any],
              on_download: Optional[Callable[[str], None]] = None) -> None:
    """A new env in `staging` from the lock (not verified yet): venv, the locked packages, cached pycs.
    `on_download` hears what the engine downloads, and how big it is, as it starts."""
    with stage("venv"):
        backend.create_venv(plan.launch, staging, prompt=safe_prompt(final.name))
    with stage("install"):
        install_lock(backend, relaunch(plan.launch, env_python(staging)), lock_path, source,
                     install_target(plan, facts), on_download=on_download)
        apply_recipe_env(staging, plan.recipe.env)
        bytecode.restore(relaunch(plan.launch, env_python(staging)), staging)


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
    timings: Dict[str, float] = {}
    started_at = now_iso()

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[None]:
        progress(name, "start")
        if name == "install":  # what the wait is for
            progress(name, f"{len(plan.lock.pins)} packages, hash-checked (a cold cache downloads them first)")
        t0 = time.perf_counter()
        yield
        timings[name] = time.perf_counter() - t0
        progress(name, "done")

    plan = managed_python(plan, facts, opts.python_source, stage, lambda line: progress("python", line))
    try:
        with Transaction(target, lambda message: progress("recover", message)) as txn:
            # Again under the lock: another run may have put an env at PATH since the first look.
            replaced = check_target(target, opts.force or replaced, None)
            staging = txn.new_stage()
            build_env(plan, facts, backend, staging, target, lock_path, opts.source, stage,
                      on_download=lambda line: progress("install", line))
            verification = None
            if opts.verify:
                with stage("verify"):
                    verification = verify_plan(plan, facts, staging, lambda line: progress("verify", line))
                if not verification.ok:
                    raise InstallFailed(
                        "verification failed: " + "; ".join(f"{c.id}: {c.message}" for c in verification.failed()),
                        fix="nothing was changed at the target; `tfsetup explain` can read the error above",
                        verification=verification, timings=timings)
            record = build_record(plan, facts, backend.name, digest, lock_path.name, verification, started_at)
            record.update(opts.extra_record)
            write_record(staging, record)
            with stage("promote"):
                relocate_scripts(staging, staging, target)
                broken = broken_scripts(staging, final=target)
                if broken:
                    raise InstallFailed(f"console scripts would not run after the move: {', '.join(broken[:3])}")
                txn.promote(staging, check_replaceable)  # the commit point: from here on it has succeeded
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
    return InstallResult(target, plan, verification, timings, replaced, record, changes=changes)
