"""Where output goes.

With --json: exactly one JSON document on stdout and nothing else there. Without it: the command's
report (tables, plans, findings) on stdout, so it can be piped; progress, warnings and errors on stderr.
Whatever goes out is redacted: a URL's password never reaches a terminal, a log or a JSON consumer.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from tfsetup.credentials import redact


def emit_json(doc: Any) -> None:
    sys.stdout.write(redact(json.dumps(doc, indent=2)) + "\n")
    sys.stdout.flush()


def err(text: str = "") -> None:
    sys.stderr.write(redact(text) + "\n")
    sys.stderr.flush()


class _Redacting:
    """stdout for rich: the same stream, with secrets redacted on the way out."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_console = None


def console():
    """A rich console for the report on stdout, created on first use (rich costs ~0.1 s to import)."""
    global _console
    if _console is None:
        from rich.console import Console  # lazy: start-up time (rich: ~90 ms, measured; --help draws none)

        out = _Redacting(sys.stdout)
        if sys.stdout.isatty() or os.environ.get("COLUMNS"):
            _console = Console(highlight=False, file=out)
        else:  # piped or captured: no hard line breaks in the middle of ids and paths
            _console = Console(highlight=False, width=200, soft_wrap=True, file=out)
    return _console


@contextmanager
def tty_progress(json_out: bool) -> Iterator[Optional[Callable[[str], None]]]:
    """One spinner line on stderr that each message replaces, while a long step runs (prove: fetching,
    reading), on a terminal only, like install's stages (stage_progress): with --json, or when stderr is
    not a terminal, nothing (None). The line is cleared when the step ends: the report follows."""
    if json_out or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # lazy: start-up time (rich: ~90 ms, measured; only on a terminal)

    status = Console(stderr=True).status("working ...")
    status.start()

    def say(text: str) -> None:
        room = shutil.get_terminal_size().columns - 4
        status.update(text if len(text) <= room else text[:max(room - 3, 10)] + "...")

    try:
        yield say
    finally:
        status.stop()
