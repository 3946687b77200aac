"""Prove on any OS that a Linux env loads (issue 12): the ELF counterpart of prove.py. The same
subjects (a recipe's lock, exact pins, an env on disk), fetched the same way (`uv pip install --target
--python-platform x86_64-manylinux_2_28 --no-deps`, hash-checked for a lock), then elfcheck/ over
the files: every ELF file is ELF64 of the target machine, every DT_NEEDED resolves (RUNPATH with
$ORIGIN, a library the env ships, the manylinux allow-list, the NVIDIA driver), and no GLIBC_x.y
symbol version is newer than the judged glibc.

The glibc judged: --glibc, else the recipe's min_glibc (the claim the lock is resolved for; a host
older than it is rejected by the planner already, so judging the claim covers every host the plan
accepts), else the host's glibc, else not judged (the newest version needed is noted).

Measured on the linux-x86_64-cpu-tf2.21 Python 3.11 lock (136 ELF files, 856 DT_NEEDED, 16.5k files
walked, 1.5 GB unpacked; wheels in a warm uv cache; 2 shared cores at load 2.5): the ELF check alone
0.1 s (page cache warm), fetch + check + cleanup ("seconds") 1.8-2.9 s, the whole
`tfsetup prove --host-file tests/fixtures/hosts/linux-x86_64-avx.json --python 3.11` 3.0-5.0 s wall.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tfsetup.backends.base import Backend, BackendError, PackageSource
from tfsetup.elfcheck.ld import Problem, Report, check_env
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.platforms import DEFAULT_GLIBC, uv_python_platform
from tfsetup.prove import EXIT_CANNOT_FETCH, Progress, fetch_fix, fetching, installed, reading

MACHINES = {"linux-x86_64": "x86_64", "linux-aarch64": "aarch64"}
SHOWN = ("tensorflow", "tensorflow-cpu", "numpy")


@dataclass
class LinuxProveResult:
    platform: str  # linux-x86_64 | linux-aarch64
    python: str
    glibc: Optional[str]  # the glibc judged (None: not judged)
    glibc_from: str  # "--glibc", "recipe <id> min_glibc", "the host's glibc", "not given"
    packages: Dict[str, str]
    report: Report
    seconds: float
    subject: str
    fix: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    @property
    def loads(self) -> bool:
        return self.report.ok

    @property
    def problems(self) -> List[Problem]:
        return self.report.problems

    def headline(self) -> Optional[str]:
        """The line ld.so (through Python's ImportError) prints for the first problem."""
        return ld_message(self.problems[0]) if self.problems else None

    def to_json(self) -> Dict[str, Any]:
        highest = self.report.highest_glibc
        return {"platform": self.platform, "python": self.python, "glibc": self.glibc,
                "packages": dict(self.packages), "loads": self.loads,
                "problems": [p.to_json() for p in self.problems],
                "checked": {"files": self.report.files_checked, "dependencies": self.report.dependencies_checked},
                "seconds": round(self.seconds, 2),
                # extensions
                "subject": self.subject, "glibc_from": self.glibc_from,
                "highest_glibc": {"glibc": highest[0], "file": highest[1]} if highest else None,
                "ld": self.headline(), "fix": self.fix, "notes": list(self.notes)}


def is_linux(platform: Optional[str]) -> bool:
    return platform in MACHINES


def ld_message(p: Problem) -> str:
    if p.kind == "library-not-found":
        return f"ImportError: {p.library}: cannot open shared object file: No such file or directory " \
               f"(needed by {p.file})"
    if p.kind == "glibc-too-old":
        return f"ImportError: libc.so.6: version `GLIBC_{p.needs}' not found (required by {p.file})"
    return f"ImportError: {p.file}: wrong ELF class or machine ({p.have}; needs {p.needs})"


def fix_for(result: LinuxProveResult) -> Optional[str]:
    if not result.problems:
        return None
    first = result.problems[0]
    if first.kind == "wrong-arch":
        return f"{first.file} is {first.have}, not {first.needs}: install {first.needs} wheels " \
               f"(`tfsetup install` on the {first.needs} machine)"
    if first.kind == "glibc-too-old":
        need = result.report.highest_glibc[0] if result.report.highest_glibc else first.needs
        return f"these wheels need glibc {need} or newer: run them on a newer distribution, or pick a recipe " \
               f"whose min_glibc is at most {result.glibc} (`tfsetup recipes`)"
    return f"install the distribution that ships {first.library} (CUDA libraries: a cuda recipe, " \
           "`tensorflow[and-cuda]`), or a tested recipe (`tfsetup install`)"


def check_glibc(value: Optional[str]) -> Optional[str]:
    if value is not None and not (value.count(".") == 1 and value.replace(".", "").isdigit()):
        raise TfsetupError(f"--glibc {value!r} is not a glibc version", EXIT_BAD_INPUT, fix="e.g. --glibc 2.28")
    return value


def judged_glibc(glibc: Optional[str], recipe, facts) -> Tuple[Optional[str], str]:
    """--glibc, else the recipe's min_glibc, else the host's glibc (module doc)."""
    if glibc is not None:
        return glibc, "--glibc"
    if recipe is not None and recipe.min_glibc:
        return recipe.min_glibc, f"recipe {recipe.id} min_glibc"
    if facts is not None and facts.os == "linux" and facts.glibc:
        return facts.glibc, "the host's glibc"
    return None, "not given"


def prove_dir(site: Path, platform: str, python: str, glibc: Optional[str], glibc_from: str, subject: str,
              started: float, packages: Optional[Dict[str, str]] = None,
              progress: Optional[Progress] = None) -> LinuxProveResult:
    if progress is not None:
        progress(reading(site))
    report = check_env(site, MACHINES[platform], glibc)
    result = LinuxProveResult(platform, python, glibc, glibc_from,
                              packages if packages is not None else installed(site), report, 0.0, subject)
    result.fix = fix_for(result)
    if glibc is None and report.highest_glibc:
        result.notes.append(f"glibc not judged (no --glibc, recipe or host file): these files need glibc "
                            f"{report.highest_glibc[0]} or newer ({report.highest_glibc[1]})")
    result.seconds = time.perf_counter() - started
    return result


def fetch(backend: Backend, directory: Path, python: str, platform: str, manylinux: str,
          source: PackageSource, lock: Optional[Path] = None, pins: Sequence[str] = (),
          progress: Optional[Progress] = None) -> None:
    """The wheels a glibc-`manylinux` machine would pick, unpacked into `directory` (exit 4 when they
    cannot be had)."""
    from tfsetup.backends._proc import run_step

    if progress is not None:
        progress(fetching(platform, python, lock, pins))

    uv_platform = uv_python_platform("linux", MACHINES[platform], manylinux)
    try:
        run_step("fetch", backend.install_target_dir_argv(directory, python, uv_platform, source, lock, pins),
                 env=dict(source.env()))
    except BackendError as exc:
        raise TfsetupError(f"cannot fetch the wheels to prove: {exc.message}", EXIT_CANNOT_FETCH,
                           fix=fetch_fix(exc.message, source, python, platform)) from None


def fetch_and_prove(backend: Backend, platform: str, python: str, glibc: Optional[str], glibc_from: str,
                    subject: str, source: PackageSource, manylinux: Optional[str] = None,
                    lock: Optional[Path] = None, pins: Sequence[str] = (),
                    keep: Optional[Path] = None, progress: Optional[Progress] = None) -> LinuxProveResult:
    """Fetch for glibc `manylinux` (default: the judged glibc, else DEFAULT_GLIBC) into a throwaway
    directory (or `keep`), prove, clean up."""
    started = time.perf_counter()
    manylinux = manylinux or glibc or DEFAULT_GLIBC
    if keep is not None:
        fetch(backend, keep, python, platform, manylinux, source, lock, pins, progress)
        return prove_dir(keep, platform, python, glibc, glibc_from, subject, started, progress=progress)
    with tempfile.TemporaryDirectory(prefix="tfsetup-prove-") as tmp:
        site = Path(tmp) / "site-packages"
        fetch(backend, site, python, platform, manylinux, source, lock, pins, progress)
        return prove_dir(site, platform, python, glibc, glibc_from, subject, started, progress=progress)
