"""`tfsetup explain`: name the known problems in an error log (a file, or stdin)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional

from tfsetup.commands._common import Terminal, load_table
from tfsetup.doctor.explain import explain, with_host
from tfsetup.doctor.findings import Finding
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.host.detect import detect_host
from tfsetup.inputs import open_input
from tfsetup.output import err

MAX_LOG_BYTES = 16 << 20  # a pasted log; a bigger input is read up to here (the rules scan text, not files)


@dataclass
class ExplainOutcome:
    command: ClassVar[str] = "explain"
    findings: List[Finding]

    @property
    def exit_code(self) -> int:
        return 0 if self.findings else 1  # 1: "no known problem matched"

    def to_json(self) -> Dict[str, Any]:
        return {"findings": [f.to_json() for f in self.findings]}


def run(file: Optional[str], recipes_file: Optional[Path], terminal: Optional[Terminal] = None) -> ExplainOutcome:
    """`file`: the log's path; None or '-': stdin."""
    return ExplainOutcome(explain_log(read_log(file, terminal or Terminal()), recipes_file))


def read_log(file: Optional[str], terminal: Terminal) -> bytes:
    """The log, up to MAX_LOG_BYTES: from the file, or from stdin (on a terminal, after saying how to end it)."""
    if file in (None, "-"):
        if terminal.is_tty():  # typed at a prompt: read what is pasted until end of input, as `cat` does
            eof = "Ctrl-Z, then Enter" if sys.platform == "win32" else "Ctrl-D on a line of its own"
            err(f"paste the log, then press {eof} (or give a FILE: `tfsetup explain error.log`)")
        return terminal.read(MAX_LOG_BYTES)
    # Never a blocking open (a FIFO without a writer reads as empty); a pipe (`<(cmd)`) is read.
    with open_input(file, "log file") as handle:
        try:
            return handle.read(MAX_LOG_BYTES)
        except OSError as exc:
            raise TfsetupError(f"cannot read {file}: {exc.strerror or exc}", EXIT_BAD_INPUT,
                               fix="check that the file exists and that you can read it") from None


def explain_log(data: bytes, recipes_file: Optional[Path]) -> List[Finding]:
    text = data[:MAX_LOG_BYTES].decode("utf-8", errors="replace")
    findings = explain(text, load_table(recipes_file))
    if any(f.id == "illegal-instruction" for f in findings):  # judged against this host's CPU (no Pythons probed)
        findings = with_host(findings, text, detect_host(with_pythons=False))
    return findings
