"""THE build pipeline: stage -> install the lock -> verify -> promote, through the one transaction (txn.py).
`install`, `upgrade` and `doctor --fix`'s rebuild all build an env this way (build_verify_promote): a
fresh env in a staging directory beside PATH, verified there, renamed into place by Transaction.promote.
PATH holds, at every moment a user can observe, either exactly what was there before or the complete,
verified new env.

Here too: the one progress timer of a build (Stages), the one verify gate (refusal: also for doctor's
in-place repair and `add`'s re-verify), the checks a replace relies on (check_replaceable,
check_unchanged), and the record a build writes (build_record).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from tfsetup import __version__, bytecode
from tfsetup.backends import install_lock
from tfsetup.backends.base import Backend, PackageSource, Target, target_for
from tfsetup.env.paths import bin_dir, env_python, foreign_files, is_tfsetup_env, is_venv, name_some, replace_file
from tfsetup.env.record import RECORD_SCHEMA, now_iso, read_record, write_record
from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.facts import HostFacts
from tfsetup.inputs import read_bytes, read_text
from tfsetup.plan import Plan
from tfsetup.platforms import relaunch
from tfsetup.txn import Transaction, path_lock
from tfsetup.verify import Promise, VerifyResult, must_hold, progress_events, run_verification

Progress = Callable[[str, str], None]  # (stage, event: "start" | "done" | a message)

# Test-only: makes every verify gate (install, upgrade, doctor's repair and rebuild, add) count the env as
# failed, so tests can prove the rollback on a real env. Never set it outside tests.
FAIL_VERIFY_ENV = "TFSETUP_TEST_FAIL_VERIFY"


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


class Stages:
    """The progress timer of a build: `with stages("install"):` says "start", times the step and says
    "done"; `timings` keeps the seconds of each step that finished."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.timings: Dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(name, "start")
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0
        self.progress(name, "done")


# ---------------------------------------------------------------------------------------------
# the verify gate

def plan_promise(plan: Plan) -> Promise:
    """What an env built from `plan` must hold (verify.must_hold, from the recipe and its lock)."""
    recipe = plan.recipe
    return must_hold(recipe.distribution, {recipe.distribution: recipe.tensorflow, **plan.lock.pins},
                     recipe.accelerator, recipe.keras)


def verify_env(plan: Plan, machine: str, launch: List[str], env: Path,
               progress: Optional[Callable[[str], None]] = None) -> VerifyResult:
    """The verification suite in `env`, run by `launch` (its python as the plan launches it); `progress`
    hears a line per check as it runs."""
    on_event = progress_events(progress, first_import=not bytecode.has_tf_pycs(env)) if progress else None
    return run_verification(launch, plan_promise(plan), machine, on_event=on_event)


def refusal(verification: VerifyResult) -> Optional[str]:
    """The verify gate: why the env must not be kept (its failed checks, or the test hook), else None."""
    forced = os.environ.get(FAIL_VERIFY_ENV) == "1"  # test-only, see FAIL_VERIFY_ENV
    if verification.ok and not forced:
        return None
    return "; ".join(f"{c.id}: {c.message}" for c in verification.failed()) or \
        f"{FAIL_VERIFY_ENV}=1 (test-only forced failure)"


# ---------------------------------------------------------------------------------------------
# the record a build writes (env/record.py reads it)

def host_summary(facts: HostFacts) -> Dict[str, Any]:
    return {"os": facts.os, "os_version": facts.os_version, "machine": facts.machine, "cpu": facts.cpu,
            "rosetta": facts.rosetta, "gpus": [g.name for g in facts.gpus]}


def verification_summary(verification: Optional[VerifyResult]) -> Optional[Dict[str, Any]]:
    if verification is None:
        return None
    return {"ok": verification.ok, "timed_out": bool(getattr(verification, "timed_out", False)),
            "seconds": round(float(getattr(verification, "seconds", 0.0) or 0.0), 1),
            "checks": [{"id": c.id, "status": c.status, "message": c.message} for c in verification.checks]}


