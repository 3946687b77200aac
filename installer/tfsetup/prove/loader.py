"""The one interface prove judges a tree through: a Loader per binary format (macos.py: Mach-O through
macho/'s dyld model; linux.py: ELF through elfcheck/'s ld.so model), picked by the target platform.

A loader knows what its OS's files are judged against (macOS or glibc: `option`), which wheels to fetch
for it, how to check a tree, the line its loader prints for a problem, the fix, the notes, and the
JSON words of its proof (dyld/ld, minos/glibc). Everything else (fetching, the result, the command,
rendering) is one code path for both.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Sequence, Tuple

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.platforms import UV_PLATFORMS, split_platform

if TYPE_CHECKING:
    from tfsetup.prove.result import ProveResult
    from tfsetup.recipes import Recipe, RecipeTable

MODELLED = ("macos", "linux")  # the OSes whose loader prove models (not Windows's PE loader)


class Problem(Protocol):
    """What a loader refuses (macho.dyld.Problem, elfcheck.ld.Problem): the fields render and JSON share."""
    kind: str
    file: str
    library: Optional[str]
    needs: Optional[str]
    have: Optional[str]
    count: int
    examples: List[str]


class Checked(Protocol):
    """A loader's report (macho.dyld.Report, elfcheck.ld.Report)."""
    problems: List[Any]
    files_checked: int
    dependencies_checked: int

    @property
    def ok(self) -> bool: ...


class Loader(Protocol):
    platform: str  # macos-arm64 | macos-x86_64 | linux-x86_64 | linux-aarch64
    machine: str  # the arch a file must have: arm64, x86_64, aarch64
    option: str  # what the files are judged against, as its option and JSON key: "macos" | "glibc"
    system: str  # the same, in words: "macOS" | "glibc"
    format: str  # "Mach-O" | "ELF"
    message_key: str  # the JSON key of the loader's own line: "dyld" | "ld"
    highest_key: str  # "minos" | "glibc": highest_<key> in the JSON

    def judged(self, given: Optional[str], recipe: Optional["Recipe"], facts: Any) -> Tuple[Optional[str], str]:
        """(the version judged, where it came from)."""

    def wheels_for(self, recipe: Optional["Recipe"]) -> Optional[str]:
        """The OS version to pick wheels for, when not the judged one (Linux: the recipe's manylinux)."""

    def fetch_target(self, picked: Optional[str]) -> Tuple[str, Dict[str, str]]:
        """(uv --python-platform, extra environment) for wheels picked for OS version `picked`."""

    def check(self, site: Path, judged: Optional[str],
              full: bool) -> Tuple[Any, Optional[Tuple[str, str]], List[Tuple[str, Optional[str], str]]]:
        """(report, highest (version, file) needed, files loaded only on demand (file, version, when))."""

    def ordered(self, problems: Sequence[Any]) -> List[Any]: ...

    def message(self, problem: Any) -> str:
        """What the loader itself prints for this problem on the target."""

    def problem_json(self, problem: Any) -> Dict[str, Any]: ...

    def checked_json(self, report: Any) -> Dict[str, int]: ...

    def extra_json(self, result: "ProveResult") -> Dict[str, Any]:
        """Keys after `notes` (macOS: what loads on demand)."""

    def checked_words(self, result: "ProveResult") -> Tuple[str, str]:
        """("N bindings" | "N DT_NEEDED", a suffix for the `checked` line)."""

    def fix(self, result: "ProveResult", table: Optional["RecipeTable"]) -> Optional[str]: ...

    def notes(self, result: "ProveResult") -> List[str]: ...


def loader_for(platform: str) -> Loader:
    """The loader of a proven platform; exit 2 for Windows (not modelled) or an unknown name."""
    os_name, machine = split_platform(platform)
    if platform in UV_PLATFORMS and os_name == "macos":
        from tfsetup.prove.macos import MachOLoader

        return MachOLoader(platform, machine)
    if platform in UV_PLATFORMS and os_name == "linux":
        from tfsetup.prove.linux import ElfLoader

        return ElfLoader(platform, machine)
    if platform in UV_PLATFORMS:
        raise TfsetupError(f"{platform} targets are not proven: prove models macOS's loader (Mach-O) and "
                           "Linux's (ELF, prove/linux.py), not Windows's (PE)", EXIT_BAD_INPUT,
                           fix="prove a Mac or Linux target: --platform macos-arm64 or linux-x86_64, or --host-file "
                           "of a Mac or a Linux machine")
    raise TfsetupError(f"unknown --platform {platform!r}", EXIT_BAD_INPUT,
                       fix=f"use one of {', '.join(p for p in UV_PLATFORMS if p.startswith('macos-'))}")
