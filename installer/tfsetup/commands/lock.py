"""`tfsetup lock`: resolve the project's stack for every team platform into one tfsetup.lock."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from tfsetup.commands._common import load_host, load_table
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError


@dataclass
class LockResult:
    lock: Path
    sections: List[Dict[str, str]]
    checked: bool = False  # --check: compared, nothing written
    reasons: List[str] = field(default_factory=list)  # why the lock is stale

    @property
    def up_to_date(self) -> bool:
        return not self.reasons

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"lock": str(self.lock), "sections": self.sections}
        if self.checked:
            doc.update(up_to_date=self.up_to_date, reasons=self.reasons)
        return doc


def run(platform: List[str], python: List[str], check: bool, recipes_file: Optional[Path],
        progress: Optional[Callable[[str], None]]) -> LockResult:
    from tfsetup.plan import check_python_request
    from tfsetup.request import load_project
    from tfsetup.team.lockfile import read_team_lock, render_lock, resolve_sections, section_specs, stale_reasons
    from tfsetup.team.project import lock_platform_for

    config = load_project()
    if config is None:
        raise TfsetupError("no project here: no tfsetup.toml or pyproject.toml with [tool.tfsetup] in this "
                           "directory or above", EXIT_BAD_INPUT, fix="create tfsetup.toml (see README, 'For teams')")
    table = load_table(recipes_file)
    platforms = list(platform) or list(config.platforms) or [lock_platform_for(load_host(None))]
    for value in python:
        check_python_request(value)
    pythons = list(python) or ([config.python] if config.python else [])
    specs = section_specs(table, config, platforms, pythons, config.extra_requirements())
    sections = [{"platform": s.platform, "python": s.python, "recipe": s.recipe.id} for s in specs]
    if check:
        if not config.lock_path.is_file():
            reasons = [f"{config.lock_path.name} does not exist"]
        else:
            reasons = stale_reasons(read_team_lock(config.lock_path), config, specs)
        return LockResult(config.lock_path, sections, checked=True, reasons=reasons)
    if progress:
        progress(f"resolving {len(specs)} section(s): " + ", ".join(f"{s.platform} py{s.python}" for s in specs))
    texts = resolve_sections(config, specs, progress=progress)
    content = render_lock(config, specs, texts)
    tmp = config.lock_path.with_name(f".{config.lock_path.name}.tmp")
    try:
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(config.lock_path)
    except OSError as exc:
        if tmp.exists():
            tmp.unlink()
        raise TfsetupError(f"cannot write {config.lock_path}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
    return LockResult(config.lock_path, sections)
