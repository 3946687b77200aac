"""`tfsetup verify`: the verification suite inside an existing env."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.verify import VerifyResult


def run(path: Optional[Path], benchmark: bool, timeout: float) -> Tuple[Path, VerifyResult]:
    from tfsetup.request import env_or_default
    from tfsetup.txn import recover_if_idle
    from tfsetup.verify import verify_existing

    if not timeout > 0 or timeout == float("inf"):
        raise TfsetupError(f"--timeout must be a positive number of seconds, not {timeout:g}", EXIT_BAD_INPUT)
    env = env_or_default(path)
    recover_if_idle(Path(env).absolute())
    return env, verify_existing(env, benchmark=benchmark, timeout=timeout)
