"""One small interface for the install engines (uv by default, pip as the fallback)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

try:
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore


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
        else:
            if self.index_url:
                argv += ["--index-url", self.index_url]
            for extra in self.extra_index_urls:
                argv += ["--extra-index-url", extra]
        for link in self.find_links:
            argv += ["--find-links", link]
        return argv


@dataclass(frozen=True)
class Target:
    """What the wheels must be for: the plan's platform, so a translated parent cannot skew it."""

    python_platform: Optional[str] = None  # uv's --python-platform, when it must be forced
    env: Dict[str, str] = field(default_factory=dict)  # e.g. MACOSX_DEPLOYMENT_TARGET


class BackendError(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


class Backend(Protocol):
    name: str

    def create_venv(self, launch: List[str], path: Path, prompt: str) -> None: ...

    def install_lock(self, launch: List[str], env: Path, lock: Path, source: PackageSource,
                     target: Target) -> None: ...
