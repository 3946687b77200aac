"""findings -> a repair plan (pure; doctor/apply.py carries it out through the shared transaction).

Three kinds of repair, chosen from the findings:
- stack: uninstall conflicting TensorFlow distributions (and a plug-in the recipe does not use) and the
  locked packages present, then install the matching recipe's hash-pinned lock, from the engine's cache
  where it has the wheels; the user's other packages stay;
- rebuild: a wrong-arch interpreter (Rosetta, x86 wheels, x86 conda) cannot be fixed in place: build a
  fresh env beside PATH from the host's native interpreter, reinstall the user's other top-level
  packages into it (name==version, constrained to the lock's pins), verify it, swap it in;
- verify: an env that only lacks a passed verification is verified (nothing in it changes) and the
  result recorded; a stack repair or a rebuild verifies anyway, so it settles that finding too. An env
  whose last verification FAILED gets the stack repair: verifying it again would fail again, and
  reinstalling its lock is what puts a drifted or damaged stack back;
- manual: what tfsetup cannot change (the CPU, the macOS version): the finding's fix, shown.
Which kind a finding needs is in doctor/catalog.py; every command line comes from backends/.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from packaging.version import InvalidVersion, Version

from tfsetup.backends import get_backend
from tfsetup.backends.base import PackageSource, target_for
from tfsetup.backends.uv import uv_or_none
from tfsetup.doctor.findings import Finding
from tfsetup.env.facts import EnvFacts, top_level_packages
from tfsetup.env.paths import env_python
from tfsetup.doctor.catalog import REBUILD_IDS, STACK_IDS, VERIFY_IDS
from tfsetup.doctor.rules import tf_distribution
from tfsetup.host.facts import HostFacts, PythonInfo
from tfsetup.plan import Plan, PlanError, PlanRequest, plan as make_plan
from tfsetup.recipes import RecipeTable
from tfsetup.request import env_python_settings
from tfsetup.env.record import replace_changes
from tfsetup.team.config import load_config
from tfsetup.team.project import plan_with_team_lock

LOCK_PINS = "<lock pins>"  # in an action's argv: the constraints file written when it runs

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RepairAction:
    kind: str  # uninstall | install-lock | rebuild | install-packages | verify | manual
    summary: str
    argv: Tuple[str, ...] = ()
    packages: Tuple[str, ...] = ()
    finding: Optional[str] = None  # for manual actions: the finding it is about
    replace: Optional[Dict[str, Any]] = None  # a rebuild: what it drops and the Python change (ReplaceChanges)

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"kind": self.kind, "summary": self.summary}
        if self.argv:
            doc["argv"] = list(self.argv)
        if self.packages:
            doc["packages"] = list(self.packages)
        if self.finding:
            doc["finding"] = self.finding
        if self.replace is not None:
            doc["replace"] = self.replace
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

    @property
    def verify_only(self) -> bool:
        """The only automatic action is to verify the env (nothing in it changes)."""
        return bool(self.automatic) and all(a.kind == "verify" for a in self.automatic)

    def to_json(self) -> List[Dict[str, Any]]:
        return [a.to_json() for a in self.actions]


# ---------------------------------------------------------------------------------------------
# planning (pure)

def actionable(findings: Sequence[Finding]) -> List[Finding]:
    return [f for f in findings if f.severity in ("error", "warning")]


def failed_verification(finding: Finding) -> bool:
    """The not-verified finding of an env whose last verification failed (not one that timed out)."""
    return finding.id in VERIFY_IDS and finding.data.get("verification") == "failed"


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
    try:
        v = Version(tf.version)
    except InvalidVersion:
        return None, False
    return f"{v.release[0]}.{v.release[1] if len(v.release) > 1 else 0}", v.is_prerelease


def stack_plan(env: EnvFacts, host: HostFacts, table: RecipeTable, accelerator: str) -> Optional[Plan]:
    """The recipe whose lock can go into THIS env: same platform, a lock for its Python minor, the same
    TensorFlow minor when there is one, else the plan's choice; None when no recipe fits the env."""
    tf_minor, pre = _tf_minor(env)
    # in place: the env's own interpreter or nothing (a Python uv would download cannot go into this env)
    requests = [replace(r, python_downloads="never") for r in _requests(tf_minor, env.minor, accelerator, pre)]
    return _first_plan(_host_with_env_python(env, host), table, requests)


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
    config = load_config(Path(project["config"]))
    chosen, _ = plan_with_team_lock(config, _host_with_env_python(env, host), table,
                                    PlanRequest(python=env.minor, python_downloads="never"))
    return chosen


def rebuild_plan(env: EnvFacts, host: HostFacts, table: RecipeTable, accelerator: str) -> Optional[Plan]:
    """A fresh env from the host's interpreters (host must come from detect_host() with pythons)."""
    tf_minor, pre = _tf_minor(env)
    py = env_python_settings(env.record)  # the env's project's python-downloads / managed-python, like install
    return _first_plan(host, table, [replace(r, python_downloads=py.downloads, managed_python=py.managed)
                                     for r in _requests(tf_minor, env.minor, accelerator, pre)])


