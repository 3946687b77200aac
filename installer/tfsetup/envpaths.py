"""Where things are inside a virtual environment, on every OS."""
from __future__ import annotations

import os
from pathlib import Path

from tfsetup.record import RECORD_FILE


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def env_python(env: Path) -> Path:
    return bin_dir(env) / ("python.exe" if os.name == "nt" else "python")


def is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def is_conda_env(path: Path) -> bool:
    return (path / "conda-meta").is_dir()


def is_tfsetup_env(path: Path) -> bool:
    return is_venv(path) and (path / RECORD_FILE).is_file()


def state_dir() -> Path:
    """tfsetup's own state (locks, caches, the registry of envs): TFSETUP_STATE_DIR or the user cache."""
    state = os.environ.get("TFSETUP_STATE_DIR")
    if not state:
        from platformdirs import user_cache_dir

        state = user_cache_dir("tfsetup")
    return Path(state)


def check_env_dir(env: Path) -> None:
    """A clear error for a PATH that cannot be an environment at all."""
    from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError

    fix = "give the path of a Python environment (a venv or a conda env), e.g. one made by `tfsetup install`"
    if not env.exists():
        target = f" (a link to {os.readlink(env)}, which is missing)" if env.is_symlink() else ""
        raise TfsetupError(f"{env} does not exist{target}", EXIT_BAD_INPUT, fix=fix)
    if not env.is_dir():
        raise TfsetupError(f"{env} is a file, not an environment", EXIT_BAD_INPUT, fix=fix)
