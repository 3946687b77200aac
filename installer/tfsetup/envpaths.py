"""Where things are inside a virtual environment, on every OS."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

RECORD_FILE = "tfsetup-env.json"


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


def relaunch(launch: List[str], python: Path) -> List[str]:
    """Run `python` the way the plan launches its base interpreter (e.g. under `arch -arm64`)."""
    return list(launch[:-1]) + [str(python)]


def state_dir() -> Path:
    """tfsetup's own state (locks, caches, the registry of envs): TFSETUP_STATE_DIR or the user cache."""
    state = os.environ.get("TFSETUP_STATE_DIR")
    if not state:
        from platformdirs import user_cache_dir

        state = user_cache_dir("tfsetup")
    return Path(state)
