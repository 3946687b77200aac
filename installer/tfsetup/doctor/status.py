"""THE status of an env, one vocabulary for `list`, `doctor`, `report` and `verify`:

    ok            the last verification passed and doctor's fast pass finds no error
    not-verified  nothing has shown that the stack works: never verified (--no-verify), or its last
                  verification timed out (a slow machine is not a broken env), or not made by tfsetup
    broken        the fast pass finds an error (a damaged file, a wrong-arch binary, a NumPy that does
                  not fit, ...), the last verification failed, or the env has no python
    missing       the directory is gone

`judge` is pure (the record + the fast pass's findings -> EnvStatus); `fast_pass` is the edge every
command shares: the env's facts without importing TensorFlow (its probe, its files against RECORD, on a
Mac the static loader check) and the rules' findings.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tfsetup.doctor.findings import Finding
from tfsetup.doctor.inspect import with_files, with_loader
from tfsetup.doctor.rules import diagnose, locked_distributions
from tfsetup.env.facts import EnvFacts, inspect_env
from tfsetup.env.record import read_record, verification_state
from tfsetup.errors import TfsetupError

OK, NOT_VERIFIED, BROKEN, MISSING = "ok", "not-verified", "broken", "missing"
STATUSES = (OK, NOT_VERIFIED, BROKEN, MISSING)
TIMED_OUT = "timed out"
# Findings that are about the record, not about what is installed: they never make an env broken.
RECORD_FINDINGS = ("not-verified",)


@dataclass(frozen=True)
class EnvStatus:
    state: str  # one of STATUSES
    reason: str = ""  # why, in a few words: "timed out", "files-missing", "never verified", ...

    @property
    def label(self) -> str:
        """For people: "not verified (timed out)", "broken (files-missing)", "ok"."""
        name = self.state.replace("-", " ")
        return f"{name} ({self.reason})" if self.reason else name

    def to_json(self) -> Dict[str, Any]:
        return {"status": self.state, "status_reason": self.reason or None}


def judge(record: Optional[Dict[str, Any]], findings: Sequence[Finding]) -> EnvStatus:
    """The status of an env that exists and runs its python (pure): errors found now come first, then what
    the last verification said."""
    errors = [f.id for f in findings if f.severity == "error" and f.id not in RECORD_FINDINGS]
    if errors:
        return EnvStatus(BROKEN, ", ".join(dict.fromkeys(errors)))
    if record is None:
        return EnvStatus(NOT_VERIFIED, "not made by tfsetup")
    state = verification_state(record)
    if state == "ok":
        return EnvStatus(OK)
    if state == "timed-out":
        return EnvStatus(NOT_VERIFIED, TIMED_OUT)
    if state == "failed":
        return EnvStatus(BROKEN, "its last verification failed")
    return EnvStatus(NOT_VERIFIED, "never verified")


def of_verification(verification: Any) -> EnvStatus:
    """What a verification that just ran says about the env (`tfsetup verify`, `doctor --fix`)."""
    if verification.ok:
        return EnvStatus(OK)
    if verification.timed_out:
        return EnvStatus(NOT_VERIFIED, TIMED_OUT)
    return EnvStatus(BROKEN, "verification failed: " + ", ".join(c.id for c in verification.failed()))


def fast_facts(path: Path, host: Any) -> EnvFacts:
    """The env's facts for the fast pass (never imports TensorFlow); TfsetupError when it is not an env."""
    env = with_loader(inspect_env(path), host.os, host.machine, host.os_version)
    return with_files(env, locked_distributions(env))


def fast_pass(path: Path, host: Any, table: Any) -> Tuple[EnvFacts, List[Finding]]:
    env = fast_facts(path, host)
    return env, diagnose(env, host, table)


def status_of(path: Path, host: Any, table: Any) -> Tuple[EnvStatus, Optional[EnvFacts], List[Finding]]:
    """The status of the env at PATH judged by the fast pass, with the facts and findings it read (None and
    [] when it could not run); never raises: an env whose python does not run is broken, with the reason."""
    if not path.is_dir():
        return EnvStatus(MISSING), None, []
    try:  # not an env, no python, a python that does not run: TfsetupError, whose message says which
        env, findings = fast_pass(path, host, table)
    except TfsetupError as exc:
        return EnvStatus(BROKEN, exc.message), None, []
    return judge(read_record(path), findings), env, findings
