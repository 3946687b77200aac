"""A managed CPython for a plan: fetched through uv (backends/uv.py) into uv's managed-Python store,
asked about itself, and put into the plan (Plan.with_interpreter) before any env is built from it.
Shared by install, upgrade and doctor's rebuild; a failure is exit 4 before PATH is touched.
"""
from __future__ import annotations

import os
from typing import Any, Callable, List, Optional

from tfsetup.backends.base import BackendError, PythonSource
from tfsetup.backends.hints import python_fix
from tfsetup.errors import EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.host.facts import HostFacts, PythonInfo
from tfsetup.plan import Plan


def _failed(message: str, fix: Optional[str] = None) -> TfsetupError:
    return TfsetupError(message, EXIT_INSTALL_FAILED, fix, {"target_unchanged": True})


def managed_python(plan: Plan, facts: HostFacts, source: PythonSource, stage: Callable[[str], Any],
                   on_line: Optional[Callable[[str], None]] = None) -> Plan:
    """The plan on its interpreter: a managed Python (plan.managed) is installed through uv first, asked
    about itself, and must run as the host's native arch (an x86_64 build on an arm64 Mac would give a
    CPU-only, translated TensorFlow). Other plans come back as they are. Raises TfsetupError (exit 4)
    before anything at PATH is touched."""
    managed = plan.managed
    if managed is None or plan.python.executable:
        return plan
    from tfsetup.backends.uv import UvBackend
    from tfsetup.host.interpreters import Candidate, probe_interpreter
    from tfsetup.host.runner import SystemRunner
    from tfsetup.platforms import native_launch

    def show(line: str) -> None:  # uv's "Downloading cpython-3.12.12-macos-aarch64-none (download) (19.2MiB)"
        if on_line is not None and line.strip().startswith(("Downloading", "Downloaded", "Installed")):
            on_line(line.strip())

    try:
        with stage("python"):
            if on_line is not None:
                on_line(f"{managed.key} through uv (~{managed.size_mb} MB, checked against its sha256)")
            executable = UvBackend().install_python(managed.key, source, on_line=show)
    except BackendError as exc:
        raise _failed(f"could not install Python {plan.python.minor} ({managed.key}) through uv: "
                      f"{_uv_error(exc.message)}", python_fix(exc.message, managed.key, source)) from None
    launch = native_launch(executable, facts.os, facts.machine, facts.rosetta, [facts.machine])
    runner = SystemRunner()
    if len(launch) > 1:  # probe it the way it will run: under `arch -arm64` from a translated parent
        runner = _PrefixRunner(runner, launch[:-1])
    try:
        info = probe_interpreter(runner, Candidate(executable, "uv"), os.path.realpath(executable), facts.os)
    except ValueError as exc:
        raise _failed(f"the managed Python {executable} does not run: {exc}") from None
    running = info.archs[0] if info.archs else "?"
    if running != facts.machine or info.minor != plan.python.minor:
        raise _failed(f"uv installed {executable} for {managed.key}, but it runs as Python {info.version} "
                      f"{running}, not {plan.python.minor} {facts.machine}",
                      f"remove it (`uv python uninstall {managed.key}`) and run again")
    python = PythonInfo(executable=executable, version=info.version, archs=[facts.machine], source="uv")
    return plan.with_interpreter(python, launch)


def _uv_error(message: str) -> str:
    """uv's error and its causes on one line (its progress lines and hash dumps left out)."""
    kept = [line.strip()[len("error:"):].strip() if line.strip().startswith("error:")
            else line.strip()[len("cause:"):].strip()
            for line in message.splitlines() if line.strip().startswith(("error:", "cause:"))]
    return "; ".join(kept) or (message.strip().splitlines() or ["no output"])[-1]


class _PrefixRunner:
    """A Runner that starts every command under a prefix (`arch -arm64`)."""

    def __init__(self, inner: Any, prefix: List[str]) -> None:
        self.inner, self.prefix = inner, list(prefix)

    def run(self, argv: List[str], **kwargs: Any) -> Any:
        return self.inner.run(self.prefix + list(argv), **kwargs)
