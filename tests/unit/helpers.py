"""What several unit test modules build the same way."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict

from tfsetup.env.record import write_record


def live_env(path: Path, record: Dict[str, Any]) -> Path:
    """An env tfsetup made, of this interpreter: its python runs, nothing is installed in it (nothing to
    carry, nothing to find), and it holds `record`."""
    base = Path(os.path.realpath(sys.executable))
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n")
    (path / "bin" / "python").symlink_to(base)
    write_record(path, record)
    return path
