"""`tfsetup install`: plan, then stage -> install -> verify -> promote (install.py), then remember the env."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Optional

from tfsetup import validate
from tfsetup.commands._common import PlanOutcome, Terminal, check_url, confirmer, load_host, make_flags, make_plan
from tfsetup.env.registry import register_env
from tfsetup.envs.replace import changes_of_replacing
from tfsetup.errors import TfsetupError
from tfsetup.install import InstallOptions, InstallResult, Progress, run_install
from tfsetup.render import replace_question
from tfsetup.request import load_project


@dataclass
class InstallOutcome:
    command: ClassVar[str] = "install"
    result: InstallResult

    @property
    def exit_code(self) -> int:
        return 1 if self.result.declined else 0  # a no at the prompt: nothing done, as for upgrade and remove

    def to_json(self) -> Dict[str, Any]:
        return self.result.to_json()


def run(flag_values: Dict[str, Any], no_project: bool, recipes_file: Optional[Path], backend: str, force: bool,
        verify: bool, yes: bool, progress: Progress, show_plan: Optional[Callable[[PlanOutcome], None]] = None,
        terminal: Optional[Terminal] = None) -> InstallOutcome:
    """`flag_values`: the request's options (path, index_url and find_links are checked first, before any
    work); `yes`: replace an existing env without asking (else asked on the terminal, or refused)."""
    check_url(flag_values.get("index_url"), "--index-url")
    validate.env_path(flag_values.get("path"))  # before any work: nan, non-UTF-8, '-name', /proc, missing wheelhouse
    validate.find_links(flag_values.get("find_links") or [])
    flags = make_flags(**flag_values)
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
    confirm = confirmer(yes, terminal or Terminal())
    ask = None if confirm is None else \
        (lambda q: confirm(replace_question(q.target, q.kind, q.record, q.new, q.changes)))
    opts = InstallOptions(target=settings.target, backend=backend, force=force, verify=verify, confirm=ask,
                          source=settings.source, extra_record=planned.record,
                          lock_path=Path(planned.plan.lock.path), python_source=settings.python_source,
                          replace_changes=lambda target: changes_of_replacing(target, planned.plan.python.version,
                                                                              planned.plan.lock.pins))
    result = run_install(planned.plan, facts, opts, progress)
    register_env(result.target)
    return InstallOutcome(result)
