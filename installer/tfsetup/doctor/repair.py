"""findings -> a repair plan (pure) -> apply it with a backup, verify, and restore on any failure.

Three kinds of repair, chosen from the findings:
- stack: uninstall conflicting TensorFlow distributions (and a plug-in the recipe does not use), then
  reinstall the matching recipe's hash-pinned lock with --reinstall; the user's other packages stay;
- rebuild: a wrong-arch interpreter (Rosetta, x86 wheels, x86 conda) cannot be fixed in place: build a
  fresh env at the same PATH with `tfsetup.install.run_install` and reinstall the user's other
  top-level packages (name==version, constrained to the lock's pins);
- manual: what tfsetup cannot change (the CPU, the macOS version): the finding's fix, shown.
Applying always starts with a backup of the env beside it (hard links, see _link_or_copy); if any step
or the verification fails (or Ctrl-C / SIGTERM arrives), the env is put back exactly from it and doctor
exits 4.
"""
from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement

from tfsetup.doctor.findings import Finding
from tfsetup.doctor.inspect import Distribution, EnvFacts
from tfsetup.doctor.rules import REBUILD_IDS, marker_environment, tf_distribution
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.facts import HostFacts, PythonInfo
from tfsetup.plan import Plan, PlanError, PlanRequest, plan as make_plan
from tfsetup.recipes import TF_DISTRIBUTIONS, RecipeTable, normalize_name

# Test-only: makes the post-repair verification count as failed, so tests can prove the restore path
# on a real env. Never set it outside tests.
FAIL_VERIFY_ENV = "TFSETUP_TEST_FAIL_REPAIR_VERIFY"
BACKUP_TAG = ".tfsetup-backup-"
FAILED_TAG = ".tfsetup-failed-"
STACK_IDS = ("conflicting-tf-distributions", "metal-plugin-abi-mismatch", "metal-plugin-missing",
             "numpy-abi-mismatch", "keras-mismatch", "requirement-conflict", "protobuf-mismatch",
             "cuda-libs-missing", "tensorflow-missing", "tensorflow-import-failed")
NEVER_REINSTALL = ("pip", "setuptools", "wheel", "uv", "tensorflow-metal", "tensorflow-io-gcs-filesystem")
_CONDA_TOOLING = ("conda", "libmamba", "mamba", "menuinst")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RepairAction:
    kind: str  # uninstall | install-lock | rebuild | install-packages | manual
    summary: str
    argv: Tuple[str, ...] = ()
    packages: Tuple[str, ...] = ()
    finding: Optional[str] = None  # for manual actions: the finding it is about

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"kind": self.kind, "summary": self.summary}
        if self.argv:
            doc["argv"] = list(self.argv)
        if self.packages:
            doc["packages"] = list(self.packages)
        if self.finding:
            doc["finding"] = self.finding
        return doc


@dataclass(frozen=True)
class RepairPlan:
    env: str
    actions: Tuple[RepairAction, ...] = ()
    addresses: Tuple[str, ...] = ()  # the finding ids the automatic actions repair
    plan: Optional[Plan] = None  # whose lock gets installed (stack or rebuild)
    rebuild: bool = False
    engine: str = "uv"

    @property
    def automatic(self) -> List[RepairAction]:
        return [a for a in self.actions if a.kind != "manual"]

    def to_json(self) -> List[Dict[str, Any]]:
        return [a.to_json() for a in self.actions]


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


# ---------------------------------------------------------------------------------------------
# planning (pure)

def actionable(findings: Sequence[Finding]) -> List[Finding]:
    return [f for f in findings if f.severity in ("error", "warning")]


def needs_rebuild(findings: Sequence[Finding]) -> bool:
    return any(f.id in REBUILD_IDS and f.severity == "error" for f in findings)


