"""The life of a tfsetup env after `install`: add the user's packages (add.py), move it to a newer recipe
carrying them (upgrade.py), list and remove the envs tfsetup made (manage.py). Every change goes
through the one transaction (txn.py); this module holds what they share: which env, which pins, which
engine.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from tfsetup.backends import BackendError, get_backend
from tfsetup.backends.base import Backend
from tfsetup.env import Env
from tfsetup.env.paths import check_env_dir, is_venv, running_env
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.env.record import lock_pins

NOT_OURS_FIX = "give the path of an env made by `tfsetup install` (it has a tfsetup-env.json)"


def tfsetup_env(path: Path) -> Env:
    """The env at PATH (resolved once, its record read once) when it is an env tfsetup made (pyvenv.cfg +
    tfsetup-env.json and a python); otherwise bad input (exit 2): tfsetup changes only its own envs."""
    env = Env.at(path)  # once, as the kernel does: the same env for every spelling
    check_env_dir(env.path)
    if Path(os.path.realpath(env.path)) == running_env():
        raise TfsetupError(f"{env.path} is the environment tfsetup itself is running from; refusing to change it",
                           EXIT_BAD_INPUT, fix="give the path of a TensorFlow env made by `tfsetup install`")
    if not is_venv(env.path) or env.record is None:
        missing = "pyvenv.cfg" if not is_venv(env.path) else "tfsetup-env.json"
        raise TfsetupError(f"{env.path} is not an env tfsetup made (no {missing})", EXIT_BAD_INPUT,
                           fix=NOT_OURS_FIX)
    if not env.python.exists():
        raise TfsetupError(f"{env.path} has no python ({env.python} is missing)", EXIT_BAD_INPUT,
                           fix=f"rebuild it: `tfsetup install {env.path} --force`")
    return env


def env_pins(record: Dict[str, Any], installed: Dict[str, str],
             table: Optional[Any] = None) -> Tuple[Dict[str, str], str]:
    """The versions that must not move, and where they came from: the record's lock pins ("lock"); for a
    record written before pins were kept, its recipe's lock when the digest matches ("recipe"); else every
    installed distribution at its version ("installed": nothing at all may move)."""
    pins = lock_pins(record)
    if pins:
        return pins, "lock"
    if table is not None:
        recipe = table.by_id(str(record.get("recipe")))
        minor = ".".join(str((record.get("python") or {}).get("version", "")).split(".")[:2])
        lock = recipe.locks.get(minor) if recipe is not None else None
        if lock is not None and lock.digest == (record.get("lock") or {}).get("digest"):
            return dict(lock.pins), "recipe"
    return dict(installed), "installed"


def engine_for(record: Dict[str, Any]) -> Tuple[Backend, Backend]:
    """(the engine that installs into the env, uv that resolves): the env's own engine, like doctor."""
    try:
        resolver = get_backend("uv")
    except BackendError as exc:
        raise TfsetupError(exc.message, fix="reinstall tfsetup (it ships uv)") from None
    installer = get_backend("pip") if record.get("backend") == "pip" else resolver
    return installer, resolver


def describe_versions(versions: Dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items())