def build_record(plan: Plan, facts: HostFacts, backend: str, lock_digest: str, lock_name: str,
                 verification: Optional[VerifyResult], started_at: str) -> Dict[str, Any]:
    return {
        "schema": RECORD_SCHEMA,
        "tfsetup": __version__,
        "recipe": plan.recipe.id,
        "accelerator": plan.recipe.accelerator,
        "distribution": plan.recipe.distribution,
        "packages": plan.packages,
        "keras": plan.recipe.keras,
        "env": dict(plan.recipe.env),
        "lock": {"name": lock_name, "digest": lock_digest, "python_platform": plan.recipe.python_platform,
                 "pins": dict(sorted(plan.lock.pins.items()))},  # what `add` and `upgrade` keep in place
        "python": {"base": plan.python.executable, "version": plan.python.version, "launch": plan.launch},
        "backend": backend,
        "host": host_summary(facts),
        "created_at": started_at,
        "verified_at": now_iso() if verification else None,
        "verification": verification_summary(verification),
        "repairs": [],
    }


def with_verification(record: Dict[str, Any], verification: VerifyResult) -> Dict[str, Any]:
    """A copy of the record that says what `tfsetup verify` found just now (clears "not verified")."""
    updated = dict(record)
    updated["verification"] = verification_summary(verification)
    updated["verified_at"] = now_iso()
    return updated


# ---------------------------------------------------------------------------------------------
# the lock and the target

_HASH = re.compile(r"--hash[= ](\S+)")
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def check_lock_hashes(lock_path: Path) -> None:
    """Every requirement of the lock carries well-formed sha256/384/512 hashes, or it is bad input (exit 2).

    The engines enforce the hashes (--require-hashes); this catches a truncated or hand-edited lock
    before anything is built, and refuses weak digests (md5) an engine might accept.
    """
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


def lock_digest(lock_path: Path) -> str:
    return hashlib.sha256(read_bytes(lock_path, "lock")).hexdigest()


def install_target(plan: Plan, facts: HostFacts) -> Target:
    return target_for(facts.os, facts.os_version, facts.machine, plan.recipe.python_platform)


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


def check_unchanged(target: Path, planned_from: Optional[Dict[str, Any]]) -> None:
    """Re-read PATH's record under the lock: the plan holds only for the record it was made from."""
    if planned_from is None:
        return
    if read_record(target) != planned_from:
        raise TfsetupError(f"{target} was changed by another tfsetup while this one was planning (its record is "
                           f"not the one the plan was made from); nothing was changed", EXIT_INSTALL_FAILED,
                           fix="run the command again: it plans from the env as it is now",
                           details={"target_unchanged": True})


# ---------------------------------------------------------------------------------------------
# the env in staging, and its scripts at the env's final place

def safe_prompt(name: str) -> str:
    """The venv prompt for an env named `name`. uv (and CPython's venv before the CVE-2024-9287 fix) write
    the prompt unquoted into the activate scripts, so a directory named `$(cmd)` would run cmd when the
    user activates the env: keep letters, digits, space and ._-+@,=: and make anything else '_'."""
    return "".join(c if (c.isalnum() or c in " ._-+@,=:") else "_" for c in name).strip() or "env"


ENV_PTH = "_tfsetup_env.pth"


def apply_recipe_env(env: Path, settings: Dict[str, str]) -> None:
    """Variables a recipe needs in every process of the env (TF_USE_LEGACY_KERAS=1 for a Keras 2 stack):
    set at interpreter start by a .pth file (so `.venv/bin/python`, Jupyter kernels and IDEs get them
    without activation) and exported by the activate scripts (for the rest of the shell)."""
    if not settings:
        return
    assignments = "; ".join(f"os.environ.setdefault({k!r}, {v!r})" for k, v in sorted(settings.items()))
    for site in bytecode.site_dirs(env):
        replace_file(Path(site) / ENV_PTH, f"import os; {assignments}\n".encode())
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


