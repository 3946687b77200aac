"""Where output goes.

With --json: exactly one JSON document on stdout and nothing else there. Without it: the command's
report (tables, plans, findings) on stdout, so it can be piped; progress, warnings and errors on stderr.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()


def err(text: str = "") -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


_console = None


def console():
    """A rich console for the report on stdout, created on first use (rich costs ~0.1 s to import)."""
    global _console
    if _console is None:
        from rich.console import Console

        if sys.stdout.isatty() or os.environ.get("COLUMNS"):
            _console = Console(highlight=False)
        else:  # piped or captured: no hard line breaks in the middle of ids and paths
            _console = Console(highlight=False, width=200, soft_wrap=True)
    return _console
