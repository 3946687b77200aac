"""NVIDIA GPUs through nvidia-smi (Linux and Windows). No nvidia-smi means no NVIDIA GPU."""
from __future__ import annotations

import csv
import io
from typing import List, Optional

from tfsetup.host.facts import Gpu
from tfsetup.host.runner import Runner

QUERY_FIELDS = "index,name,driver_version,memory.total,compute_cap"


def _column(header: str) -> str:
    # 'memory.total [MiB]' -> 'memory.total'
    return header.split("[")[0].strip()


def _int_prefix(value: str) -> Optional[int]:
    digits = value.strip().split(" ")[0]
    return int(digits) if digits.isdigit() else None


def parse_nvidia_query_csv(text: str) -> List[Gpu]:
    """Parse `nvidia-smi --query-gpu=... --format=csv` (with header; units optional)."""
    rows = [r for r in csv.reader(io.StringIO(text.strip()), skipinitialspace=True) if r]
    if len(rows) < 2:
        return []
    header = [_column(h) for h in rows[0]]
    gpus = []
    for row in rows[1:]:
        cell = dict(zip(header, (c.strip() for c in row)))
        if not cell.get("name"):
            continue
        cap = cell.get("compute_cap")
        gpus.append(Gpu(
            vendor="nvidia",
            name=cell["name"],
            driver=cell.get("driver_version") or None,
            memory_mib=_int_prefix(cell.get("memory.total", "")),
            compute_capability=cap if cap and cap[0].isdigit() else None,
        ))
    return gpus


def query_nvidia_gpus(runner: Runner, executable: str = "nvidia-smi") -> List[Gpu]:
    result = runner.run([executable, f"--query-gpu={QUERY_FIELDS}", "--format=csv"], timeout=15)
    if not result.ok and "compute_cap" in (result.stdout + result.stderr):
        # Drivers before ~510 do not know the compute_cap field.
        result = runner.run([executable, "--query-gpu=index,name,driver_version,memory.total",
                             "--format=csv"], timeout=15)
    if not result.ok:
        return []
    return parse_nvidia_query_csv(result.stdout)
