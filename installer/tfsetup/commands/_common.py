"""What the commands share: the host (detected or from --host-file) and the recipes table, loaded the same
way; the Outcome every command returns; the Terminal seam (stdin, a yes/no question); the request flags."""
from __future__ import annotations

import datetime
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Optional, Protocol

import typer

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.host.detect import detect_host
from tfsetup.host.facts import FactsError, HostFacts, load_facts_file
from tfsetup.plan import Plan
from tfsetup.recipes import RecipeTable, load_recipes
from tfsetup.request import Flags, Settings, load_project, merge, plan_for_project


def load_host(host_file: Optional[Path], with_pythons: bool = True) -> HostFacts:
    if host_file is not None:
        try:
            return load_facts_file(str(host_file))
        except FactsError:
            raise
        except (ValueError, TypeError) as exc:  # not UTF-8, or a wrong type deep inside (cpu_cores)
            raise FactsError(f"{host_file}: not a valid host-facts file: {exc}") from None
    return detect_host(with_pythons=with_pythons)


def load_table(recipes_file: Optional[Path]) -> RecipeTable:
    return load_recipes(recipes_file)


class Outcome(Protocol):
    """What every command hands back: render.py draws it (`command` picks the drawing; --json prints
    `to_json()`), and the process exits with `exit_code`, decided by the command, nowhere else."""

    command: ClassVar[str]

    @property
    def exit_code(self) -> int: ...

    def to_json(self) -> Any: ...


class Terminal:
    """The one seam to the user's terminal: stdin (explain reads a pasted log) and a yes/no question on
    stderr (install, upgrade, remove and doctor --fix ask one). Unit tests pass one of their own."""

    def is_tty(self) -> bool:
        return sys.stdin.isatty()

    def read(self, limit: int) -> bytes:
        return sys.stdin.buffer.read(limit)

    def ask(self, question: str) -> bool:
        return typer.confirm(question, default=False, err=True)


def confirmer(yes: bool, terminal: Terminal) -> Optional[Callable[[str], bool]]:
    """How a command asks before it changes something: --yes says yes; None: no terminal to ask on (the
    command then refuses, exit 2, rather than guess)."""
    if yes:
        return lambda question: True
    if not terminal.is_tty():
        return None
    return terminal.ask


def make_flags(**values: Any) -> Flags:
    """The request's flags (they check themselves: exit 2). Which Pythons are past their end of life
    depends on the date: the real one, taken here."""
    return Flags(today=datetime.date.today().isoformat(), **values)


def check_url(url: Optional[str], option: str) -> None:
    if url is not None and not re.match(r"^(https?|file)://\S+$", url):
        raise TfsetupError(f"{option} {url!r} is not an http(s):// or file:// URL", EXIT_BAD_INPUT)


@dataclass
class PlanOutcome:
    command: ClassVar[str] = "plan"
    plan: Plan
    settings: Settings
    record: Dict[str, Any]  # "project": where the settings came from (goes into the env record)
    exit_code: int = 0

    @property
    def project(self) -> Optional[Dict[str, Any]]:
        return self.record.get("project")

    def to_json(self) -> Dict[str, Any]:
        return dict(self.plan.to_json(), **self.record)


def make_plan(flags: Flags, no_project: bool, facts: HostFacts, recipes_file: Optional[Path]) -> PlanOutcome:
    settings = merge(flags, load_project(no_project))
    chosen, record = plan_for_project(settings, facts, load_table(recipes_file))
    return PlanOutcome(chosen, settings, record)
