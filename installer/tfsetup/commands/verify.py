"""`tfsetup verify`: the verification suite inside an existing env."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Optional

from tfsetup import validate
from tfsetup.build import record_verification
from tfsetup.doctor.status import of_verification
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.request import env_or_default
from tfsetup.txn import recover_if_idle
from tfsetup.verify import VerifyResult, progress_events, verify_existing


@dataclass
class VerifyOutcome:
    command: ClassVar[str] = "verify"
    env: Path
    result: VerifyResult

    @property
    def exit_code(self) -> int:
        return 0 if self.result.ok else 1

    def to_json(self) -> Dict[str, Any]:
        return result_doc(self.result)


def run(path: Optional[Path], benchmark: bool, timeout: float,
        progress: Optional[Callable[[str], None]] = None) -> VerifyOutcome:
    """`progress`: a line per check as it starts and ends."""
    validate.seconds(timeout, "--timeout")
    validate.env_path(path)
    if not timeout > 0 or timeout == float("inf"):
        raise TfsetupError(f"--timeout must be a positive number of seconds, not {timeout:g}", EXIT_BAD_INPUT)
    env = env_or_default(path)
    recover_if_idle(Path(env).absolute())
    result = verify_existing(env, benchmark=benchmark, timeout=timeout, on_event=progress_events(progress))
    record_verification(Path(env).absolute(), result)
    return VerifyOutcome(env, result)


def result_doc(result: VerifyResult) -> Dict[str, Any]:
    """verify's JSON: the checks, and the env's status in the vocabulary list, doctor and report use."""
    return dict(result.to_json(), **of_verification(result).to_json())