def desired_accelerator(env: EnvFacts, host: HostFacts, findings: Sequence[Finding]) -> str:
    ids = {f.id for f in actionable(findings)}
    has_cuda_libs = any(k.startswith("nvidia-") and k.endswith("-cu12") for k in env.distributions)
    if host.os == "macos" and host.machine == "arm64" and (env.dist("tensorflow-metal") or "metal-plugin-missing" in ids):
        return "metal"
    if host.os == "linux" and host.has_gpu("nvidia") and ("cuda-libs-missing" in ids or has_cuda_libs):
        return "cuda"
    recorded = (env.record or {}).get("accelerator")
    return recorded if recorded in ("metal", "cuda", "cpu") else "cpu"


def _requests(tf_minor: Optional[str], python: Optional[str], accelerator: str, pre: bool) -> List[PlanRequest]:
    """The request that keeps the most of the env first, then relaxed one constraint at a time."""
    candidates = [PlanRequest(tf=tf_minor, python=python, accelerator=accelerator, pre=pre),
                  PlanRequest(python=python, accelerator=accelerator),
                  PlanRequest(tf=tf_minor, python=python, pre=pre),
                  PlanRequest(python=python),
                  PlanRequest(tf=tf_minor, accelerator=accelerator, pre=pre),
                  PlanRequest(accelerator=accelerator), PlanRequest()]
    return list(dict.fromkeys(candidates))


def _first_plan(host: HostFacts, table: RecipeTable, requests: Sequence[PlanRequest]) -> Optional[Plan]:
    for request in requests:
        try:
            return make_plan(host, table, request)
        except PlanError:
            continue
    return None


def _tf_minor(env: EnvFacts) -> Tuple[Optional[str], bool]:
    tf = tf_distribution(env)
    if tf is None:
        return None, False
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(tf.version)
    except InvalidVersion:
        return None, False
    return f"{v.release[0]}.{v.release[1] if len(v.release) > 1 else 0}", v.is_prerelease


def stack_plan(env: EnvFacts, host: HostFacts, table: RecipeTable, accelerator: str) -> Optional[Plan]:
    """The recipe whose lock can go into THIS env: same platform, a lock for its Python minor, the same
    TensorFlow minor when there is one, else the plan's choice; None when no recipe fits the env."""
    tf_minor, pre = _tf_minor(env)
    return _first_plan(_host_with_env_python(env, host), table, _requests(tf_minor, env.minor, accelerator, pre))


def _host_with_env_python(env: EnvFacts, host: HostFacts) -> HostFacts:
    archs = [host.machine] if env.machine == host.machine or env.arm64_capable else [env.machine]
    me = PythonInfo(executable=env.python, version=env.version, implementation=env.implementation, archs=archs,
                    source="conda" if env.conda else "other", free_threaded=env.free_threaded)
    return replace(host, pythons=[me])


def project_stack_plan(env: EnvFacts, host: HostFacts, table: RecipeTable) -> Optional[Plan]:
    """An env installed from a project's tfsetup.lock is repaired from its section of that lock, not
    from the recipe's own lock (the edge: reads the project's files named in the env's record)."""
    project = (env.record or {}).get("project") or {}
    if not project.get("lock") or not Path(project["lock"]).is_file() or not project.get("config"):
        return None
    from tfsetup.team.config import load_config
    from tfsetup.team.project import plan_with_team_lock

    config = load_config(Path(project["config"]))
    chosen, _ = plan_with_team_lock(config, _host_with_env_python(env, host), table, PlanRequest(python=env.minor))
    return chosen


def rebuild_plan(env: EnvFacts, host: HostFacts, table: RecipeTable, accelerator: str) -> Optional[Plan]:
    """A fresh env from the host's interpreters (host must come from detect_host() with pythons)."""
    tf_minor, pre = _tf_minor(env)
    return _first_plan(host, table, _requests(tf_minor, env.minor, accelerator, pre))


