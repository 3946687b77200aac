"""`tfsetup install`: plan, then stage -> install -> verify -> promote (install.py), then remember the env."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from tfsetup.commands._common import load_host
from tfsetup.commands.plan import PlanResult, make_plan
from tfsetup.envs.replace import changes_of_replacing
from tfsetup.errors import TfsetupError
from tfsetup.install import InstallOptions, InstallResult, Progress, run_install
from tfsetup.request import Flags, load_project


def run(flags: Flags, no_project: bool, recipes_file: Optional[Path], backend: str, force: bool, verify: bool,
        confirm: Optional[Callable[[str], bool]], progress: Progress,
        show_plan: Optional[Callable[[PlanResult], None]] = None) -> InstallResult:
    from tfsetup.env.registry import register_env

    if backend not in ("uv", "pip"):
        raise TfsetupError(f"unknown backend {backend!r}; choose uv or pip")
    project = load_project(no_project)
    if project is not None:  # a missing wheelhouse is bad input (exit 2) before any work, detection included
        project.check_find_links()
    facts = load_host(None)
    planned = make_plan(flags, no_project, facts, recipes_file)
    if show_plan is not None:
        show_plan(planned)
    settings = planned.settings
    from tfsetup.render import replace_question

    ask = None if confirm is None else \
        (lambda q: confirm(replace_question(q.target, q.kind, q.record, q.new, q.changes)))
    opts = InstallOptions(target=settings.target, backend=backend, force=force, verify=verify, confirm=ask,
                          source=settings.source, extra_record=planned.record,
                          lock_path=Path(planned.plan.lock.path), python_source=settings.python_source,
                          replace_changes=lambda target: changes_of_replacing(target, planned.plan.python.version,
                                                                              planned.plan.lock.pins))
    result = run_install(planned.plan, facts, opts, progress)
    register_env(result.target)
    return result
