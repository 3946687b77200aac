"""The boundary where host detection runs OS commands (sysctl, ldd, nvidia-smi, interpreter probes), so
parsers can be fed recorded real output (RecordedRunner). SystemRunner starts them through child.run, the
one child runner: own process group, deadline, kill and reap, registered before a signal can land."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from tfsetup import child

try:  # Protocol is typing-only; keep 3.9 happy without typing_extensions
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


NOT_FOUND = 127
TIMED_OUT = 124


class Runner(Protocol):
    def run(self, argv: Sequence[str], timeout: float = 10.0,
            env: Optional[Mapping[str, str]] = None) -> CommandResult: ...

    def read_text(self, path: str) -> Optional[str]: ...


class SystemRunner:
    """Runs real commands. Never raises for a missing program or a timeout: it answers 127 / 124."""

    def run(self, argv: Sequence[str], timeout: float = 10.0,
            env: Optional[Mapping[str, str]] = None) -> CommandResult:
        full_env = dict(os.environ)  # host commands see the caller's environment, plus `env`
        full_env.update(env or {})
        try:
            result = child.run(list(argv), timeout, full_env)
        except FileNotFoundError:
            return CommandResult(NOT_FOUND, "", f"{argv[0]}: command not found")
        except PermissionError as exc:
            return CommandResult(126, "", f"{argv[0]}: {exc.strerror}")
        if result.timed_out:
            return CommandResult(TIMED_OUT, "", f"{argv[0]}: timed out after {timeout:g}s")
        return CommandResult(result.returncode, result.stdout, result.stderr)

    def read_text(self, path: str) -> Optional[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None


Response = Union[str, CommandResult]


@dataclass
class RecordedRunner:
    """Answers from recorded real output; anything unrecorded behaves like a missing program."""

    commands: Dict[Tuple[str, ...], Response] = field(default_factory=dict)
    files: Dict[str, str] = field(default_factory=dict)
    calls: List[Tuple[str, ...]] = field(default_factory=list)

    def run(self, argv: Sequence[str], timeout: float = 10.0,
            env: Optional[Mapping[str, str]] = None) -> CommandResult:
        key = tuple(argv)
        self.calls.append(key)
        answer = self.commands.get(key)
        if answer is None:
            return CommandResult(NOT_FOUND, "", f"{argv[0]}: command not found")
        if isinstance(answer, str):
            return CommandResult(0, answer, "")
        return answer

    def read_text(self, path: str) -> Optional[str]:
        return self.files.get(path)
