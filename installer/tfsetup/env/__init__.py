"""One environment: where its files are (paths), what tfsetup recorded in it (record), what it holds
(facts), and the registry of the envs tfsetup made (registry). `Env` is one env at one path, as a
command sees it (model: pipx's Venv)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from tfsetup.env.paths import env_python, resolve_env_path
from tfsetup.env.record import describe, lock_pins, read_record, user_packages

_UNREAD = object()


class Env:
    """An env at one path, resolved once (env.paths.resolve_env_path: the same env for every spelling),
    its record read once. Small on purpose: what the env holds (its distributions) is env facts' job."""

    def __init__(self, path: Path) -> None:
        self.path = path  # already resolved: `Env.at` resolves a path as given
        self._record: Any = _UNREAD

    @classmethod
    def at(cls, path: Path, follow: bool = True) -> "Env":
        """The env PATH names (`follow`: a link as its last component is followed, see resolve_env_path)."""
        return cls(resolve_env_path(path, follow=follow))

    @property
    def python(self) -> Path:
        return env_python(self.path)

    @property
    def record(self) -> Optional[Dict[str, Any]]:
        """Its record (tfsetup-env.json), read on first use; None when there is none or it is unreadable."""
        if self._record is _UNREAD:
            self._record = read_record(self.path)
        return self._record

    def reread(self) -> Optional[Dict[str, Any]]:
        """The record as it is now (read again, e.g. under the path's lock), kept from here on."""
        self._record = read_record(self.path)
        return self._record

    @property
    def pins(self) -> Dict[str, str]:
        """The exact versions its lock installed ({} for records written before they were kept)."""
        return lock_pins(self.record)

    @property
    def user_packages(self) -> Dict[str, str]:
        """What the user added with `tfsetup add` (name -> version)."""
        return user_packages(self.record)

    def describe(self) -> str:
        """"<recipe> (<distribution> <version>)": what its record says it holds ("" without one)."""
        return describe(self.record)

    def __repr__(self) -> str:
        return f"Env({str(self.path)!r})"
