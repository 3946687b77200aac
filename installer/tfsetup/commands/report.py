"""`tfsetup report`: one fleet-inventory document (host, managed envs, findings)."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional

from tfsetup import validate
from tfsetup.commands._common import load_host, load_table
from tfsetup.env.paths import check_env_dir
from tfsetup.fleet import build_report
from tfsetup.request import load_project


@dataclass
class ReportOutcome:
    command: ClassVar[str] = "report"
    doc: Dict[str, Any]  # fleet.build_report's document: host, envs, summary
    exit_code: int = 0

    def to_json(self) -> Dict[str, Any]:
        return self.doc


def run(paths: List[Path], recipes_file: Optional[Path]) -> ReportOutcome:
    for one in paths:
        validate.env_path(one)
    extra = [Path(os.path.abspath(p)) for p in paths or []]
    for named in extra:  # a PATH the user typed must exist; registered envs that vanished are reported
        check_env_dir(named)
    config = load_project()
    if config is not None and config.env_path().is_dir():
        extra.append(config.env_path())
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return ReportOutcome(build_report(extra, load_host(None), load_table(recipes_file), now))
