"""One small interface for the install engines (uv by default, pip as the fallback).

Every engine command line tfsetup runs is built in backends/ (pipx's backends/ are the model): creating
a venv, installing a hash-pinned lock (fresh or over an existing env), installing the user's packages
under the lock's pins as constraints, uninstalling, resolving (compile: uv only; a team lock's
cross-compile in uv.py). `*_argv` methods only build the command, so a repair plan can show exactly what
it will run; the plain methods run it (backends/_proc.py: one env policy, one child runner).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tfsetup.credentials import engine_env
from tfsetup.platforms import deployment_target

try:
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore

HASHED_LOCK = ("--require-hashes", "--no-deps", "--only-binary", ":all:")  # every lock install, any engine


@dataclass(frozen=True)
class PackageSource:
    """Where wheels come from. Hashes are always enforced, whatever the source."""

    index_url: Optional[str] = None
    extra_index_urls: List[str] = field(default_factory=list)
    find_links: List[str] = field(default_factory=list)
    offline: bool = False  # no network: only find_links, or else only the engine's cache

    def args(self, no_network: List[str], no_index: List[str]) -> List[str]:
        """The engine options (pip and uv spell them alike, but for going offline).

        Offline with a wheelhouse reads only the wheelhouse; offline without one reads only the
        engine's cache (uv's `--offline`; pip has no such mode, so it finds nothing and says so)."""
        argv: List[str] = []
        if self.offline:
            argv += no_network
        if self.offline and self.find_links:
            argv += no_index
        return argv + self._engine_options()[0]

    def env(self) -> Dict[str, str]:
        """The credentialed index and find-links URLs, which travel in the engine's environment, never its
        argv (args() and env() split one list: see credentials.engine_env)."""
        return self._engine_options()[1]

    def _engine_options(self) -> Tuple[List[str], Dict[str, str]]:
        if self.offline and self.find_links:  # the wheelhouse only: no index at all
            return engine_env(None, [], self.find_links)
        return engine_env(self.index_url, self.extra_index_urls, self.find_links)


@dataclass(frozen=True)
class PythonSource:
    """Where a managed CPython comes from (uv's python-build-standalone downloads). uv checks every
    archive against its sha256 (uv's own list, or the one in `downloads_json_url`)."""

    mirror: Optional[str] = None  # uv --mirror: a file:// directory or https mirror of the release archives
    downloads_json_url: Optional[str] = None  # uv --python-downloads-json-url: a team's own list of builds
    offline: bool = False  # no network: only Pythons already installed (or a file:// source)
    archives: Optional[str] = None  # a wheelhouse's python-downloads.json: the archives a team lock pins


@dataclass(frozen=True)
class Target:
    """What the wheels must be for: the plan's platform, so a translated parent cannot skew it."""

    python_platform: Optional[str] = None  # uv's --python-platform, when it must be forced
    env: Dict[str, str] = field(default_factory=dict)  # e.g. MACOSX_DEPLOYMENT_TARGET


def target_for(host_os: str, os_version: str, machine: str, python_platform: str) -> Target:
    """On a Mac: wheels for the hardware and the real macOS version, even from a translated parent."""
    if host_os != "macos":
        return Target()
    return Target(python_platform=python_platform,
                  env={"MACOSX_DEPLOYMENT_TARGET": deployment_target(os_version, machine)})


class BackendError(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


class Backend(Protocol):
    """`python` is the env's interpreter as a command: [python] or ["arch", "-arm64", python]."""

    name: str

    def create_venv(self, launch: List[str], path: Path, prompt: str) -> None: ...

    def install_lock_argv(self, python: Sequence[str], lock: Path, source: PackageSource,
                          target: Target) -> List[str]: ...

    def install_packages_argv(self, python: Sequence[str], specs: Sequence[str], constraints: Path,
                              source: PackageSource) -> List[str]: ...

    def uninstall_argv(self, python: Sequence[str], names: Sequence[str]) -> List[str]: ...

    def install_target_dir_argv(self, directory: Path, python_version: str, python_platform: str,
                                source: PackageSource, lock: Optional[Path] = None,
                                specs: Sequence[str] = ()) -> List[str]: ...

    def compile_argv(self, requirements: Path, constraints: Path, python: Sequence[str], source: PackageSource,
                     lowest: bool = False) -> List[str]: ...
