"""`tfsetup plan`: the recipe and interpreter `install` would use, with reasons; installs nothing."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from tfsetup import validate
from tfsetup.commands._common import PlanOutcome, load_host, make_flags, make_plan


def run(flag_values: Dict[str, Any], no_project: bool, host_file: Optional[Path],
        recipes_file: Optional[Path]) -> PlanOutcome:
    """`flag_values`: the request's options (make_flags checks them after --host-file is)."""
    validate.input_file(host_file, "--host-file")
    return make_plan(make_flags(**flag_values), no_project, load_host(host_file), recipes_file)

