"""`tfsetup wheelhouse`: every wheel a lock needs, for offline installs or an index server."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional

from tfsetup import validate
from tfsetup.commands._common import check_url, load_host, load_table
from tfsetup.plan import check_python_request
from tfsetup.request import load_project, python_settings
from tfsetup.team.project import lock_platform_for, wheelhouse_locks
from tfsetup.team.wheelhouse import build_wheelhouse


@dataclass
class WheelhouseOutcome:
    command: ClassVar[str] = "wheelhouse"
    summary: Dict[str, Any]  # team/wheelhouse.py's, and "pythons": the Pythons the wheels are for
    directory: Path
    exit_code: int = 0

    def to_json(self) -> Dict[str, Any]:
        return self.summary


def run(directory: Path, platform: List[str], python: List[str], tf: Optional[str], cpu_only: bool,
        index_url: Optional[str], no_project: bool, recipes_file: Optional[Path],
        progress: Optional[Callable[[str], None]]) -> WheelhouseOutcome:
    validate.env_path(directory, "DIR")  # it is written to: the same rules as an env PATH
    check_url(index_url, "--index-url")
    for value in python:
        check_python_request(value)
    platforms = list(platform) or [lock_platform_for(load_host(None))]
    config = load_project(no_project)
    locks = wheelhouse_locks(config, load_table(recipes_file), platforms, list(python),
                             explicit=bool(platform), tf=tf, cpu_only=cpu_only)
    summary = build_wheelhouse(locks, directory, index_url, progress, python_settings(config).source)
    summary["pythons"] = sorted({lock.python for lock in locks})
    return WheelhouseOutcome(summary, directory)