def build_env(plan: Plan, facts: HostFacts, backend: Backend, staging: Path, final: Path, lock_path: Path,
              source: PackageSource, stages: Callable[[str], Any],
              on_download: Optional[Callable[[str], None]] = None) -> None:
    """A new env in `staging` from the lock (not verified yet): venv, the locked packages, cached pycs.
    `on_download` hears what the engine downloads, and how big it is, as it starts."""
    with stages("venv"):
        backend.create_venv(plan.launch, staging, prompt=safe_prompt(final.name))
    with stages("install"):
        install_lock(backend, relaunch(plan.launch, env_python(staging)), lock_path, source,
                     install_target(plan, facts), on_download=on_download)
        apply_recipe_env(staging, plan.recipe.env)
        bytecode.restore(relaunch(plan.launch, env_python(staging)), staging)


# ---------------------------------------------------------------------------------------------
# the pipeline

def build_verify_promote(txn: Transaction, plan: Plan, facts: HostFacts, backend: Backend, source: PackageSource,
                         stages: Stages, record: Callable[[Optional[VerifyResult]], Dict[str, Any]],
                         refuse: Callable[[str, VerifyResult], Exception], lock_path: Optional[Path] = None,
                         verify: bool = True, add_packages: Optional[Callable[[List[str]], None]] = None,
                         planned_from: Optional[Dict[str, Any]] = None,
                         on_download: Optional[Callable[[str], None]] = None,
                         on_verify: Optional[Callable[[str], None]] = None
                         ) -> Tuple[Optional[VerifyResult], Dict[str, Any]]:
    """The one build of install, upgrade and doctor's rebuild, inside the caller's transaction `txn`.

    Under the lock, the record the caller planned from (`planned_from`) must still be PATH's (else another
    tfsetup changed the env meanwhile, e.g. an `add`, and carrying the plan out would lose that change:
    refused, nothing changed), and PATH must hold no user's files (check_replaceable, again just before
    the rename). Then: build `plan` from `lock_path` (default: the plan's lock) in a new stage of `txn`;
    `add_packages(launch)` (the staged env's python as the plan launches it); verify (unless not
    `verify`), raising `refuse(why, verification)` at the gate; write `record(verification)` into it;
    promote. `on_download`, `on_verify`: progress lines of the install and the verification."""
    check_unchanged(txn.target, planned_from)
    check_replaceable(txn.target)  # before the build: a user's file costs no wasted work
    staging = txn.new_stage()
    build_env(plan, facts, backend, staging, txn.target, lock_path or Path(plan.lock.path), source, stages,
              on_download=on_download)
    launch = relaunch(plan.launch, env_python(staging))
    if add_packages is not None:
        add_packages(launch)
    verification = None
    if verify:
        with stages("verify"):
            verification = verify_env(plan, facts.machine, launch, staging, on_verify)
        why = refusal(verification)
        if why is not None:
            raise refuse(why, verification)
    written = record(verification)
    write_record(staging, written)
    with stages("promote"):
        relocate_scripts(staging, staging, txn.target)
        broken = broken_scripts(staging, final=txn.target)
        if broken:
            raise InstallFailed(f"console scripts would not run after the move: {', '.join(broken[:3])}")
        txn.promote(staging, lambda target: (check_unchanged(target, planned_from), check_replaceable(target)))
    return verification, written


def record_verification(env: Path, result: VerifyResult) -> bool:
    """In a tfsetup env, keep what the suite found in its record (clears "not verified", or marks it
    broken). Best effort, under the path's lock: an install or repair running on it wins."""
    if not is_tfsetup_env(env):
        return False
    try:
        with path_lock(env):
            record = read_record(env)
            if record is None:
                return False
            write_record(env, with_verification(record, result))
    except (TfsetupError, OSError):
        return False
    return True
