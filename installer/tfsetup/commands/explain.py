"""`tfsetup explain`: name the known problems in an error log."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from tfsetup.commands._common import load_table
from tfsetup.doctor.findings import Finding

MAX_LOG_BYTES = 16 << 20  # a pasted log; a bigger input is read up to here (the rules scan text, not files)


def run(data: bytes, recipes_file: Optional[Path]) -> List[Finding]:
    from tfsetup.doctor.explain import explain, with_host

    text = data[:MAX_LOG_BYTES].decode("utf-8", errors="replace")
    findings = explain(text, load_table(recipes_file))
    if any(f.id == "illegal-instruction" for f in findings):  # judged against this host's CPU (no Pythons probed)
        from tfsetup.host.detect import detect_host

        findings = with_host(findings, text, detect_host(with_pythons=False))
    return findings
