"""`tfsetup install` inside a project: config values under command-line flags, and the team lock's section."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tfsetup.state import private_state_dir
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE, TfsetupError
from tfsetup.host.facts import HostFacts
from tfsetup.inputs import present
from tfsetup.plan import Plan, PlanError, PlanRequest, plan, tf_matches
from tfsetup.recipes import RecipeTable
from tfsetup.team.config import ProjectConfig
from tfsetup.team.lockfile import (LockSection, TeamLock, describe, host_sections, materialize, read_team_lock,
                                   section_specs, stale_reasons)
from tfsetup.team.wheelhouse import LockText


def plan_with_team_lock(config: ProjectConfig, facts: HostFacts, table: RecipeTable, request: PlanRequest
                        ) -> Tuple[Plan, Dict[str, Any]]:
    """The plan for this host from the project's tfsetup.lock: exactly the host's section, or a clear error."""
    lock = read_team_lock(config.lock_path)
    extras = config.extra_requirements()
    specs = section_specs(table, config, [s.platform for s in lock.sections],
                          sorted({s.python for s in lock.sections}), extras)
    specs = [s for s in specs if any((s.platform, s.python) == (x.platform, x.python) for x in lock.sections)]
    stale = stale_reasons(lock, config, specs)
    if stale:
        raise TfsetupError(f"{lock.path.name} is out of date with {config.path.name}: {stale[0]}", EXIT_BAD_INPUT,
                           fix="run `tfsetup lock` and commit the new lock")
    sections = host_sections(lock, facts.platform)
    if not sections:
        raise TfsetupError(f"{lock.path} has no section for this host ({facts.platform}); it has: {describe(lock)}",
                           EXIT_NO_RECIPE, fix=f"add this platform to 'platforms' in {config.path.name} and run "
                           "`tfsetup lock`, or install without the project (--no-project)")
    sections = sections_for_request(lock, sections, table, request)
    first_error: Optional[PlanError] = None
    for section in sections:
        try:
            chosen = plan(facts, table, replace(request, recipe_id=section.recipe, python=section.python, tf=None))
        except PlanError as exc:
            first_error = first_error or exc
            continue
        locked = materialize(section, private_state_dir("team-locks"))
        if chosen.managed is not None and section.python_build is not None:  # uv gets exactly the locked build
            chosen = replace(chosen, managed=replace(chosen.managed, key=section.python_build.key,
                                                     build=section.python_build))
        record = {"project": {"config": str(config.path), "lock": str(lock.path), "section": section.name,
                              "section_digest": locked.digest}}
        return replace(chosen, lock=locked), record
    assert first_error is not None
    raise PlanError(f"{lock.path.name} section(s) {', '.join(s.name for s in sections)} cannot be used on this "
                    f"host: {first_error.message}", first_error.exit_code, first_error.rejected, first_error.fix)


def sections_for_request(lock: TeamLock, sections: List[LockSection], table: RecipeTable,
                         request: PlanRequest) -> List[LockSection]:
    """Flags may choose among this host's sections of the lock, never step outside them: a project
    installs exactly its lock, so a --python or --tf it lacks is an error, not silently ignored."""
    keep = [s for s in sections
            if (not request.python or s.python == request.python)
            and (not request.recipe_id or s.recipe == request.recipe_id)
            and (not request.tf or any(tf_matches(r, request.tf) for r in table.recipes if r.id == s.recipe))]
    if not keep:
        asked = " ".join(f"{flag} {value}" for flag, value in (("--python", request.python), ("--tf", request.tf),
                                                                 ("--recipe", request.recipe_id)) if value)
        raise TfsetupError(f"{asked}: not in {lock.path.name}, whose sections for this host are "
                           f"{', '.join(f'{s.name} ({s.recipe})' for s in sections)}", EXIT_BAD_INPUT,
                           fix="a project installs exactly its lock: change tfsetup.toml and run `tfsetup lock`, "
                           "or pass --no-project")
    return keep


def lock_platform_for(facts: HostFacts) -> str:
    """The team platform name of this host (for `tfsetup lock` / `wheelhouse` without --platform)."""
    if facts.platform == "linux-x86_64" and facts.has_gpu("nvidia"):
        return "linux-x86_64-cuda"
    return facts.platform



def wheelhouse_locks(config: Optional[ProjectConfig], table: RecipeTable, platforms: List[str], pythons: List[str],
                     explicit: bool, tf: Optional[str], cpu_only: bool) -> List[LockText]:
    """What `tfsetup wheelhouse` serves: the project's tfsetup.lock sections (filtered by the
    --platform/--python given), else each platform's recipe lock."""
    if config is not None and present(config.lock_path):  # there but unusable: exit 2, named
        team = read_team_lock(config.lock_path)
        chosen = [LockText(s.platform, s.python, s.requirements, s.python_build) for s in team.sections
                  if (not explicit or s.platform in platforms) and (not pythons or s.python in pythons)]
        if not chosen:
            raise TfsetupError(f"{config.lock_path} has no section for {' '.join(platforms + pythons)}; "
                               f"it has: {describe(team)}", EXIT_BAD_INPUT)
        return chosen
    base = replace(config, packages=(), requirements=None) if config else ProjectConfig(path=Path("tfsetup.toml"))
    base = replace(base, tensorflow=tf or base.tensorflow, cpu_only=cpu_only or base.cpu_only)
    locks = []
    for spec in section_specs(table, base, platforms, pythons or ([base.python] if base.python else []), ()):
        recipe_lock = spec.recipe.locks.get(spec.python)
        if recipe_lock is None:
            raise TfsetupError(f"{spec.recipe.id} has no lock for Python {spec.python}", EXIT_NO_RECIPE)
        locks.append(LockText(spec.platform, spec.python, Path(recipe_lock.path).read_text(encoding="utf-8")))
    return locks
