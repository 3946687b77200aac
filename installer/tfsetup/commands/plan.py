"""`tfsetup plan`: the recipe and interpreter `install` would use, with reasons; installs nothing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional

from tfsetup.commands._common import load_host, load_table, make_flags
from tfsetup.host.facts import HostFacts
from tfsetup.plan import Plan
from tfsetup.request import Flags, Settings, load_project, merge, plan_for_project


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


def run(flag_values: Dict[str, Any], no_project: bool, host_file: Optional[Path],
        recipes_file: Optional[Path]) -> PlanOutcome:
    """`flag_values`: the request's options (make_flags checks them after --host-file is)."""
    from tfsetup import validate

    validate.input_file(host_file, "--host-file")
    return make_plan(make_flags(**flag_values), no_project, load_host(host_file), recipes_file)

