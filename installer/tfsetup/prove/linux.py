"""The ELF loader of prove (Linux targets, issue 12): elfcheck/ over the tree. Every ELF file is ELF64
of the target machine, every DT_NEEDED resolves (RUNPATH with $ORIGIN, a library the env ships, the
manylinux allow-list, the NVIDIA driver), and no GLIBC_x.y symbol version is newer than the judged
glibc. Wheels are picked as a glibc-`manylinux` machine would (`uv pip install --target
--python-platform x86_64-manylinux_2_28`).

The glibc judged: --glibc, else the recipe's min_glibc (the claim the lock is resolved for; a host
older than it is rejected by the planner already, so judging the claim covers every host the plan
accepts), else the host's glibc, else not judged (the newest version needed is noted).

Measured on the linux-x86_64-cpu-tf2.21 Python 3.11 lock (136 ELF files, 856 DT_NEEDED, 16.5k files
walked, 1.5 GB unpacked; wheels in a warm uv cache; 2 shared cores at load 2.5): the ELF check alone
0.1 s (page cache warm), fetch + check + cleanup ("seconds") 1.8-2.9 s, the whole
`tfsetup prove --host-file tests/fixtures/hosts/linux-x86_64-avx.json --python 3.11` 3.0-5.0 s wall.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from tfsetup.elfcheck.ld import Problem, Report, check_env
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.platforms import uv_python_platform

if TYPE_CHECKING:
    from tfsetup.prove.result import ProveResult
    from tfsetup.recipes import Recipe, RecipeTable


def check_glibc(value: Optional[str]) -> Optional[str]:
    if value is not None and not (value.count(".") == 1 and value.replace(".", "").isdigit()):
        raise TfsetupError(f"--glibc {value!r} is not a glibc version", EXIT_BAD_INPUT, fix="e.g. --glibc 2.28")
    return value


def ld_message(p: Problem) -> str:
    if p.kind == "library-not-found":
        return f"ImportError: {p.library}: cannot open shared object file: No such file or directory " \
               f"(needed by {p.file})"
    if p.kind == "glibc-too-old":
        return f"ImportError: libc.so.6: version `GLIBC_{p.needs}' not found (required by {p.file})"
    return f"ImportError: {p.file}: wrong ELF class or machine ({p.have}; needs {p.needs})"


@dataclass(frozen=True)
class ElfLoader:
    platform: str
    machine: str
    option: str = "glibc"
    system: str = "glibc"
    format: str = "ELF"
    message_key: str = "ld"
    highest_key: str = "glibc"

    def judged(self, given: Optional[str], recipe: Optional["Recipe"], facts: Any) -> Tuple[Optional[str], str]:
        """--glibc, else the recipe's min_glibc, else the host's glibc (module doc)."""
        if given is not None:
            return given, "--glibc"
        if recipe is not None and recipe.min_glibc:
            return recipe.min_glibc, f"recipe {recipe.id} min_glibc"
        if facts is not None and facts.os == "linux" and facts.glibc:
            return facts.glibc, "the host's glibc"
        return None, "not given"

    def wheels_for(self, recipe: Optional["Recipe"]) -> Optional[str]:
        return recipe.min_glibc if recipe is not None else None  # the manylinux level the lock is resolved for

    def fetch_target(self, picked: Optional[str]) -> Tuple[str, Dict[str, str]]:
        return uv_python_platform("linux", self.machine, picked), {}  # None: DEFAULT_GLIBC

    def check(self, site: Path, judged: Optional[str],
              full: bool) -> Tuple[Report, Optional[Tuple[str, str]], List[Tuple[str, Optional[str], str]]]:
        report = check_env(site, self.machine, judged)
        return report, report.highest_glibc, []

    def ordered(self, problems: Sequence[Problem]) -> List[Problem]:
        return list(problems)  # elfcheck reports them in the order ld.so meets them

    def message(self, problem: Problem) -> str:
        return ld_message(problem)

    def problem_json(self, problem: Problem) -> Dict[str, Any]:
        return problem.to_json()

    def checked_json(self, report: Report) -> Dict[str, int]:
        return {"files": report.files_checked, "dependencies": report.dependencies_checked}

    def extra_json(self, result: "ProveResult") -> Dict[str, Any]:
        return {}

    def checked_words(self, result: "ProveResult") -> Tuple[str, str]:
        highest = result.report.highest_glibc
        newest = f"; newest needed GLIBC_{highest[0]} by {highest[1]}" if highest else ""
        return f"{result.report.dependencies_checked} DT_NEEDED", newest

    def fix(self, result: "ProveResult", table: Optional["RecipeTable"]) -> Optional[str]:
        if not result.problems:
            return None
        first = result.problems[0]
        if first.kind == "wrong-arch":
            return f"{first.file} is {first.have}, not {first.needs}: install {first.needs} wheels " \
                   f"(`tfsetup install` on the {first.needs} machine)"
        if first.kind == "glibc-too-old":
            need = result.report.highest_glibc[0] if result.report.highest_glibc else first.needs
            return f"these wheels need glibc {need} or newer: run them on a newer distribution, or pick a recipe " \
                   f"whose min_glibc is at most {result.judged} (`tfsetup recipes`)"
        return f"install the distribution that ships {first.library} (CUDA libraries: a cuda recipe, " \
               "`tensorflow[and-cuda]`), or a tested recipe (`tfsetup install`)"

    def notes(self, result: "ProveResult") -> List[str]:
        highest = result.report.highest_glibc
        if result.judged is None and highest:
            return [f"glibc not judged (no --glibc, recipe or host file): these files need glibc "
                    f"{highest[0]} or newer ({highest[1]})"]
        return []
