"""Where things are inside a virtual environment, on every OS."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Mapping, Optional

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


def default_env(environ: Mapping[str, str], cwd: Path, project_env: Optional[Path],
                own_env_with_tf: Optional[Path]) -> Optional[Path]:
    """The env `doctor` and `verify` mean when none is named, in the order `install` would use:
    the project's env, the active venv, ./.venv, the active conda env, then this Python's own env,
    but only when it holds TensorFlow (tfsetup's own tool env is never a target)."""
    if project_env is not None and project_env.is_dir():
        return project_env
    if environ.get("VIRTUAL_ENV"):
        return Path(environ["VIRTUAL_ENV"])
    local = cwd / ".venv"
    if local.is_dir():
        return Path(os.path.abspath(local))
    if environ.get("CONDA_PREFIX"):
        return Path(environ["CONDA_PREFIX"])
    return own_env_with_tf


def check_env_dir(env: Path) -> None:
    """A clear error for a PATH that cannot be an environment at all."""
    from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError

    fix = "give the path of a Python environment (a venv or a conda env), e.g. one made by `tfsetup install`"
    if not env.exists():
        target = f" (a link to {os.readlink(env)}, which is missing)" if env.is_symlink() else ""
        raise TfsetupError(f"{env} does not exist{target}", EXIT_BAD_INPUT, fix=fix)
    if not env.is_dir():
        raise TfsetupError(f"{env} is a file, not an environment", EXIT_BAD_INPUT, fix=fix)


def own_env_with_tf() -> Optional[Path]:
    """This Python's env, when TensorFlow is installed in it (tfsetup installed into a TF env)."""
    import sys
    from importlib import metadata

    from tfsetup.recipes import TF_DISTRIBUTIONS

    for name in TF_DISTRIBUTIONS:
        try:
            metadata.distribution(name)
            return Path(sys.prefix)
        except metadata.PackageNotFoundError:
            continue
    return None
