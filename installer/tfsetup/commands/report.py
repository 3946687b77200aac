"""`tfsetup report`: one fleet-inventory document (host, managed envs, findings)."""
from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from tfsetup.commands._common import load_host, load_table


def run(paths: List[Path], recipes_file: Optional[Path]) -> Dict[str, Any]:
    from tfsetup.env.paths import check_env_dir
    from tfsetup.fleet import build_report
    from tfsetup.request import load_project

    extra = [Path(os.path.abspath(p)) for p in paths or []]
    for named in extra:  # a PATH the user typed must exist; registered envs that vanished are reported
        check_env_dir(named)
    config = load_project()
    if config is not None and config.env_path().is_dir():
        extra.append(config.env_path())
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return build_report(extra, load_host(None), load_table(recipes_file), now)
