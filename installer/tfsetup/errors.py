"""Exit codes (listed for users in the README, under Commands) and the one error type the CLI turns into
a message and a code."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

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

    def headline(self) -> str:
        """The first line: what went wrong, in one line (an engine's output goes to detail_lines)."""
        lines = [ln for ln in self.message.strip().splitlines() if ln.strip()]
        return lines[0].strip() if lines else "failed"

    def detail_lines(self) -> List[str]:
        return [ln.rstrip() for ln in self.message.strip().splitlines() if ln.strip()][1:]

    def fix_text(self) -> str:
        return self.fix or DEFAULT_FIX.get(self.exit_code, "see the message above")

    def render(self) -> str:
        """The text after `tfsetup: error: `: the headline, the details indented, and the fix."""
        return "\n".join([self.headline()] + ["    " + ln.strip() for ln in self.detail_lines()]
                         + [f"  fix: {self.fix_text()}"])

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"error": self.headline(), "exit_code": self.exit_code, "fix": self.fix_text()}
        if self.detail_lines():
            doc["details"] = "\n".join(self.detail_lines())
        doc.update(self.details)
        return doc


# Every error has a fix: the generic one of its exit code when the raiser gave none.
DEFAULT_FIX = {
    EXIT_CHECKS_FAILED: "see the failed checks above",
    EXIT_BAD_INPUT: "correct the value or file named above (`tfsetup COMMAND --help` lists every option)",
    EXIT_NO_RECIPE: "see why each recipe was rejected; `tfsetup recipes --all` lists every stack",
    EXIT_INSTALL_FAILED: "the target was left as it was: correct the cause above and run the command again",
    EXIT_INTERRUPTED: "run the command again; the target was left as it was",
}


class BadInput(TfsetupError, ValueError):
    """Malformed input (a recipes file, a lock, a host-facts document): exit 2, the file and key named."""

    def __init__(self, message: str, fix: Optional[str] = None) -> None:
        super().__init__(message, EXIT_BAD_INPUT, fix)


def index_unreachable(engine_output: str) -> bool:
    """Whether uv's or pip's error says the package index could not be reached (not a resolution failure)."""
    lowered = engine_output.lower()
    return any(s in lowered for s in ("connect", "network", "dns", "resolve host", "offline", "failed to fetch",
                                      "timed out", "no route"))
