"""Orchestration: stage -> install -> verify -> promote, with rollback on every failure.

The target PATH holds, at every moment a user can observe, either exactly what was there before or
the complete, verified new env. The new env is built in a staging directory beside the target (same
filesystem, so promotion is a rename); an existing env is moved aside only for the instant of the
swap and is put back on any failure, Ctrl-C or SIGTERM. A run killed outright (SIGKILL, power loss)
leaves marked directories that the next run on the same PATH recovers first.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from tfsetup import __version__
from tfsetup import bytecode
from tfsetup.backends import BackendError, get_backend
from tfsetup.backends.base import PackageSource, Target
from tfsetup.envpaths import RECORD_FILE, bin_dir, env_python, is_tfsetup_env, is_venv, relaunch, state_dir
from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError, index_unreachable
from tfsetup.host.facts import HostFacts
from tfsetup.plan import Plan
from tfsetup.verify import VerifyResult, run_verification

STAGE_TAG = ".tfsetup-stage-"
OLD_TAG = ".tfsetup-old-"


def sibling_prefix(path: Path, tag: str) -> str:
    """'.<name><tag>' for the temporary directories beside PATH; the name part is cut to 128 bytes so that
    any valid name (up to 255 bytes) still leaves room for the tag and mkdtemp's suffix."""
    name = os.fsencode(path.name)[:128]
    return f".{os.fsdecode(name)}{tag}"


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


