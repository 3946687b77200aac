"""`tfsetup add PKG...`: the user's packages into a tfsetup env without moving its verified stack.

Resolve first (nothing changes): the packages under the lock's pins. A package that would move
anything in the lock (tensorflow, numpy, keras, protobuf ...) is refused with the reason and the
nearest version that fits. Then, through the transaction: back up the env (hard links), install the
resolved packages (hashes, no deps), run the quick verification, record them; any failure or signal
puts the env back exactly (exit 4).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from tfsetup.backends import BackendError
from tfsetup.backends.base import PackageSource, target_for
from tfsetup.build import refusal
from tfsetup.env.facts import inspect_env
from tfsetup.envs import describe_versions, engine_for, env_pins, tfsetup_env
from tfsetup.envs.upgrade import choose_plan
from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.detect import add_pythons, detect_host
from tfsetup.packages import (Conflict, Resolver, closure_versions, delta, explain_conflict, install_entries,
                              parse_specs)
from tfsetup.plan import PlanError
from tfsetup.platforms import native_launch
from tfsetup.env.record import now_iso, with_user_packages, write_record
from tfsetup.recipes import load_recipes, normalize_name
from tfsetup.resolve import ResolveError
from tfsetup.txn import Transaction, recover_if_idle
from tfsetup.verify import QUICK_CHECKS, VerifyResult, verify_recorded

Progress = Callable[[str], None]


@dataclass
class AddResult:
    env: Path
    added: Dict[str, str]  # what was asked, as resolved: name -> version
    installed: List[str]  # what changed in the env: name==version
    verification: Optional[VerifyResult]
    constraints: str  # where the pins came from: lock | recipe | installed
    notes: List[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not self.installed

    def to_json(self) -> Dict[str, Any]:
        return {"ok": True, "env": str(self.env), "added": self.added, "installed": self.installed,
                "unchanged": self.unchanged, "constraints": self.constraints, "notes": self.notes,
                "verification": self.verification.to_json() if self.verification else None}


class AddRefused(TfsetupError):
    """The packages cannot be added without moving the verified set; nothing was changed. `fix`: a command
    that works from here (refusal_fix), or None."""

    def __init__(self, conflicts: Sequence[Conflict], fix: Optional[str] = None) -> None:
        first = conflicts[0]
        moving = f" would move {', '.join(first.moves)}" if first.moves else " cannot be installed here"
        super().__init__(f"{first.requirement}{moving}: {first.reason}; nothing was changed", EXIT_INSTALL_FAILED,
                         fix, {"conflicts": [c.to_json() for c in conflicts], "target_unchanged": True})


# explain_conflict's clause: "<who> needs <dep><spec> but the verified set has <dep> <version>"
_NEEDS = re.compile(r"needs ([A-Za-z0-9][\w.\-]*)([<>=!~][^ ;]*) but the verified set has")
_NOT_FOUND = ("not found in the package registry", "not found in the provided package locations",
              "was not found in the cache", "no versions of")


def locked_needs(conflicts: Sequence[Conflict], pins: Mapping[str, str]) -> Dict[str, SpecifierSet]:
    """The versions of locked packages the refused packages need (name -> specifier): asked directly
    (`add 'numpy<2'`) or through a dependency (oldlib needs numpy<2)."""
    needs: Dict[str, SpecifierSet] = {}
    for c in conflicts:
        if c.name in pins:
            needs[c.name] = needs.get(c.name, SpecifierSet()) & Requirement(c.requirement).specifier
        for dep, spec in _NEEDS.findall(c.reason):
            key = normalize_name(dep)
            try:
                needs[key] = needs.get(key, SpecifierSet()) & SpecifierSet(spec)
            except InvalidSpecifier:
                continue
    return needs


def stack_with(needs: Mapping[str, SpecifierSet], record: Mapping[str, Any], facts: Any, table: Any) -> Optional[Any]:
    """The plan `tfsetup upgrade --tf X.Y` would make (the same planner, choose_plan) for the newest other
    recipe whose lock has versions of the locked packages that satisfy `needs`; None when none does."""
    current = str(record.get("recipe"))
    minors = sorted({r.tf_minor for r in table.recipes if r.platform == facts.platform}, key=Version, reverse=True)
    for minor in minors:
        try:
            chosen = choose_plan(dict(record), facts, table, minor)
        except PlanError:
            continue
        pins = chosen.lock.pins
        if chosen.recipe.id != current and all(name in pins and spec.contains(pins[name], prereleases=True)
                                               for name, spec in needs.items()):
            return chosen
    return None


def refusal_fix(conflicts: Sequence[Conflict], env: Path, record: Mapping[str, Any], pins: Mapping[str, str],
                installed: Mapping[str, str], upgrade_plan: Callable[[Mapping[str, SpecifierSet]], Any]
                ) -> Optional[str]:
    """The fix line of a refusal: only a command that does something from here. The nearest version that
    fits (never one already installed, never a locked package's own pin); else the `upgrade --tf` whose
    stack has what the packages need (`upgrade_plan(needs)` plans it as upgrade would); else words."""
    where = shlex.quote(str(env))
    nearest = [f"{c.name}=={c.nearest}" for c in conflicts
               if c.nearest and c.name not in pins and installed.get(c.name) != c.nearest]
    if nearest:
        return f"the nearest version that fits: `tfsetup add {' '.join(nearest)} {where}`"
    missing = [c for c in conflicts if any(text in c.reason for text in _NOT_FOUND)]
    if missing:
        return f"check the name: {missing[0].name} is not on the package index this env uses"
    needs = locked_needs(conflicts, pins)
    if not needs:
        return "no version of it fits this env's stack"
    wanted = ", ".join(f"{name}{spec}" for name, spec in needs.items())
    chosen = upgrade_plan(needs)
    if chosen is None:
        locks = ", ".join(f"{name} {pins[name]}" for name in needs if name in pins)
        return (f"{wanted} conflicts with the env's locked stack ({locks}), and no recipe that upgrade can move "
                "this env to has it")
    have = ", ".join(f"{name} {chosen.lock.pins[name]}" for name in needs)
    return (f"{wanted} needs another stack: `tfsetup upgrade {where} --tf {chosen.recipe.tf_minor}` moves the env to "
            f"{chosen.recipe.id} ({have}), carrying your packages; then add again")


def resolve_or_refuse(resolver: Resolver, lines: Sequence[str], progress: Progress,
                      fix: Callable[[Sequence[Conflict]], Optional[str]] = lambda conflicts: None) -> List:
    """The closure of all the requested packages, or AddRefused naming each one that does not fit (with
    `fix(conflicts)` as its fix line)."""
    try:
        return resolver.resolve(lines)
    except ResolveError as joint:
        reqs = parse_specs(lines)
        conflicts = []
        for req in reqs if len(reqs) > 1 else []:
            try:
                resolver.resolve([str(req)])
            except ResolveError as exc:
                progress(f"{req} does not fit; looking for the nearest version that does ...")
                conflicts.append(resolver.conflict(req, str(exc)))
        if not conflicts:  # each fits alone, not together (or just one was asked)
            if len(reqs) == 1:
                progress(f"{reqs[0]} does not fit; looking for the nearest version that does ...")
                conflicts = [resolver.conflict(reqs[0], str(joint))]
            else:
                reason, moves = explain_conflict(str(joint), resolver.pins)
                conflicts = [Conflict(" ".join(lines), f"they do not fit together: {reason}", moves)]
        raise AddRefused(conflicts, fix(conflicts)) from None


def add_packages(path: Path, specs: Sequence[str], progress: Progress) -> AddResult:
    reqs = parse_specs(specs)
    opened = tfsetup_env(path)  # resolved once, its record read once (again only under the lock)
    env, record = opened.path, opened.record or {}
    for note in recover_if_idle(env):
        progress(note)
    facts = detect_host(with_pythons=False)  # once: the upgrade hint and the verification reuse it
    installed = {d.key: d.version for d in inspect_env(env).distributions.values()}
    pins, pins_from = env_pins(record, installed, _bundled_table())
    lock = record.get("lock") or {}
    target = target_for(facts.os, facts.os_version, facts.machine, str(lock.get("python_platform") or ""))
    installer, uv = engine_for(record)
    source = PackageSource()
    python = ["--python", str(opened.python)]
    if target.python_platform:
        python += ["--python-platform", target.python_platform]
    resolver = Resolver(uv, python, pins, source, target)
    lines = [str(r) for r in reqs]
    progress(f"resolving {', '.join(lines)} against the env's {len(pins)} pinned packages ...")

    def upgrade_plan(needs: Mapping[str, SpecifierSet]) -> Any:
        table = _bundled_table()  # what `tfsetup upgrade` plans from; an env of another table gets no upgrade hint
        if table is None or table.by_id(str(record.get("recipe"))) is None:
            return None
        return stack_with(needs, record, add_pythons(facts), table)  # planning needs the interpreters

    entries = resolve_or_refuse(resolver, lines, progress,
                                lambda conflicts: refusal_fix(conflicts, env, record, pins, installed, upgrade_plan))
    versions = closure_versions(entries)
    names = [normalize_name(r.name) for r in reqs]
    added = {name: versions[name] for name in names if name in versions}
    todo = delta(entries, pins, installed)
    notes = [f"{k} is part of the env's locked stack (kept at {v})" for k, v in added.items() if k in pins]
    notes += [f"{r} does not apply to this env (its marker is false)" for r in reqs
              if normalize_name(r.name) not in versions]
    launch = native_launch(opened.python, facts.os, facts.machine, facts.rosetta)
    verification: Optional[VerifyResult] = None
    try:
        with Transaction(env, progress) as txn:
            current = opened.reread() or record  # under the lock: another run may have changed it
            if todo:
                progress(f"backing up {env} ...")
                txn.backup()
                progress(f"-> installing {', '.join(f'{n}=={v}' for n, v, _ in todo)} ...")
                install_entries(installer, launch, todo, source, target)
                progress("-> quick verification (the stack still imports and computes) ...")
                verification = verify_recorded(env, current, facts, only=QUICK_CHECKS)
                why = refusal(verification)
                if why is not None:
                    raise TfsetupError(f"after adding {describe_versions(added)} the env failed its quick "
                                       f"verification ({why}); the env is as it was before", EXIT_INSTALL_FAILED,
                                       "the package breaks this TensorFlow stack: try another version of it",
                                       {"verification": verification.to_json(), "target_unchanged": True})
            users = {k: v for k, v in added.items() if k not in pins}
            updated = with_user_packages(current, users)
            updated["changes"] = list(current.get("changes") or []) + [{
                "at": now_iso(), "command": "add", "added": users, "installed": [f"{n}=={v}" for n, v, _ in todo],
                "quick_verification": None if verification is None else verification.ok}]
            write_record(env, updated)
            txn.keep()
    except BackendError as exc:
        raise TfsetupError(f"installing {describe_versions(added)} failed ({exc.message}); the env is as it was "
                           "before", EXIT_INSTALL_FAILED, details={"target_unchanged": True}) from None
    except OSError as exc:
        raise TfsetupError(f"add failed: {exc.strerror or exc} ({exc.filename or env}); the env is as it was "
                           "before", EXIT_INSTALL_FAILED, details={"target_unchanged": True}) from None
    return AddResult(env, added, [f"{n}=={v}" for n, v, _ in todo], verification, pins_from, notes)


def _bundled_table() -> Any:
    """The bundled recipes table, for records written before pins were kept (None when it cannot load)."""
    try:
        return load_recipes(None)
    except TfsetupError:
        return None
