"""The facts a replace needs from the env it replaces: its packages outside the lock and its Python, for
record.replace_changes (the one answer to "what does this replace drop or change", shared by `install
--force`, `upgrade` and `doctor --fix`'s rebuild)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from tfsetup.env.facts import inspect_env, top_level_packages
from tfsetup.env.paths import is_venv
from tfsetup.errors import TfsetupError
from tfsetup.env.record import ReplaceChanges, lock_pins, read_record, replace_changes


def hand_installed(facts: Any, exclude: Sequence[str]) -> Dict[str, str]:
    """The env's top-level packages (nothing else in it requires them) outside `exclude`: what the user
    installed with pip/uv by hand (or with `tfsetup add`)."""
    return {d.key: d.version for d in top_level_packages(facts, exclude=list(exclude))}


def changes_of_replacing(env: Path, python_to: str, new_pins: Mapping[str, str]) -> Optional[ReplaceChanges]:
    """What `install` replacing the venv at `env` drops and changes (None when nothing is there to
    replace). It carries nothing: every package outside the new lock is dropped. The env is inspected
    (a probe run in it); one whose Python no longer runs is answered from its record, saying so."""
    try:
        if not (env.is_dir() and is_venv(env)):
            return None
    except OSError:
        return None
    record = read_record(env)
    try:
        facts = inspect_env(env)
    except (TfsetupError, OSError) as exc:
        return replace_changes(record, python_to, new_pins, unlisted=getattr(exc, "message", None) or str(exc))
    added = hand_installed(facts, list(lock_pins(record)) + list(new_pins))
    return replace_changes(record, python_to, new_pins, added=added, python_now=facts.version)
