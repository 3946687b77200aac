"""`tfsetup lock`: resolve the project's stack for every team platform into one tfsetup.lock."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional

from packaging.version import Version

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import BackendError, PackageSource
from tfsetup.backends.uv import UvBackend
from tfsetup.commands._common import load_host, load_table
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.plan import check_python_request
from tfsetup.request import load_project
from tfsetup.team.lockfile import (LockSection, extra_section_specs, plan_lock_update, read_team_lock, render_lock,
                                   resolve_sections, section_specs, stale_reasons)
from tfsetup.team.project import lock_platform_for
from tfsetup.team.pylock import recipe_sections, stale_pylocks, write_pylocks, write_recipe_pylocks
from tfsetup.team.python_build import lock_builds


@dataclass
class LockOutcome:
    command: ClassVar[str] = "lock"
    lock: Path
    sections: List[Dict[str, Any]]
    checked: bool = False  # --check: compared, nothing written
    reasons: List[str] = field(default_factory=list)  # why the lock is stale
    notes: List[str] = field(default_factory=list)  # sections kept, dropped or resolved again, and why
    pylocks: List[Path] = field(default_factory=list)  # --format pylock: the PEP 751 files written
    recipe: Optional[str] = None  # --recipe: a recipe's own locks exported (no team lock written)

    @property
    def up_to_date(self) -> bool:
        return not self.reasons

    @property
    def exit_code(self) -> int:
        return 1 if self.checked and not self.up_to_date else 0  # --check of a stale lock

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"lock": str(self.lock), "sections": self.sections}
        if self.checked:
            doc.update(up_to_date=self.up_to_date, reasons=self.reasons)
        else:
            doc["notes"] = self.notes
        if self.pylocks:
            doc["pylock"] = [str(p) for p in self.pylocks]
        if self.recipe:
            doc["recipe"] = self.recipe
        return doc


FORMATS = ("tfsetup", "pylock")


def run(platform: List[str], python: List[str], check: bool, recipes_file: Optional[Path],
        progress: Optional[Callable[[str], None]], fmt: str = "tfsetup", recipe: Optional[str] = None) -> LockOutcome:
    if fmt not in FORMATS:
        raise TfsetupError(f"unknown lock format {fmt!r}", EXIT_BAD_INPUT, fix=f"choose {' or '.join(FORMATS)}")
    for value in python:
        check_python_request(value)
    if recipe is not None:
        return export_recipe(recipe, python, platform, check, fmt, recipes_file, progress)
    config = load_project()
    if config is None:
        raise TfsetupError("no project here: no tfsetup.toml or pyproject.toml with [tool.tfsetup] in this "
                           "directory or above", EXIT_BAD_INPUT, fix="create tfsetup.toml (see README, 'For teams')")
    if not check:  # a missing wheelhouse is bad input (exit 2) before any work (--check resolves nothing)
        config.check_find_links()
    table = load_table(recipes_file)
    platforms = list(platform) or list(config.platforms) or [lock_platform_for(load_host(None))]
    pythons = list(python) or pythons_of(config)
    extras = config.extra_requirements()
    specs = section_specs(table, config, platforms, pythons, extras)
    existing = read_team_lock(config.lock_path) if config.lock_path.is_file() else None
    if check:
        if existing is None:
            reasons = [f"{config.lock_path.name} does not exist"]
        else:  # sections added with --platform/--python count as long as they are up to date
            more, problems = extra_section_specs(table, config, existing, [(s.platform, s.python) for s in specs],
                                                 extras)
            specs += more
            reasons = stale_reasons(existing, config, specs) + problems
            if not reasons:  # pylock files beside a current lock: do they still match it?
                reasons = stale_pylocks(existing, config.lock_path.parent)
        return LockOutcome(config.lock_path, _describe(specs), checked=True, reasons=reasons)
    explicit = bool(platform or python)
    config_specs = section_specs(table, config, list(config.platforms), pythons_of(config), extras) \
        if explicit and config.platforms else []
    update = plan_lock_update(table, config, specs, config_specs, existing, explicit, extras)
    if progress:
        for note in update.notes:
            progress(note)
        progress(f"resolving {len(update.resolve)} section(s): "
                 + ", ".join(f"{s.platform} py{s.python}" for s in update.resolve))
    resolved = dict(zip([(s.platform, s.python) for s in update.resolve],
                        resolve_sections(config, update.resolve, progress=progress)))
    texts = [update.kept.get((s.platform, s.python)) or resolved[(s.platform, s.python)] for s in update.specs]
    specs = update.specs
    builds = lock_builds(config, [(s.platform, s.python) for s in specs])  # managed Python: the exact build
    for (name, minor), build in builds.items() if progress else ():
        progress(f"{name} py{minor}: Python {build.key} (release {build.release}, sha256 {build.sha256[:12]}...)")
    content = render_lock(config, specs, texts, builds)
    tmp = config.lock_path.with_name(f".{config.lock_path.name}.tmp")
    try:
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(config.lock_path)
    except OSError as exc:
        if tmp.exists():
            tmp.unlink()
        raise TfsetupError(f"cannot write {config.lock_path}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
    pylocks = export_pylocks(config, progress) if fmt == "pylock" else []
    return LockOutcome(config.lock_path, _describe(specs, builds), notes=update.notes, pylocks=pylocks)


def export_pylocks(config, progress: Optional[Callable[[str], None]]) -> List[Path]:
    """The PEP 751 files of the lock just written (team/pylock.py says why one per section)."""
    urls = config.index_urls()
    source = PackageSource(index_url=urls[0] if urls else None, extra_index_urls=urls[1:],
                           find_links=config.find_links_resolved())
    return write_pylocks(read_team_lock(config.lock_path), config.lock_path.parent,
                         pylock_exporter(source, progress, "the index URLs of the project config"))


def export_recipe(recipe_id: str, python: List[str], platform: List[str], check: bool, fmt: str,
                  recipes_file: Optional[Path], progress: Optional[Callable[[str], None]]) -> LockOutcome:
    """`--recipe ID --format pylock`: a recipe's own locks as PEP 751 files in the current directory, for
    teams that install or audit a tested stack with other tools (no project needed)."""
    if fmt != "pylock" or check or platform:
        raise TfsetupError("--recipe exports a recipe's locks as pylock files; it takes only --python",
                           EXIT_BAD_INPUT, fix=f"tfsetup lock --recipe {recipe_id} --format pylock [--python X.Y]")
    table = load_table(recipes_file)
    chosen = next((r for r in table.recipes if r.id == recipe_id), None)
    if chosen is None:
        raise TfsetupError(f"no recipe {recipe_id!r} in the table", EXIT_BAD_INPUT,
                           fix="see `tfsetup recipes` for the ids")
    sections = recipe_sections(chosen, list(python) or sorted(chosen.locks, key=Version))
    written = write_recipe_pylocks(sections, Path.cwd(), pylock_exporter(PackageSource(), progress, "the network"))
    return LockOutcome(Path(chosen.locks[sections[0].python].path).parent,
                       [{"platform": s.platform, "python": s.python, "recipe": s.recipe} for s in sections],
                       pylocks=written, recipe=chosen.id)


def pylock_exporter(source: PackageSource, progress: Optional[Callable[[str], None]],
                    what_to_check: str) -> Callable[[LockSection], str]:
    """uv's pylock of a section's pins (each wheel's URL and size from the index)."""
    uv = UvBackend()

    def export(section: LockSection) -> str:
        if progress:
            progress(f"pylock for {section.name}: looking up each wheel's URL")
        with tempfile.TemporaryDirectory(prefix="tfsetup-pylock-") as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(section.requirements, encoding="utf-8")
            try:
                return run_step("pylock", uv.pylock_argv(requirements, section.python, section.python_platform,
                                                         source), env=source.env(), timeout=600)
            except BackendError as exc:
                raise TfsetupError(f"cannot make the pylock of {section.name}: {exc}", 4,
                                   fix=f"check {what_to_check}") from None

    return export


def pythons_of(config) -> List[str]:
    return [config.python] if config.python else []


def _describe(specs, builds=None) -> List[Dict[str, Any]]:
    described: List[Dict[str, Any]] = []
    for s in specs:
        described.append({"platform": s.platform, "python": s.python, "recipe": s.recipe.id})
        build = (builds or {}).get((s.platform, s.python))
        if build is not None:
            described[-1]["python_build"] = build.to_json()
    return described
