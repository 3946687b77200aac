"""The one result of a proof, for either loader: what was proven, against which OS version, the
loader's report, the fix and notes. Its JSON keeps each loader's words (macos/dyld/minos for a Mac,
glibc/ld for Linux) through the loader."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Sequence, Tuple

if TYPE_CHECKING:
    from tfsetup.recipes import Recipe, RecipeTable


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


@dataclass
class ProveResult:
    loader: Loader  # the words of the target's loader (prove/loader.py picks it)
    platform: str  # macos-arm64 | macos-x86_64 | linux-x86_64 | linux-aarch64
    python: str  # "3.11"
    judged: Optional[str]  # the macOS or glibc the files are judged against (None: not judged)
    judged_from: str  # "--macos", "the host's glibc", "recipe <id> min_os", "not given", ...
    packages: Dict[str, str]  # what was proven: normalized name -> version
    report: Any  # the loader's report (macho.dyld.Report, elfcheck.ld.Report)
    seconds: float
    subject: str  # "lock recipes/locks/<id>/py3.11.txt", "pins", "env PATH"
    # (version, file) of what `import tensorflow` loads needing the newest macOS or glibc
    highest: Optional[Tuple[str, str]] = None
    on_demand: List[Tuple[str, Optional[str], str]] = field(default_factory=list)  # (file, minos, when): macOS
    fix: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    @property
    def loads(self) -> bool:
        return self.report.ok

    @property
    def problems(self) -> List[Any]:
        return self.loader.ordered(self.report.problems)

    def headline(self) -> Optional[str]:
        """What the loader itself would print on the target for the first problem it meets."""
        first = self.problems[:1]
        return self.loader.message(first[0]) if first else None

    def to_json(self) -> Dict[str, Any]:
        loader = self.loader
        return {"platform": self.platform, "python": self.python, loader.option: self.judged,
                "packages": dict(self.packages), "loads": self.loads,
                "problems": [loader.problem_json(p) for p in self.problems],
                "checked": loader.checked_json(self.report),
                "seconds": round(self.seconds, 2),
                # extensions
                "subject": self.subject, f"{loader.option}_from": self.judged_from,
                f"highest_{loader.highest_key}": ({loader.highest_key: self.highest[0], "file": self.highest[1]}
                                                  if self.highest else None),
                loader.message_key: self.headline(), "fix": self.fix, "notes": list(self.notes),
                **loader.extra_json(self)}
