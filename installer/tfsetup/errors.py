"""Exit codes (DESIGN §4) and the one error type the CLI turns into a message and a code."""
from __future__ import annotations

from typing import Any, Dict, Optional

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_RECIPE = 3
EXIT_INSTALL_FAILED = 4
EXIT_INTERRUPTED = 130


class TfsetupError(Exception):
    """A failure with a human message, the fix when there is one, and the exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT, fix: Optional[str] = None,
                 details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.fix = fix
        self.details = details or {}

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"error": self.message, "exit_code": self.exit_code}
        if self.fix:
            doc["fix"] = self.fix
        doc.update(self.details)
        return doc


class BadInput(TfsetupError, ValueError):
    """Malformed input (a recipes file, a lock, a host-facts document): exit 2, the file and key named."""

    def __init__(self, message: str, fix: Optional[str] = None) -> None:
        super().__init__(message, EXIT_BAD_INPUT, fix)


def index_unreachable(engine_output: str) -> bool:
    """Whether uv's or pip's error says the package index could not be reached (not a resolution failure)."""
    lowered = engine_output.lower()
    return any(s in lowered for s in ("connect", "network", "dns", "resolve host", "offline", "failed to fetch",
                                      "timed out", "no route"))