def plan_repair(findings: Sequence[Finding], env: EnvFacts, host: HostFacts, table: RecipeTable,
                engine: str = "uv", uv: Optional[str] = None, project_plan: Optional[Plan] = None) -> RepairPlan:
    """Findings -> the actions that fix them (nothing runs here). `host` needs its interpreters only
    when needs_rebuild(findings). `uv`: the uv binary (found when not given; without it, pip)."""
    if engine == "uv" and uv is None:
        uv = uv_or_none()
        engine = "uv" if uv else "pip"
    backend = get_backend(engine, uv)
    todo = actionable(findings)
    accelerator = desired_accelerator(env, host, todo)
    rebuild = needs_rebuild(todo)
    stack = any(f.id in STACK_IDS or failed_verification(f) for f in todo)
    handled = set(REBUILD_IDS if rebuild else ()) | (set(STACK_IDS) if (rebuild or stack) else set())
    actions: List[RepairAction] = []
    chosen: Optional[Plan] = None
    python = env.python
    if rebuild:
        chosen = rebuild_plan(env, host, table, accelerator)
        if chosen is None:
            handled = set()
        else:
            python = str(env_python(Path(env.path)))
            keep = top_level_packages(env, exclude=list(chosen.lock.pins))
            # the one answer to "what does this replace drop or change" (install --force and upgrade say it too);
            # installed packages outside the lock are all reinstalled below, so only the Python can change
            installed = {key: d.version for key, d in env.distributions.items()}
            changes = replace_changes(env.record, chosen.python.version, chosen.lock.pins, added=installed,
                                      python_now=env.version, carried=list(installed))
            source = chosen.python.executable or (f"a Python {chosen.python.minor} uv downloads "
                                                  f"({chosen.managed.key})" if chosen.managed else "?")
            actions.append(RepairAction(
                "rebuild", f"rebuild {env.path} as a fresh venv from {source} "
                f"(Python {chosen.python.version}, {'/'.join(chosen.python.archs)}) with recipe {chosen.recipe.id} "
                f"({', '.join(f'{k} {v}' for k, v in chosen.packages.items())})"
                + "".join(f"; {line}" for line in changes.lines()), packages=tuple(
                    f"{k}=={v}" for k, v in sorted(chosen.lock.pins.items())), replace=changes.to_json()))
            if keep:
                specs = tuple(f"{d.name}=={d.version}" for d in keep)
                actions.append(RepairAction(
                    "install-packages", f"reinstall your other packages: {', '.join(specs)} "
                    f"(their dependencies constrained to the lock's pins)",
                    tuple(backend.install_packages_argv([python], specs, Path(LOCK_PINS), PackageSource())), specs))
    elif stack:
        chosen = project_plan or stack_plan(env, host, table, accelerator)
        if chosen is None:
            handled = set()
        else:
            pins = chosen.lock.pins
            foreign = [d.name for d in env.tf_distributions() if d.key not in pins]
            metal = env.dist("tensorflow-metal")
            if metal is not None and "tensorflow-metal" not in pins:
                foreign.append(metal.name)
            # The locked packages present go too, so the lock puts every file back (an uninstalled
            # intruder takes files it shared with them). Not `--reinstall`: uv then downloads every
            # wheel again (it implies --refresh), ~600 MB for TensorFlow, and fails offline.
            locked = [d.name for key, d in sorted(env.distributions.items()) if key in pins]  # none is foreign
            parts = ([f"{', '.join(foreign)} (not part of recipe {chosen.recipe.id})"] if foreign else []) + \
                ([f"the {len(locked)} locked packages now installed (the next step puts them back, from the cache "
                  "where it has them)"] if locked else [])
            if parts:
                remove = foreign + locked
                actions.append(RepairAction("uninstall", f"uninstall {'; and '.join(parts)}",
                                            tuple(backend.uninstall_argv([python], remove)), tuple(remove)))
            changed = sorted(k for k, v in pins.items() if env.version_of(k) != v)
            actions.append(RepairAction(
                "install-lock", f"{'reinstall' if env.tf_distributions() else 'install'} the locked stack of recipe "
                f"{chosen.recipe.id} "
                f"({', '.join(f'{k} {v}' for k, v in chosen.packages.items())}; {len(pins)} packages, hashes "
                f"checked{'; changes ' + ', '.join(changed) if changed else ''}); your other packages stay",
                tuple(backend.install_lock_argv([python], Path(chosen.lock.path), PackageSource(),
                                                target_for(host.os, host.os_version, host.machine,
                                                           chosen.recipe.python_platform))),
                tuple(f"{k}=={v}" for k, v in sorted(pins.items()))))
    if chosen is not None:
        handled |= set(VERIFY_IDS)  # the repair ends with a verification, recorded
    elif any(f.id in VERIFY_IDS for f in todo):
        actions.append(RepairAction("verify", f"verify {env.path}: run the verification suite in it and record "
                                    "the result (nothing in the env changes)", finding="not-verified"))
        handled |= set(VERIFY_IDS)
    for f in todo:
        if f.id not in handled:
            actions.append(RepairAction("manual", f"{f.id}: {f.fix}", finding=f.id))
    addresses = tuple(f.id for f in todo if f.id in handled)
    return RepairPlan(env=env.path, actions=tuple(actions), addresses=addresses, plan=chosen if handled else None,
                      rebuild=rebuild and chosen is not None, engine=engine)


