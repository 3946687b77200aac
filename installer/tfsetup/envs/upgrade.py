"""`tfsetup upgrade [PATH]`: move a tfsetup env to the newest (or the asked) recipe for this host and take
the user's packages along.

The packages to carry: those `tfsetup add` recorded, plus the env's other top-level packages (added
with pip or uv). Each is resolved against the NEW lock before anything changes: at its version, else
at the newest version that fits; the ones that cannot follow are listed with the reason. Then the
staged, verified swap (build.py): build the new env beside PATH, install the carried packages into
it, run the full verification, promote. PATH is untouched until the swap; any failure exits 4 with the
old env exactly as it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from tfsetup.backends import BackendError
from tfsetup.backends.base import PackageSource
from tfsetup.build import Stages, build_record, build_verify_promote, check_lock_hashes, install_target, lock_digest
from tfsetup.child import pause_point
from tfsetup.env.facts import inspect_env
from tfsetup.env.registry import register_env
from tfsetup.envs import describe_versions, engine_for, env_pins, tfsetup_env
from tfsetup.envs.replace import hand_installed
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.detect import detect_host
from tfsetup.host.facts import HostFacts
from tfsetup.managed_python import managed_python
from tfsetup.packages import Entry, Resolver, closure_versions, explain_conflict, install_entries
from tfsetup.plan import Plan, PlanError, PlanRequest, plan as make_plan
from tfsetup.recipes import load_recipes
from tfsetup.request import env_python_settings
from tfsetup.env.record import ReplaceChanges, describe, now_iso, replace_changes, user_packages
from tfsetup.resolve import ResolveError
from tfsetup.txn import Transaction

Progress = Callable[[str], None]


@dataclass
class UpgradePlan:
    env: Path
    record: Dict[str, Any]
    plan: Plan
    facts: HostFacts
    carried: Dict[str, Tuple[str, str]]  # name -> (version now, version in the new env)
    dropped: Dict[str, str]  # name -> why it cannot follow
    entries: List[Entry] = field(default_factory=list)  # the carried packages' closure beyond the new lock
    up_to_date: bool = False
    changes: Optional[ReplaceChanges] = None  # what the replace drops (= dropped) and whether Python changes

    @property
    def old(self) -> str:
        return describe(self.record)

    @property
    def new(self) -> str:
        recipe = self.plan.recipe
        return f"{recipe.id} ({recipe.distribution} {self.plan.packages.get(recipe.distribution, recipe.tensorflow)})"

    def to_json(self) -> Dict[str, Any]:
        return {"env": str(self.env), "from": self.old, "to": self.new, "up_to_date": self.up_to_date,
                "recipe": self.plan.recipe.id, "packages": self.plan.packages,
                "carried": {k: {"from": a, "to": b} for k, (a, b) in self.carried.items()},
                "dropped": [{"package": k, "reason": v} for k, v in self.dropped.items()],
                "replace": self.changes.to_json() if self.changes is not None else None}


@dataclass
class UpgradeResult:
    upgrade: UpgradePlan
    upgraded: bool
    verification: Optional[Any] = None
    timings: Dict[str, float] = field(default_factory=dict)
    declined: bool = False

    def to_json(self) -> Dict[str, Any]:
        doc = dict(self.upgrade.to_json(), ok=True, upgraded=self.upgraded, declined=self.declined,
                   timings={k: round(v, 3) for k, v in self.timings.items()})
        doc["verification"] = self.verification.to_json() if self.verification is not None else None
        return doc


def choose_plan(record: Dict[str, Any], facts: HostFacts, table: Any, tf: Optional[str]) -> Plan:
    """The newest (default) or asked recipe for this host, same accelerator and Keras choice as the env
    has; the env's Python minor when a recipe has a lock for it, else the planner's interpreter."""
    old = table.by_id(str(record.get("recipe")))
    keras = 2 if old is not None and old.keras_package == "tf-keras" else None
    minor = ".".join(str((record.get("python") or {}).get("version", "")).split(".")[:2]) or None
    accelerator = record.get("accelerator") or None
    first: Optional[PlanError] = None
    py = env_python_settings(record)  # the project's python-downloads / managed-python, like install
    for python in (minor, None):
        try:
            return make_plan(facts, table, PlanRequest(tf=tf, python=python, accelerator=accelerator, keras=keras,
                                                       python_downloads=py.downloads, managed_python=py.managed))
        except PlanError as exc:
            first = first or exc
    assert first is not None
    raise first


def to_carry(env: Path, record: Dict[str, Any], old_pins: Dict[str, str], plan: Plan) -> Dict[str, str]:
    """The user's packages: recorded by `add`, plus the env's other top-level packages (pip/uv installs)."""
    carry = {k: v for k, v in user_packages(record).items() if k not in plan.lock.pins}
    carry.update(hand_installed(inspect_env(env), list(old_pins) + list(plan.lock.pins) + list(carry)))
    return dict(sorted(carry.items()))


def resolve_carried(resolver: Resolver, carry: Dict[str, str], progress: Progress
                    ) -> Tuple[Dict[str, Tuple[str, str]], Dict[str, str], List[Entry]]:
    """(carried: name -> (now, new), dropped: name -> why, closure): at the same version when it fits the
    new lock, else the newest that fits, else dropped with uv's reason. Bounded: one joint resolve, and
    two per package only when the joint one fails."""
    if not carry:
        return {}, {}, []
    pinned = [f"{k}=={v}" for k, v in carry.items()]
    try:
        entries = resolver.resolve(pinned)
        versions = closure_versions(entries)
        return {k: (v, versions.get(k, v)) for k, v in carry.items()}, {}, entries
    except ResolveError:
        pass
    lines: List[str] = []
    dropped: Dict[str, str] = {}
    for name, version in carry.items():
        progress(f"{name} {version}: checking it against the new lock ...")
        for line in (f"{name}=={version}", name):
            try:
                resolver.resolve([line])
                lines.append(line)
                break
            except ResolveError as exc:
                reason = explain_conflict(str(exc), resolver.pins)[0]
        else:
            dropped[name] = reason
    if not lines:
        return {}, dropped, []
    try:
        entries = resolver.resolve(lines)
    except ResolveError as exc:
        raise TfsetupError(f"your packages fit the new lock one by one but not together: "
                           f"{explain_conflict(str(exc), resolver.pins)[0]}; nothing was changed",
                           EXIT_INSTALL_FAILED, "upgrade them yourself after `tfsetup upgrade` with `tfsetup add`",
                           {"target_unchanged": True}) from None
    versions = closure_versions(entries)
    carried = {k: (v, versions[k]) for k, v in carry.items() if k in versions and k not in dropped}
    return carried, dropped, entries


def plan_upgrade(path: Path, tf: Optional[str], recipes_file: Optional[Path], progress: Progress) -> UpgradePlan:
    """What `upgrade` would do (nothing changes): the new recipe and the fate of each user package."""
    opened = tfsetup_env(path)
    env, record = opened.path, opened.record or {}
    if (record.get("project") or {}).get("lock"):
        raise TfsetupError(f"{env} follows the project's tfsetup.lock; upgrading it to a recipe would leave the "
                           "team's lock", EXIT_BAD_INPUT, fix="change the project's tfsetup.toml, run `tfsetup lock`, "
                           "then `tfsetup install --force`")
    facts = detect_host()
    table = load_recipes(recipes_file)
    chosen = choose_plan(record, facts, table, tf)
    same = record.get("recipe") == chosen.recipe.id and (record.get("lock") or {}).get("digest") == chosen.lock.digest
    if same:
        return UpgradePlan(env, record, chosen, facts, {}, {}, up_to_date=True)
    old_pins, _ = env_pins(record, {}, table)
    carry = to_carry(env, record, old_pins, chosen)
    _, uv = engine_for(record)
    target = install_target(chosen, facts)
    resolver = Resolver(uv, ["--python-version", chosen.python.version, "--python-platform",
                             chosen.recipe.python_platform], chosen.lock.pins, PackageSource(), target)
    if carry:
        progress(f"resolving your packages ({describe_versions(carry)}) against {chosen.recipe.id} ...")
    carried, dropped, entries = resolve_carried(resolver, carry, progress)
    extra = [e for e in entries if e[0] not in chosen.lock.pins]
    changes = replace_changes(record, chosen.python.version, chosen.lock.pins, added=carry, carried=carried,
                              reasons=dropped)
    return UpgradePlan(env, record, chosen, facts, carried, dropped, extra, changes=changes)


def apply_upgrade(up: UpgradePlan, progress: Callable[[str, str], None]) -> UpgradeResult:
    """The staged, verified swap; UpgradeFailed-style TfsetupError (exit 4) with the old env as it was."""
    plan, facts, env = up.plan, up.facts, up.env
    lock_path = Path(plan.lock.path)
    check_lock_hashes(lock_path)
    installer, _ = engine_for(up.record)
    stages = Stages(progress)
    timings = stages.timings
    started = now_iso()

    # a managed Python (plan.managed) is fetched through uv first (from the project's mirror or list, like
    # install): exit 4 before the env is touched
    plan = managed_python(plan, facts, env_python_settings(up.record).source, stages,
                          lambda line: progress("python", line))

    def add_packages(launch: List[str]) -> None:
        if up.entries:
            with stages("packages"):
                install_entries(installer, launch, up.entries, PackageSource(), install_target(plan, facts))

    def refuse(why: str, verification: Any) -> TfsetupError:
        return TfsetupError(f"the upgraded env failed verification ({why}); {env} is as it was before",
                            EXIT_INSTALL_FAILED, "`tfsetup explain` can read the error above",
                            {"verification": verification.to_json(), "target_unchanged": True})

    def record(verification: Any) -> Dict[str, Any]:
        fresh = build_record(plan, facts, installer.name, lock_digest(lock_path), lock_path.name, verification,
                             started)
        fresh["user_packages"] = {k: new for k, (_, new) in up.carried.items()}
        if (up.record.get("project") or {}).get("config"):
            fresh["project"] = up.record["project"]
        fresh["upgraded_from"] = {"recipe": up.record.get("recipe"), "packages": up.record.get("packages"),
                                  "at": started, "dropped": dict(up.dropped)}
        fresh["changes"] = list(up.record.get("changes") or []) + [{"at": started, "command": "upgrade",
                                                                    "from": up.old, "to": up.new}]
        return fresh

    pause_point("upgrade-planned")  # test-only: where a concurrent `add` can be made to land
    try:
        with Transaction(env, lambda message: progress("recover", message)) as txn:
            # planned_from: the record the carry was decided from must still be the env's under the lock
            verification, _ = build_verify_promote(txn, plan, facts, installer, PackageSource(), stages, record,
                                                   refuse, add_packages=add_packages, planned_from=up.record)
    except BackendError as exc:
        raise TfsetupError(f"{exc.step} failed ({installer.name}): {exc.message}; {env} is as it was before",
                           EXIT_INSTALL_FAILED, details={"target_unchanged": True, "timings": timings}) from None
    except OSError as exc:
        raise TfsetupError(f"upgrade failed: {exc.strerror or exc} ({exc.filename or env}); {env} is as it was "
                           "before", EXIT_INSTALL_FAILED, details={"target_unchanged": True}) from None
    register_env(env)
    return UpgradeResult(up, True, verification, timings)