@dataclass
class InstallResult:
    target: Path
    plan: Plan
    verification: Optional[VerifyResult]
    timings: Dict[str, float]
    replaced: bool
    record: Dict[str, Any]
    unchanged: bool = False  # PATH already held this plan's env, verified: nothing was done

    def to_json(self) -> Dict[str, Any]:
        return {"ok": True, "target": str(self.target), "plan": self.plan.to_json(),
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
                "replaced": self.replaced, "unchanged": self.unchanged,
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
    return f"source {_shell_quote(str(target / 'bin' / 'activate'))}"


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# ---------------------------------------------------------------------------------------------
# the target: what is there, may we replace it, and one writer at a time

def check_target(target: Path, force: bool, confirm: Optional[Callable[[str], bool]]) -> bool:
    """Validate PATH; True when an existing env will be replaced. Never touches anything."""
    try:
        return _check_target(target, force, confirm)
    except OSError as exc:  # e.g. a name longer than the filesystem allows, a symlink loop
        raise TfsetupError(f"cannot use {target}: {exc.strerror or exc}") from None


def _check_target(target: Path, force: bool, confirm: Optional[Callable[[str], bool]]) -> bool:
    parent = target.parent
    if target.is_symlink() and not target.exists():
        raise TfsetupError(f"{target} is a dangling symlink; remove it or choose another path")
    if target.exists() and not target.is_dir():
        raise TfsetupError(f"{target} is a file, not an environment; choose another path")
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
    if not is_venv(target):
        raise TfsetupError(f"{target} exists and is not a virtual environment; refusing to touch it",
                           fix="choose another PATH, or move your files away first")
    kind = "tfsetup env" if is_tfsetup_env(target) else "virtual environment"
    if force:
        return True
    if confirm is not None and confirm(f"{target} is an existing {kind}. Replace it (it stays intact "
                                       f"until the new env has verified)?"):
        return True
    raise TfsetupError(f"{target} is an existing {kind}", fix="pass --force to replace it")


_HASH = re.compile(r"--hash[= ](\S+)")
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def check_lock_hashes(lock_path: Path) -> None:
    """Every requirement of the lock carries well-formed sha256/384/512 hashes, or it is bad input (exit 2).

    The engines enforce the hashes (--require-hashes); this catches a truncated or hand-edited lock
    before anything is built, and refuses weak digests (md5) an engine might accept.
    """
    try:
        text = lock_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TfsetupError(f"cannot read the lock {lock_path}: {getattr(exc, 'strerror', None) or exc}") from None
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


def _lock_file_for(target: Path) -> Path:
    digest = hashlib.sha256(str(target).encode()).hexdigest()[:16]
    directory = state_dir() / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{digest}.lock"


@contextlib.contextmanager
def target_lock(target: Path) -> Iterator[None]:
    """One tfsetup writer per PATH. The OS drops the lock when a process dies: never stale."""
    path = _lock_file_for(target)
    handle = open(path, "a+")
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows
            import msvcrt

            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise TfsetupError(f"another tfsetup is working on {target}; nothing was changed",
                                   EXIT_INSTALL_FAILED, fix="wait for it to finish") from None
        else:
            import fcntl

            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                owner = handle.read().strip() or "?"
                raise TfsetupError(f"another tfsetup (pid {owner}) is working on {target}; nothing was changed",
                                   EXIT_INSTALL_FAILED, fix="wait for it to finish, then run again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def recover_leftovers(target: Path) -> List[str]:
    """Undo what a run killed outright left beside PATH: put a moved-aside env back, drop stages."""
    notes = []
    parent = target.parent
    if not parent.is_dir():
        return notes
    for entry in sorted(parent.iterdir()):
        name = entry.name
        if name.startswith(sibling_prefix(target, OLD_TAG)) and entry.is_dir():
            if not target.exists():
                os.rename(entry, target)
                notes.append(f"restored {target} from an interrupted run")
            else:
                shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(sibling_prefix(target, STAGE_TAG)) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            notes.append(f"removed a staging directory left by an interrupted run ({name})")
    return notes


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) take the same rollback path as Ctrl-C. The first of them interrupts; the
    ones after it are ignored until the block is left, so a hammered Ctrl-C cannot cut the rollback."""
    if threading_main() is False:
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a rollback, restore or swap runs; they arrive after it.

    A user who presses Ctrl-C twice must not stop the rollback half-way (an env moved aside, a staging
    directory half deleted). Only rename/rmtree run inside: no child inherits the blocked mask.
    """
    sigs = {s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None}
    if not hasattr(signal, "pthread_sigmask") or not threading_main():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ---------------------------------------------------------------------------------------------
# the record file and script relocation

def host_summary(facts: HostFacts) -> Dict[str, Any]:
    return {"os": facts.os, "os_version": facts.os_version, "machine": facts.machine, "cpu": facts.cpu,
            "rosetta": facts.rosetta, "gpus": [g.name for g in facts.gpus]}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def build_record(plan: Plan, facts: HostFacts, backend: str, lock_digest: str, lock_name: str,
                 verification: Optional[VerifyResult], started_at: str) -> Dict[str, Any]:
    return {
        "schema": 1,
        "tfsetup": __version__,
        "recipe": plan.recipe.id,
        "accelerator": plan.recipe.accelerator,
        "distribution": plan.recipe.distribution,
        "packages": plan.packages,
        "lock": {"name": lock_name, "digest": lock_digest, "python_platform": plan.recipe.python_platform},
        "python": {"base": plan.python.executable, "version": plan.python.version, "launch": plan.launch},
        "backend": backend,
        "host": host_summary(facts),
        "created_at": started_at,
        "verified_at": now_iso() if verification else None,
        "verification": ({"ok": verification.ok, "checks": [
            {"id": c.id, "status": c.status, "message": c.message} for c in verification.checks]}
            if verification else None),
        "repairs": [],
    }


def write_record(env: Path, record: Dict[str, Any]) -> None:
    tmp = env / (RECORD_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, env / RECORD_FILE)


def read_record(env: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads((env / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
            mode = path.stat().st_mode
            path.write_bytes(data.replace(old_b, new_b))
            os.chmod(path, mode)
            changed += 1
    return changed


def broken_scripts(env: Path) -> List[str]:
    """Console scripts whose shebang names an interpreter that does not exist."""
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
            if not os.path.exists(interpreter):
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
    env: Dict[str, str] = {}
    python_platform = None
    if facts.os == "macos":
        # Wheels for the hardware and the real macOS version, even from a translated parent.
        python_platform = plan.recipe.python_platform
        env["MACOSX_DEPLOYMENT_TARGET"] = ".".join(facts.os_version.split(".")[:2]) or "12.0"
    return Target(python_platform=python_platform, env=env)


def up_to_date(target: Path, plan: Plan, lock_digest: str) -> Optional[Dict[str, Any]]:
    """The env's record when PATH already holds exactly this plan's env and it verified; else None.

    Makes a second `tfsetup install` (an onboarding script run twice) a no-op, like `uv sync`.
    """
    if not is_tfsetup_env(target) or not env_python(target).exists():
        return None
    record = read_record(target) or {}
    python = (record.get("python") or {}).get("version", "")
    if (record.get("recipe") == plan.recipe.id and (record.get("lock") or {}).get("digest") == lock_digest
            and python.split(".")[:2] == plan.python.version.split(".")[:2]
            and (record.get("verification") or {}).get("ok") is True):
        return record
    return None


def run_install(plan: Plan, facts: HostFacts, opts: InstallOptions, progress: Progress) -> InstallResult:
    target = Path(os.path.abspath(opts.target))
    lock_path = opts.lock_path or Path(plan.lock.path)
    lock_digest = hashlib.sha256(lock_path.read_bytes()).hexdigest()
    if not opts.force:
        current = up_to_date(target, plan, lock_digest)
        if current is not None:
            return InstallResult(target, plan, None, {}, False, current, unchanged=True)
    replaced = check_target(target, opts.force, opts.confirm)
    check_lock_hashes(lock_path)
    backend = get_backend(opts.backend)
    check_engine_path(backend.name, target)
    timings: Dict[str, float] = {}
    started_at = now_iso()

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[None]:
        progress(name, "start")
        t0 = time.perf_counter()
        yield
        timings[name] = time.perf_counter() - t0
        progress(name, "done")

    with target_lock(target), sigterm_as_interrupt():
        # Again under the lock: another run may have put an env at PATH since the first look.
        replaced = check_target(target, opts.force or replaced, None)
        for note in recover_leftovers(target):
            progress("recover", note)
        target.parent.mkdir(parents=True, exist_ok=True)
        with signals_deferred():  # a unique name, reserved then freed: the engines create the directory
            staging = Path(tempfile.mkdtemp(prefix=sibling_prefix(target, STAGE_TAG), dir=target.parent))
            os.rmdir(staging)
        old: Optional[Path] = None
        promoted = completed = False
        try:
            with stage("venv"):
                backend.create_venv(plan.launch, staging, prompt=safe_prompt(target.name))
            with stage("install"):
                backend.install_lock(plan.launch, staging, lock_path, opts.source, install_target(plan, facts))
                bytecode.restore(relaunch(plan.launch, env_python(staging)), staging)
            verification = None
            if opts.verify:
                with stage("verify"):
                    verification = run_verification(
                        relaunch(plan.launch, env_python(staging)), expected_versions(plan, plan.lock.pins),
                        plan.recipe.accelerator, facts.machine, plan.recipe.distribution)
                if not verification.ok:
                    failed = verification.failed()
                    raise InstallFailed(
                        "verification failed: " + "; ".join(f"{c.id}: {c.message}" for c in failed),
                        fix="nothing was changed at the target; `tfsetup explain` can read the error above",
                        verification=verification, timings=timings)
            record = build_record(plan, facts, backend.name, lock_digest, lock_path.name, verification, started_at)
            record.update(opts.extra_record)
            write_record(staging, record)
            with stage("promote"):
                relocate_scripts(staging, staging, target)
                with signals_deferred():  # the swap happens whole, or not at all
                    if replaced:
                        old = Path(tempfile.mkdtemp(prefix=sibling_prefix(target, OLD_TAG), dir=target.parent))
                        os.rmdir(old)
                        os.rename(target, old)
                    elif target.exists():
                        os.rmdir(target)  # an empty directory the user made for us
                    os.rename(staging, target)
                    promoted = True
                broken = broken_scripts(target)
                if broken:
                    raise InstallFailed(f"console scripts do not run after the move: {', '.join(broken[:3])}")
            completed = True
            if old is not None:
                with signals_deferred():
                    shutil.rmtree(old, ignore_errors=True)
            if verification is not None:
                bytecode.harvest_later(relaunch(plan.launch, env_python(target)), target)
            return InstallResult(target, plan, verification, timings, replaced, record)
        except BackendError as exc:
            raise InstallFailed(f"{exc.step} failed ({backend.name}): {exc.message}",
                                fix=_backend_fix(exc.message, opts.source), timings=timings) from None
        except OSError as exc:
            raise InstallFailed(f"install failed: {exc.strerror or exc} ({exc.filename or target})",
                                timings=timings) from None
        finally:
            if not completed:
                _roll_back(target, staging, old, promoted)


def _roll_back(target: Path, staging: Path, old: Optional[Path], promoted: bool) -> None:
    """Leave exactly what was there before, and no temporary directories (signals wait until done)."""
    with signals_deferred():
        if promoted and target.exists():
            shutil.rmtree(target, ignore_errors=True)  # the new env failed after the move
        if old is not None and old.exists() and not target.exists():
            os.rename(old, target)  # the previous env goes back
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _backend_fix(message: str, source: PackageSource) -> Optional[str]:
    lowered = message.lower()
    if "hash" in lowered and ("mismatch" in lowered or "do not match" in lowered or "hashes" in lowered):
        return "a downloaded file does not match the lock's hash: the index or wheelhouse serves a " \
               "different file; nothing was installed"
    if "no space" in lowered:
        return "the disk is full: free some space and run again"
    if "file size limit" in lowered or "file too large" in lowered:
        return "a file size limit (ulimit -f) stopped the install: raise it and run again"
    missing = any(s in lowered for s in ("no solution", "not found", "unsatisfiable", "no matching distribution",
                                         "could not find a version"))
    if source.offline and not source.find_links and missing:
        return "offline, and the wheels are not in the local cache: make a wheelhouse on a connected machine " \
               "(`tfsetup wheelhouse DIR`) and pass --find-links DIR"
    if source.offline and missing:
        return "the wheelhouse lacks a wheel this lock needs (made for another lock, platform or Python?): " \
               "rebuild it with `tfsetup wheelhouse DIR --platform P --python X.Y` for this host and lock"
    if index_unreachable(message):
        return "the package index could not be reached: check the network, or use --offline --find-links DIR"
    return None