def top_level_packages(env: EnvFacts, exclude: Sequence[str] = ()) -> List[Distribution]:
    """The user's own packages: installed distributions nothing else in the env requires."""
    markers = marker_environment(env)
    required = set()
    for dist in env.distributions.values():
        for line in dist.requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            keep = req.marker is None or "extra" in str(req.marker)  # dependencies through extras count too
            if not keep:
                try:
                    keep = bool(req.marker.evaluate(markers))
                except Exception:
                    keep = True
            if keep:
                required.add(normalize_name(req.name))
    skip = set(exclude) | set(TF_DISTRIBUTIONS) | set(NEVER_REINSTALL)
    return [d for d in sorted(env.distributions.values(), key=lambda d: d.key)
            if d.key not in required and d.key not in skip and not d.key.startswith(_CONDA_TOOLING)
            and not d.key.startswith("nvidia-")]


def _engine_argv(engine: str, uv: Optional[str], python: str) -> Tuple[List[str], List[str]]:
    """(install prefix, uninstall prefix) for the engine, aimed at the env's python."""
    if engine == "uv" and uv:
        return [uv, "pip", "install", "--python", python], [uv, "pip", "uninstall", "--python", python]
    return ([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"],
            [python, "-m", "pip", "uninstall", "-y", "--disable-pip-version-check"])


def lock_install_argv(engine: str, uv: Optional[str], python: str, lock: str, host: HostFacts, plan: Plan) -> List[str]:
    install, _ = _engine_argv(engine, uv, python)
    if engine == "uv" and uv:
        # No --compile-bytecode, as in install: cached pycs are placed before the verification instead.
        argv = install + ["--require-hashes", "--no-deps", "--only-binary", ":all:",
                          "--no-config", "-r", os.path.abspath(lock), "--reinstall"]
        if host.os == "macos":
            argv += ["--python-platform", plan.recipe.python_platform]
        return argv
    return install + ["--require-hashes", "--no-deps", "--only-binary", ":all:", "--force-reinstall",
                      "-r", os.path.abspath(lock)]


def plan_repair(findings: Sequence[Finding], env: EnvFacts, host: HostFacts, table: RecipeTable,
                engine: str = "uv", uv: Optional[str] = None, project_plan: Optional[Plan] = None) -> RepairPlan:
    """Findings -> the actions that fix them (nothing runs here). `host` needs its interpreters only
    when needs_rebuild(findings). `uv`: the uv binary (found when not given; without it, pip)."""
    if engine == "uv" and uv is None:
        uv = _uv_or_none()
        engine = "uv" if uv else "pip"
    todo = actionable(findings)
    accelerator = desired_accelerator(env, host, todo)
    rebuild = needs_rebuild(todo)
    stack = any(f.id in STACK_IDS for f in todo)
    handled = set(REBUILD_IDS if rebuild else ()) | (set(STACK_IDS) if (rebuild or stack) else set())
    actions: List[RepairAction] = []
    chosen: Optional[Plan] = None
    python = env.python
    if rebuild:
        chosen = rebuild_plan(env, host, table, accelerator)
        if chosen is None:
            handled = set()
        else:
            from tfsetup.envpaths import env_python

            python = str(env_python(Path(env.path)))
            actions.append(RepairAction(
                "rebuild", f"rebuild {env.path} as a fresh venv from {chosen.python.executable} "
                f"(Python {chosen.python.version}, {'/'.join(chosen.python.archs)}) with recipe {chosen.recipe.id} "
                f"({', '.join(f'{k} {v}' for k, v in chosen.packages.items())})", packages=tuple(
                    f"{k}=={v}" for k, v in sorted(chosen.lock.pins.items()))))
            keep = top_level_packages(env, exclude=list(chosen.lock.pins))
            if keep:
                install, _ = _engine_argv(engine, uv, python)
                specs = tuple(f"{d.name}=={d.version}" for d in keep)
                actions.append(RepairAction(
                    "install-packages", f"reinstall your other packages: {', '.join(specs)} "
                    f"(their dependencies constrained to the lock's pins)",
                    tuple(install + ["-c", "<lock pins>"] + list(specs)), specs))
    elif stack:
        chosen = project_plan or stack_plan(env, host, table, accelerator)
        if chosen is None:
            handled = set()
        else:
            pins = chosen.lock.pins
            remove = [d.name for d in env.tf_distributions() if d.key not in pins]
            metal = env.dist("tensorflow-metal")
            if metal is not None and "tensorflow-metal" not in pins:
                remove.append(metal.name)
            if remove:
                _, uninstall = _engine_argv(engine, uv, python)
                actions.append(RepairAction("uninstall", f"uninstall {', '.join(remove)} (not part of recipe "
                                            f"{chosen.recipe.id})", tuple(uninstall + remove), tuple(remove)))
            changed = sorted(k for k, v in pins.items() if env.version_of(k) != v)
            actions.append(RepairAction(
                "install-lock", f"{'reinstall' if env.tf_distributions() else 'install'} the locked stack of recipe "
                f"{chosen.recipe.id} "
                f"({', '.join(f'{k} {v}' for k, v in chosen.packages.items())}; {len(pins)} packages, hashes "
                f"checked{'; changes ' + ', '.join(changed) if changed else ''}); your other packages stay",
                tuple(lock_install_argv(engine, uv, python, chosen.lock.path, host, chosen)),
                tuple(f"{k}=={v}" for k, v in sorted(pins.items()))))
    for f in todo:
        if f.id not in handled:
            actions.append(RepairAction("manual", f"{f.id}: {f.fix}", finding=f.id))
    addresses = tuple(f.id for f in todo if f.id in handled)
    return RepairPlan(env=env.path, actions=tuple(actions), addresses=addresses, plan=chosen if handled else None,
                      rebuild=rebuild and chosen is not None, engine=engine)


# ---------------------------------------------------------------------------------------------
# applying (the edge): backup, act, verify, restore or record

def refuse_system_python(env: EnvFacts) -> None:
    """Only venvs and conda envs are changed: never a system (or pyenv, Homebrew, python.org) Python's
    own site-packages, and never with sudo."""
    if not env.venv and not env.conda:
        raise TfsetupError(f"{env.path} is a Python installation, not a virtual environment or a conda env; "
                           "tfsetup does not change a system Python's site-packages", EXIT_BAD_INPUT,
                           fix="make a separate env with `tfsetup install PATH` and use that")


def _link_or_copy(source: str, destination: str) -> None:
    """A hard link, so a 1.5 GB env is backed up in a moment and without the disk space. Safe because
    nothing the repair runs writes into an existing file: installers unlink and recreate, pip's uninstall
    renames, Python writes .pyc and tfsetup its record by atomic rename (the exact-restore tests check
    the backup's bytes). A filesystem without hard links gets a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def make_backup(env: Path) -> Path:
    from tfsetup.install import sibling_prefix, signals_deferred

    with signals_deferred():  # a unique name, reserved then freed: copytree creates the directory
        backup = Path(tempfile.mkdtemp(prefix=sibling_prefix(env, BACKUP_TAG), dir=env.parent))
        os.rmdir(backup)
    try:
        shutil.copytree(env, backup, symlinks=True, copy_function=_link_or_copy)
    except BaseException:
        shutil.rmtree(backup, ignore_errors=True)
        raise
    return backup


def restore_backup(env: Path, backup: Path) -> None:
    """Put the env back exactly as the backup holds it (rename: no partial state is ever visible)."""
    from tfsetup.install import sibling_prefix

    failed = None
    if env.exists() or env.is_symlink():
        failed = Path(tempfile.mkdtemp(prefix=sibling_prefix(env, FAILED_TAG), dir=env.parent))
        os.rmdir(failed)
        os.rename(env, failed)
    os.rename(backup, env)
    if failed is not None:
        shutil.rmtree(failed, ignore_errors=True)


def leftover_backups(env: Path) -> List[Path]:
    """Backups a killed doctor left beside the env (restore one by renaming it back)."""
    from tfsetup.install import sibling_prefix

    if not env.parent.is_dir():
        return []
    return sorted(p for p in env.parent.iterdir() if p.name.startswith(sibling_prefix(env, BACKUP_TAG)))


def _run(step: str, argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> None:
    from tfsetup.backends._proc import run_step

    run_step(step, list(argv), env=env)


def _constraints_file(plan: Plan) -> str:
    fd, path = tempfile.mkstemp(prefix="tfsetup-constraints-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{k}=={v}\n" for k, v in sorted(plan.lock.pins.items())))
    return path


def _rebuild(rp: RepairPlan, target: Path, host: HostFacts, progress: Progress) -> None:
    from tfsetup.install import InstallOptions, run_install

    assert rp.plan is not None
    shutil.rmtree(target)  # the backup holds it; a conda env cannot be "replaced" by a venv in place
    opts = InstallOptions(target=target, backend=rp.engine, force=True, verify=False)
    run_install(rp.plan, host, opts, lambda stage, event: progress(f"{stage}: {event}"))


def _record_after(rp: RepairPlan, env: EnvFacts, host: HostFacts, target: Path, verification: Any,
                  started: str, findings: Sequence[Finding]) -> Dict[str, Any]:
    import hashlib

    from tfsetup import __version__
    from tfsetup.install import build_record, now_iso, read_record, write_record

    assert rp.plan is not None
    lock_path = Path(rp.plan.lock.path)
    fresh = build_record(rp.plan, host, rp.engine, hashlib.sha256(lock_path.read_bytes()).hexdigest(),
                         lock_path.name, verification, started)
    previous = env.record or {}
    if rp.rebuild:
        record = read_record(target) or fresh
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
    write_record(target, record)
    return record


def apply_repair(rp: RepairPlan, env: EnvFacts, host: HostFacts, findings: Sequence[Finding],
                 progress: Progress) -> RepairResult:
    """Backup, run the actions, verify; restore exactly and raise RepairFailed (exit 4) on any failure."""
    from tfsetup.install import now_iso, sigterm_as_interrupt

    if not rp.automatic or rp.plan is None:
        raise TfsetupError("nothing here can be repaired automatically", EXIT_BAD_INPUT)
    refuse_system_python(env)
    from tfsetup.install import check_lock_hashes

    check_lock_hashes(Path(rp.plan.lock.path))  # a malformed lock is bad input, found before the backup
    target = Path(os.path.realpath(env.path))  # a symlinked env: back up and restore the real directory
    started = now_iso()
    with sigterm_as_interrupt():  # SIGTERM/SIGHUP take the Ctrl-C path from the first copied byte on
        try:
            progress(f"backing up {target} ...")
            backup = make_backup(target)
        except OSError as exc:
            raise RepairFailed(f"could not back up {target} ({exc.strerror or exc}); nothing was changed",
                               restored=False) from None
        except KeyboardInterrupt:
            raise RepairFailed("interrupted while backing up; nothing was changed", restored=False) from None
        return _apply_backed_up(rp, env, host, findings, progress, target, backup, started)


def _apply_backed_up(rp: RepairPlan, env: EnvFacts, host: HostFacts, findings: Sequence[Finding],
                     progress: Progress, target: Path, backup: Path, started: str) -> RepairResult:
    """The actions and the verification, with `backup` taken: any failure or signal restores it."""
    from tfsetup import bytecode
    from tfsetup.backends.base import BackendError
    from tfsetup.envpaths import env_python, relaunch
    from tfsetup.install import InstallFailed, expected_versions, signals_deferred, target_lock
    from tfsetup.verify import run_verification

    assert rp.plan is not None
    verification = None
    constraints: Optional[str] = None
    try:
        progress(f"   backup: {backup}")
        with (target_lock(target) if not rp.rebuild else _null()):
            macos_env = {"MACOSX_DEPLOYMENT_TARGET": ".".join(host.os_version.split(".")[:2])} \
                if host.os == "macos" else {}
            for action in rp.automatic:
                progress(f"-> {action.summary}")
                if action.kind == "rebuild":
                    _rebuild(rp, target, host, progress)
                elif action.kind == "install-packages":
                    constraints = _constraints_file(rp.plan)
                    argv = [constraints if a == "<lock pins>" else a for a in action.argv]
                    _run("reinstall your packages", argv, macos_env)
                else:
                    _run(action.kind, action.argv, macos_env)
            progress("-> verifying the repaired env ...")
            python = env_python(target) if rp.rebuild else Path(env.python)
            launch = relaunch(rp.plan.launch, python)
            bytecode.restore(launch, target)
            verification = run_verification(launch, expected_versions(rp.plan, rp.plan.lock.pins),
                                            rp.plan.recipe.accelerator, host.machine, rp.plan.recipe.distribution)
            forced = os.environ.get(FAIL_VERIFY_ENV) == "1"  # test-only, see FAIL_VERIFY_ENV
            if forced or not verification.ok:
                why = "; ".join(f"{c.id}: {c.message}" for c in verification.failed()) or \
                    f"{FAIL_VERIFY_ENV}=1 (test-only forced failure)"
                raise RepairFailed(f"the repaired env failed verification ({why}); restored it from the backup",
                                   verification)
            record = _record_after(rp, env, host, target, verification, started, findings)
    except BaseException as exc:
        with signals_deferred():  # a second Ctrl-C must not stop the restore half-way
            progress(f"   restoring {target} from the backup ...")
            restore_backup(target, backup)
        if isinstance(exc, RepairFailed):
            raise
        if isinstance(exc, KeyboardInterrupt):
            raise RepairFailed("interrupted; the env was restored from the backup", verification) from None
        if isinstance(exc, (BackendError, InstallFailed, TfsetupError, OSError)):
            message = getattr(exc, "message", None) or str(exc)
            raise RepairFailed(f"the repair failed ({message}); the env was restored from the backup",
                               verification) from None
        raise
    finally:
        if constraints:
            os.unlink(constraints)
    try:
        with signals_deferred():
            shutil.rmtree(backup, ignore_errors=True)
    except KeyboardInterrupt:
        pass  # the repair is applied, verified and recorded: a late Ctrl-C must not report a failure
    return RepairResult(ok=True, verification=verification, record=record)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


# ---------------------------------------------------------------------------------------------
# the whole `tfsetup doctor` run (the CLI only handles arguments and prints)

@dataclass
class DoctorOutcome:
    doc: Dict[str, Any]
    exit_code: int
    findings: List[Finding]
    repair: RepairPlan
    after: Optional[List[Finding]] = None


def _uv_or_none() -> Optional[str]:
    from tfsetup.backends.base import BackendError
    from tfsetup.backends.uv import find_uv

    try:
        return find_uv()
    except BackendError:
        return None


def run_doctor(target: Path, deep: bool, fix: bool, confirm: Callable[[RepairPlan], bool],
               recipes_file: Optional[Path], progress: Progress,
               show: Optional[Callable[[List[Finding], RepairPlan, EnvFacts], None]] = None) -> DoctorOutcome:
    """Inspect -> diagnose -> plan the repair -> (with fix, after confirm) apply it."""
    from tfsetup.doctor.inspect import deep_import, inspect_env, launch_for_env
    from tfsetup.doctor.rules import diagnose, problems
    from tfsetup.host.detect import detect_host
    from tfsetup.recipes import load_recipes

    target = Path(os.path.abspath(os.path.expanduser(str(target))))
    table = load_recipes(recipes_file)
    host = detect_host(with_pythons=False)  # fast: no interpreter discovery
    env = inspect_env(target)
    if deep:
        progress("importing tensorflow in the env (up to 300 s) ...")
        env = replace(env, deep=deep_import(env, launch_for_env(Path(env.python), host.os, host.machine, host.rosetta)))
    findings = diagnose(env, host, table)
    if needs_rebuild(findings):
        host = detect_host()  # a rebuild needs the host's interpreters
    uv = _uv_or_none()
    engine = "pip" if (env.record or {}).get("backend") == "pip" or uv is None else "uv"
    rp = plan_repair(findings, env, host, table, engine, uv, project_stack_plan(env, host, table))
    if show is not None:
        show(findings, rp, env)
    doc: Dict[str, Any] = {"env": env.to_json(), "findings": [f.to_json() for f in findings],
                           "repair_plan": rp.to_json(), "repaired": False, "verification": None}
    if env.deep is not None:
        doc["deep"] = dict(env.deep.to_json(), findings=[f.id for f in findings if f.data.get("deep")])
    backups = leftover_backups(target)
    if backups:
        doc["leftover_backups"] = [str(b) for b in backups]
    code = 1 if problems(findings) else 0
    outcome = DoctorOutcome(doc, code, findings, rp)
    if not fix or not rp.automatic:
        if fix and problems(findings):
            doc["fix"] = "nothing here can be repaired automatically; see the manual steps"
        return outcome
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
        outcome.after = diagnose(inspect_env(target), detect_host(with_pythons=False), table)
        doc["findings_after"] = [f.to_json() for f in outcome.after]
    except KeyboardInterrupt:
        doc["findings_after"] = None  # interrupted after the repair had succeeded: it stands
    return outcome


SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def render_findings(findings: List[Finding], rp: RepairPlan, env: EnvFacts, fix: bool) -> None:
    """The report on stdout: the findings table, then the repair plan."""
    from rich.markup import escape
    from rich.table import Table

    from tfsetup.output import console

    out = console()
    tf = ", ".join(f"{d.key} {d.version}" for d in env.tf_distributions()) or "no TensorFlow"
    out.print(f"[bold]{escape(env.path)}[/]: Python {env.version} ({env.machine}{', conda' if env.conda else ''}), "
              f"{escape(tf)}")
    if not findings:
        out.print("[green]No problems found.[/]")
    else:
        table = Table(title="Findings", title_justify="left", show_lines=True)
        for col in ("severity", "id", "problem", "fix"):
            table.add_column(col, overflow="fold")
        for f in findings:
            style = SEVERITY_STYLE.get(f.severity, "")
            detail = escape(f.message) + "".join(f"\n[dim]· {escape(e)}[/]" for e in f.evidence[:4])
            table.add_row(f"[{style}]{f.severity}[/]", f.id, detail, escape(f.fix))
        out.print(table)
    if rp.actions:
        if not (env.venv or env.conda):
            how = (" (--fix does not change a system Python: make a separate env with "
                   "`tfsetup install PATH` instead)")
        else:
            command = f"tfsetup doctor --fix {shlex.quote(env.path)}"
            how = "" if fix else f" (run `{command}` to apply; a backup is taken first)"
        out.print("[bold]Repair plan[/]" + escape(how) + ":")
        for i, action in enumerate(rp.actions, 1):
            label = "by hand" if action.kind == "manual" else action.kind
            out.print(f"  {i}. {escape('[' + label + ']')} {escape(action.summary)}")


def render_result(outcome: DoctorOutcome) -> None:
    from rich.markup import escape

    from tfsetup.output import console

    out = console()
    doc = outcome.doc
    if doc.get("repaired"):
        out.print("[green bold]repaired[/]: the env passed verification; the repair is recorded in tfsetup-env.json")
        remaining = [f for f in (outcome.after or []) if f.severity in ("error", "warning")]
        for f in remaining:
            out.print(f"[yellow]still:[/] {f.id}: {escape(f.message)}")
    elif doc.get("error"):
        out.print(f"[red bold]repair failed[/]: {escape(doc['error'])}")
        if doc.get("restored"):
            out.print("the env is exactly as it was before the repair")
    for b in doc.get("leftover_backups", []):
        out.print(f"[yellow]note:[/] a backup from an interrupted repair is still at {escape(b)}")
