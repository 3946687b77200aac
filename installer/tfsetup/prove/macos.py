"""The Mach-O loader of prove (macOS targets): the static dyld model (macho/) over the tree. What dyld
on the Mac would refuse is a problem: a file without the Mac's arch slice, one built for a newer macOS,
a dependency no search path reaches, a two-level binding its library does not export, and the
pluggable-device plug-ins (tensorflow-plugins/*.dylib) failing to load in a process that has loaded
TensorFlow's images. Wheels are picked as a Mac at the judged macOS would pick them
(MACOSX_DEPLOYMENT_TARGET).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.macho.dyld import (PLUGIN_DIR, TF_CORE, TF_DLOPEN_CALLER, Problem, Process, Report, check_env,
                                dyld_message, headers_by_file, macho_files, on_demand_files)
from tfsetup.macho.analysis import read_macho_cached
from tfsetup.macho.reader import MH_EXECUTE, MachOError, version_tuple
from tfsetup.macho.startup import startup_rules
from tfsetup.platforms import UV_PLATFORMS, deployment_target
from tfsetup.prove import verdicts

if TYPE_CHECKING:
    from tfsetup.prove.result import ProveResult
    from tfsetup.recipes import Recipe, RecipeTable

# What dyld meets first decides the line a Mac would print: a refused image before a missing library
# before a missing symbol.
KIND_ORDER = ("wrong-arch", "macos-too-old", "library-not-loaded", "symbol-not-found", "symbol-not-found-flat")
_MACOS = re.compile(r"^\d+(\.\d+){0,2}$")


def check_macos(value: Optional[str]) -> Optional[str]:
    if value is not None and not _MACOS.match(value):
        raise TfsetupError(f"--macos {value!r} is not a macOS version", EXIT_BAD_INPUT, fix="e.g. --macos 12.1")
    return value


@dataclass(frozen=True)
class MachOLoader:
    platform: str
    machine: str
    option: str = "macos"
    system: str = "macOS"
    format: str = "Mach-O"
    message_key: str = "dyld"
    highest_key: str = "minos"

    def judged(self, given: Optional[str], recipe: Optional["Recipe"], facts: Any) -> Tuple[Optional[str], str]:
        """--macos, else the host's (a host file, or this Mac), else the recipe's min_os."""
        if given is not None:
            return given, "--macos"
        if facts is not None and facts.os == "macos" and facts.os_version:
            return facts.os_version, "the host's macOS"
        if recipe is not None and recipe.min_os:
            return recipe.min_os, f"recipe {recipe.id} min_os"
        return None, "not given"

    def wheels_for(self, recipe: Optional["Recipe"]) -> Optional[str]:
        return None  # the wheels `install` would pick on the judged macOS

    def fetch_target(self, picked: Optional[str]) -> Tuple[str, Dict[str, str]]:
        # a lock may list a macosx_11_0 and a macosx_14_0 numpy: pick as that macOS would
        env = {"MACOSX_DEPLOYMENT_TARGET": deployment_target(picked, self.machine)} if picked else {}
        return UV_PLATFORMS[self.platform], env

    def check(self, site: Path, judged: Optional[str],
              full: bool) -> Tuple[Report, Optional[Tuple[str, str]], List[Tuple[str, Optional[str], str]]]:
        def compute() -> Tuple[Report, Optional[Tuple[str, str]], List[Tuple[str, Optional[str], str]]]:
            files = macho_files(site)  # one walk of the tree, one read of each header, for both
            headers = headers_by_file(site, self.machine, files)
            report = check_loads(site, self.machine, judged, full, files=files, headers=headers)
            highest, later = on_demand_files(site, self.machine, headers)
            return report, highest, later

        def encode(answer: Tuple[Report, Any, Any]) -> Tuple[Report, Any]:
            return answer[0], {"highest": answer[1], "later": answer[2]}

        def decode(report: Report, rest: Any) -> Tuple[Report, Any, Any]:
            highest = rest["highest"]
            return (report, (str(highest[0]), str(highest[1])) if highest is not None else None,
                    [(str(f), m, str(w)) for f, m, w in rest["later"]])

        return verdicts.kept("prove", site, {"arch": self.machine, "macos": judged, "full": full}, compute,
                             encode, decode)

    def ordered(self, problems: Sequence[Problem]) -> List[Problem]:
        return ordered(problems)

    def message(self, problem: Problem) -> str:
        return dyld_message(problem)

    def problem_json(self, problem: Problem) -> Dict[str, Any]:
        return problem_json(problem)

    def checked_json(self, report: Report) -> Dict[str, int]:
        return {"files": report.files_checked, "bindings": report.bindings_checked,
                "dependencies": report.dependencies_checked}

    def extra_json(self, result: "ProveResult") -> Dict[str, Any]:
        return {"on_demand": [{"file": f, "minos": m, "when": w} for f, m, w in result.on_demand],
                "on_demand_problems": [dict(problem_json(p), when=p.when) for p in result.report.on_demand]}

    def checked_words(self, result: "ProveResult") -> Tuple[str, str]:
        return f"{result.report.bindings_checked} bindings", ""

    def fix(self, result: "ProveResult", table: Optional["RecipeTable"]) -> Optional[str]:
        return fix_for(result, table)

    def notes(self, result: "ProveResult") -> List[str]:
        notes: List[str] = []
        if result.judged is None and result.highest:
            notes.append(f"minimum macOS not judged (no --macos, host file or recipe): these files need "
                         f"macOS {result.highest[0]} or newer ({result.highest[1]})")
        return notes + on_demand_notes(result)


def problem_json(p: Problem) -> Dict[str, Any]:
    doc: Dict[str, Any] = {"kind": p.kind, "file": p.file}
    for key in ("library", "symbol", "expected_in", "needs", "have"):
        value = getattr(p, key)
        if value is not None:
            doc[key] = value
    doc["count"] = p.count
    if p.examples:
        doc["examples"] = list(p.examples)
    return doc


def ordered(problems: Sequence[Problem]) -> List[Problem]:
    return sorted(problems, key=lambda p: (KIND_ORDER.index(p.kind) if p.kind in KIND_ORDER else 99,
                                           not p.file.startswith("tensorflow/")))


# ---------------------------------------------------------------------------------------------
# the checks

def loads_kept(root: Path, arch: str, macos: Optional[str], full: bool = True) -> Report:
    """check_loads, or its verdict kept for the same tree, target and checker (verdicts.py)."""
    return verdicts.kept("loads", root, {"arch": arch, "macos": macos, "full": full},
                         lambda: check_loads(root, arch, macos, full), lambda r: (r, None), lambda r, _rest: r)


def check_loads(root: Path, arch: str, macos: Optional[str], full: bool = True, *,
                files: Optional[Sequence[str]] = None,
                headers: Optional[Dict[str, Tuple[Optional[str], int]]] = None) -> Report:
    """Every Mach-O file (arch slice, minos, dependencies: check_env), TensorFlow's images loaded as
    `import tensorflow` does, then each plug-in dlopen()ed the way TF does it; with `full` every other
    Mach-O file is loaded and bound too (every two-level binding checked). Without it only the
    plug-ins' bindings are: the fast pass of doctor.

    What `import tensorflow` loads decides (Report.problems); a problem of a file it loads only on
    demand (macho/startup.py: TF's own rules) goes to Report.on_demand with Problem.when saying when.
    prove and doctor both judge through here: one notion of on-demand. `files` (macho_files(root)) and
    `headers` (headers_by_file(root, arch)): what the caller has already, so the tree is walked once."""
    rules = startup_rules(root)
    listed = macho_files(root) if files is None else files
    files_report = check_env(root, arch, macos, files=listed)
    process = Process(root, arch, macos)
    if (root / TF_CORE).is_file():
        core = process.dlopen(root / TF_CORE, bind=full)
        loader = process.image(TF_DLOPEN_CALLER) or core
        for plugin in sorted((root / PLUGIN_DIR).glob("*.dylib")):
            process.dlopen(plugin, caller=loader)
    if headers is None:
        headers = headers_by_file(root, arch, listed) if full else {}
    later: List[str] = []
    if full:
        refused = {p.file for p in files_report.problems if p.kind == "wrong-arch"}
        for path in [os.path.join(root, rel) for rel in listed]:
            rel = os.path.relpath(path, process.root)
            if rel in refused or process.image(path) is not None:
                continue
            if rules.on_demand(rel, headers.get(rel, (None, None))[1]) is not None:
                later.append(path)  # loaded after the start-up closure is known
                continue
            process.dlopen(path)
    startup = {i.rel for i in process.images if i.macho.filetype != MH_EXECUTE}
    for path in later:
        if process.image(path) is None:
            process.dlopen(path)
    loaded = process.report()
    merged = list(files_report.problems)
    seen = {key(p) for p in merged}
    for p in loaded.problems:
        # check_env judged every dependency already (it knows that an install name loaded earlier
        # satisfies an @rpath); the process adds the bindings, and everything about a plug-in.
        if p.kind in ("wrong-arch", "macos-too-old") or (p.kind == "library-not-loaded"
                                                          and not p.file.startswith(PLUGIN_DIR + "/")):
            continue
        if key(p) not in seen:
            merged.append(p)
            seen.add(key(p))
    kept: List[Problem] = []
    on_demand: List[Problem] = []
    for p in merged:
        when = None if p.file in startup else rules.on_demand(p.file, _filetype(root, p.file, arch, headers))
        if when is None:
            kept.append(p)
        else:
            on_demand.append(replace(p, when=when))
    return Report(root=files_report.root, arch=arch, macos=macos, problems=ordered(kept), loaded=loaded.loaded,
                  files_checked=files_report.files_checked, bindings_checked=loaded.bindings_checked,
                  dependencies_checked=files_report.dependencies_checked, on_demand=ordered(on_demand),
                  consulted={**files_report.consulted, **loaded.consulted})


def _filetype(root: Path, rel: str, arch: str, headers: Dict[str, Tuple[Optional[str], int]]) -> Optional[int]:
    if rel in headers:
        return headers[rel][1]
    try:
        return read_macho_cached(str(root / rel), arch, exports=False, bindings=False).filetype
    except (MachOError, OSError):
        return None


def key(p: Problem) -> Tuple[str, str, Optional[str]]:
    return (p.kind, p.file, p.library if p.kind == "library-not-loaded" else None)


def on_demand_notes(result: "ProveResult") -> List[str]:
    """One line per binary `import tensorflow` does not load that would not load when asked for (or, with
    no macOS judged, that needs a newer macOS than what it loads): never a failure, said all the same."""
    arch = result.loader.machine
    notes: List[str] = []
    for p in result.report.on_demand:
        if p.kind == "macos-too-old":
            notes.append(f"{p.file} is {p.when}, needs macOS {p.needs}")
        elif p.kind == "wrong-arch":
            notes.append(f"{p.file} is {p.when}, has no {arch} slice ({p.have})")
        else:
            notes.append(f"{p.file} is {p.when}, and then fails: {p.kind} {p.library or p.symbol or ''}".rstrip())
    if result.judged is None:
        floor = result.highest[0] if result.highest else "0"
        notes += [f"{file} is {when}, needs macOS {minos}" for file, minos, when in result.on_demand
                  if minos and version_tuple(minos) > version_tuple(floor)]
    return notes


# ---------------------------------------------------------------------------------------------
# pure helpers: which fix

def metal_recipe(table: Optional["RecipeTable"], platform: str, python: str) -> Optional["Recipe"]:
    if table is None:
        return None
    rows = [r for r in table.recipes if r.platform == platform and r.accelerator == "metal" and python in r.pythons]
    rows.sort(key=lambda r: (r.status == "stable", r.default, r.tf_version), reverse=True)
    return rows[0] if rows else None


def fix_for(result: "ProveResult", table: Optional["RecipeTable"]) -> Optional[str]:
    problems = result.problems
    if not problems:
        return None
    first = problems[0]
    arch = result.loader.machine
    if first.kind == "wrong-arch":
        return (f"{first.file} has no {arch} slice ({first.have}): install {arch} wheels from a native "
                f"{arch} Python (`tfsetup install`; an existing env: `tfsetup doctor --fix`)")
    if first.kind == "macos-too-old":
        need = max((p.needs for p in problems if p.kind == "macos-too-old" and p.needs), key=version_tuple)
        return f"these wheels need macOS {need} or newer: update macOS, or pick a recipe for macOS " \
               f"{result.judged} (`tfsetup recipes`)"
    plugin_broken = any(p.file.startswith(PLUGIN_DIR + "/") for p in problems)
    row = metal_recipe(table, result.platform, result.python)
    if plugin_broken and row is not None:
        return (f"use {row.distribution} {row.tensorflow} with {row.plugin} {row.plugin_version}: "
                f"`tfsetup install --tf {row.tf_minor}`")
    return "these wheels do not load together: install a tested recipe instead (`tfsetup recipes` lists " \
           "them; `tfsetup install` picks one)"
