"""`tfsetup add PKG... [ENV]`: the user's packages into a tfsetup env, under its lock's pins (envs/add.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple

from tfsetup import validate
from tfsetup.env.paths import is_tfsetup_env
from tfsetup.envs.add import AddResult, add_packages
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.request import env_or_default


@dataclass
class AddOutcome:
    command: ClassVar[str] = "add"
    result: AddResult
    exit_code: int = 0  # a refusal or a failure is an error (exit 4), raised

    def to_json(self) -> Dict[str, Any]:
        return self.result.to_json()


def looks_like_env(arg: str) -> bool:
    """A last argument that is the env, not a package: a path (`./env`, `~/envs/tf`, `/abs`, `.venv`; no
    requirement starts with '.', '/' or '~' or holds a '/') or a directory that is a tfsetup env (a bare
    name like `tf-env`: a package is never a directory here holding tfsetup-env.json)."""
    if arg.startswith((".", "~", os.sep)) or os.sep in arg or (os.altsep is not None and os.altsep in arg):
        return True
    try:
        return is_tfsetup_env(Path(arg))
    except OSError:
        return False


def split_env(args: Sequence[str], env: Optional[Path]) -> Tuple[List[str], Optional[Path]]:
    """(packages, env): with --env every argument is a package; without it, a last argument that
    looks_like_env is the env (like every other command's positional PATH)."""
    if env is not None or not args or not looks_like_env(args[-1]):
        return list(args), env
    if len(args) == 1:
        raise TfsetupError(f"{args[0]} is an env, and no package was named", EXIT_BAD_INPUT,
                           fix=f"name the packages before it: `tfsetup add pandas {args[0]}`")
    return list(args[:-1]), Path(os.path.expanduser(args[-1]))


def run(args: Sequence[str], env: Optional[Path], progress: Callable[[str], None]) -> AddOutcome:
    validate.env_path(env, "--env")
    specs, path = split_env(args, env)
    if path is not None and env is None:
        validate.env_path(path)  # as for --env: nan, non-UTF-8, '-name', /proc
    return AddOutcome(add_packages(env_or_default(path), specs, progress))
