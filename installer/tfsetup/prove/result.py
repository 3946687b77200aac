"""The one result of a proof, for either loader: what was proven, against which OS version, the
loader's report, the fix and notes. Its JSON keeps each loader's words (macos/dyld/minos for a Mac,
glibc/ld for Linux) through the loader."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from tfsetup.prove.loader import Loader


@dataclass
class ProveResult:
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
    def loader(self) -> "Loader":
        from tfsetup.prove.loader import loader_for

        return loader_for(self.platform)

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
