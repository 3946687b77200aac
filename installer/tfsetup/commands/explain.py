"""`tfsetup explain`: name the known problems in an error log."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from tfsetup.commands._common import load_table
from tfsetup.doctor.findings import Finding

MAX_LOG_BYTES = 16 << 20  # a pasted log; a bigger input is read up to here (the rules scan text, not files)


def run(data: bytes, recipes_file: Optional[Path]) -> List[Finding]:
    from tfsetup.doctor.explain import explain

    return explain(data[:MAX_LOG_BYTES].decode("utf-8", errors="replace"), load_table(recipes_file))
