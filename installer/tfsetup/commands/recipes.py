"""`tfsetup recipes`: the table, and which rows fit this host (and why the others do not)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from tfsetup import validate
from tfsetup.commands._common import load_host, load_table
from tfsetup.host.facts import HostFacts
from tfsetup.plan import PlanRequest, choose_interpreter, flags_to_pick, host_reasons
from tfsetup.recipes import Recipe


@dataclass
class RecipesOutcome:
    command: ClassVar[str] = "recipes"
    facts: HostFacts
    rows: List[Tuple[Recipe, List[str]]]
    exit_code: int = 0

    def to_json(self) -> Dict[str, Any]:
        return {"host": self.facts.platform, "recipes": [
            {"id": r.id, "platform": r.platform, "accelerator": r.accelerator,
             "distribution": r.distribution, "tensorflow": r.tensorflow,
             "plugin": f"{r.plugin}=={r.plugin_version}" if r.plugin else None,
             "pythons": list(r.pythons), "default": r.default, "status": r.status,
             "summary": r.summary, "sources": list(r.sources),
             "locks": sorted(r.locks), "fits": not reasons, "reasons": reasons, "only_with": flags_to_pick(r)}
            for r, reasons in self.rows]}


def run(show_all: bool, host_file: Optional[Path], recipes_file: Optional[Path]) -> RecipesOutcome:
    validate.input_file(host_file, "--host-file")

    table = load_table(recipes_file)
    facts = load_host(host_file)
    rows = []
    for recipe in table.recipes:
        if not show_all and recipe.platform != facts.platform:
            continue
        reasons = host_reasons(recipe, facts)
        if not reasons:  # with the host's own Pythons (plan may also reach a row on one uv downloads)
            _, reasons = choose_interpreter(recipe, facts, PlanRequest(pre=True, python_downloads="never"))
        rows.append((recipe, reasons))
    return RecipesOutcome(facts, rows)
