"""Prove on any OS that a macOS env loads: take its exact wheels (a recipe lock, exact pins, or an env
already on disk), unpack them for the Mac's platform, and run the static dyld model (macho/) over the
files. What dyld on the Mac would refuse is a problem: a file without the Mac's arch slice, one built
for a newer macOS, a dependency no search path reaches, a two-level binding its library does not
export, and the pluggable-device plug-ins (tensorflow-plugins/*.dylib) failing to load in a process
that has loaded TensorFlow's images.

Wheels come through the backend (backends/uv.py: `uv pip install --target DIR --python-platform ...
--no-deps`, hash-checked for a lock) into a throwaway directory: the uv cache keeps them, so a second
proof of the same wheels costs hard links. Mach-O (macOS) targets are proven here; Linux (ELF) ones
in prove_linux.py.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tfsetup.backends.base import Backend, BackendError, PackageSource
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError, index_unreachable
from tfsetup.macho.dyld import (PLUGIN_DIR, TF_CORE, TF_DLOPEN_CALLER, Problem, Process, Report, check_env,
                                dyld_message, headers_by_file, iter_macho_files, on_demand_files)
from tfsetup.macho.reader import MH_EXECUTE, MachOError, read_macho, version_tuple
from tfsetup.macho.startup import startup_rules
from tfsetup.platforms import UV_PLATFORMS, deployment_target
from tfsetup.recipes import Recipe, RecipeTable, normalize_name

EXIT_CANNOT_FETCH = EXIT_INSTALL_FAILED  # 4: nothing was proven, nothing was changed
ARCHS = {"macos-arm64": "arm64", "macos-x86_64": "x86_64"}
# What dyld meets first decides the line a Mac would print: a refused image before a missing library
# before a missing symbol.
KIND_ORDER = ("wrong-arch", "macos-too-old", "library-not-loaded", "symbol-not-found", "symbol-not-found-flat")
_LOCK_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^]]*\])?==")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)$")
_MACOS = re.compile(r"^\d+(\.\d+){0,2}$")
_PY = re.compile(r"^3\.\d+$")
Progress = Callable[[str], None]  # a line as each long step starts (a spinner on a terminal: render.tty_progress)


@dataclass
class ProveResult:
    platform: str  # macos-arm64 | macos-x86_64
    python: str  # "3.11"
    macos: Optional[str]  # the macOS the files are judged against (None: minos not judged)
    macos_from: str  # "--macos", "host file", "recipe <id> min_os", "not given"
    packages: Dict[str, str]  # what was proven: normalized name -> version
    report: Report
    seconds: float
    subject: str  # "lock recipes/locks/<id>/py3.11.txt", "pins", "env PATH"
    highest: Optional[Tuple[str, str]] = None  # (minos, file) of what `import tensorflow` loads needing the newest macOS
    on_demand: List[Tuple[str, Optional[str], str]] = field(default_factory=list)  # (file, minos, when)
    fix: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    @property
    def loads(self) -> bool:
        return self.report.ok

    @property
    def problems(self) -> List[Problem]:
        return ordered(self.report.problems)

    def headline(self) -> Optional[str]:
        """What dyld itself would print on the Mac for the first problem it meets."""
        first = self.problems[:1]
        return dyld_message(first[0]) if first else None

    def to_json(self) -> Dict[str, Any]:
        return {"platform": self.platform, "python": self.python, "macos": self.macos,
                "packages": dict(self.packages), "loads": self.loads,
                "problems": [problem_json(p) for p in self.problems],
                "checked": {"files": self.report.files_checked, "bindings": self.report.bindings_checked,
                            "dependencies": self.report.dependencies_checked},
                "seconds": round(self.seconds, 2),
                # extensions
                "subject": self.subject, "macos_from": self.macos_from,
                "highest_minos": {"minos": self.highest[0], "file": self.highest[1]} if self.highest else None,
                "dyld": self.headline(), "fix": self.fix, "notes": list(self.notes),
                "on_demand": [{"file": f, "minos": m, "when": w} for f, m, w in self.on_demand],
                "on_demand_problems": [dict(problem_json(p), when=p.when) for p in self.report.on_demand]}


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
# input checks (exit 2)

def arch_of(platform: str) -> str:
    if platform in ARCHS:
        return ARCHS[platform]
    if platform in UV_PLATFORMS:
        raise TfsetupError(f"{platform} targets are not proven: prove models macOS's loader (Mach-O) and "
                           "Linux's (ELF, prove_linux.py), not Windows's (PE)", EXIT_BAD_INPUT,
                           fix="prove a Mac or Linux target: --platform macos-arm64 or linux-x86_64, or --host-file "
                           "of a Mac or a Linux machine")
    raise TfsetupError(f"unknown --platform {platform!r}", EXIT_BAD_INPUT,
                       fix=f"use one of {', '.join(ARCHS)}")


def check_pins(pins: Sequence[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for pin in pins:
        m = _PIN.match(pin.strip())
        if not m:
            raise TfsetupError(f"{pin!r} is not an exact pin", EXIT_BAD_INPUT,
                               fix="give NAME==VERSION, e.g. tensorflow==2.19.1 tensorflow-metal==1.2.0")
        out[normalize_name(m.group(1))] = m.group(2)
    return out


def check_macos(value: Optional[str]) -> Optional[str]:
    if value is not None and not _MACOS.match(value):
        raise TfsetupError(f"--macos {value!r} is not a macOS version", EXIT_BAD_INPUT, fix="e.g. --macos 12.1")
    return value


def check_python(value: Optional[str]) -> str:
    if value is None or not _PY.match(value):
        raise TfsetupError("proving pins needs --python X.Y" if value is None else
                           f"--python {value!r} is not a Python minor version", EXIT_BAD_INPUT,
                           fix="e.g. --python 3.11")
    return value


# ---------------------------------------------------------------------------------------------
# the edge: fetching wheels

def fetch(backend: Backend, directory: Path, python: str, platform: str, source: PackageSource,
          lock: Optional[Path] = None, pins: Sequence[str] = (), macos: Optional[str] = None,
          progress: Optional[Progress] = None) -> None:
    """Unpack the wheels into `directory`; TfsetupError exit 4 when they cannot be had. With `macos`, the
    wheels `install` would pick on that macOS (a lock may list a macosx_11_0 and a macosx_14_0 numpy)."""
    from tfsetup.backends._proc import run_step

    if progress is not None:
        progress(fetching(platform, python, lock, pins))

    env = dict(source.env())
    if macos:
        env["MACOSX_DEPLOYMENT_TARGET"] = deployment_target(macos, arch_of(platform))
    try:
        argv = backend.install_target_dir_argv(directory, python, UV_PLATFORMS[platform], source, lock, pins)
        run_step("fetch", argv, env=env)
    except BackendError as exc:
        raise TfsetupError(f"cannot fetch the wheels to prove: {exc.message}", EXIT_CANNOT_FETCH,
                           fix=fetch_fix(exc.message, source, python, platform)) from None


def fetching(platform: str, python: str, lock: Optional[Path], pins: Sequence[str]) -> str:
    count = len(pins) if lock is None else sum(
        1 for line in lock.read_text(encoding="utf-8", errors="replace").splitlines() if _LOCK_PIN.match(line))
    return f"fetching {count} wheel{'s' if count != 1 else ''} for {platform}, Python {python} (the uv cache keeps them) ..."


def reading(site: Path) -> str:
    """'reading N files of M distributions' (their RECORDs: no walk of the tree before the real one)."""
    files = 0
    dists = 0
    for record in site.glob("*.dist-info/RECORD"):
        dists += 1
        try:
            with open(record, "rb") as fh:
                files += sum(1 for _ in fh)
        except OSError:
            continue
    return f"reading {files:,} files of {dists} distribution{'s' if dists != 1 else ''} ..."


def fetch_fix(message: str, source: PackageSource, python: str, platform: str) -> str:
    if index_unreachable(message) and not source.offline:
        return "the package index could not be reached: check the network, or pass --find-links DIR " \
               "(a `tfsetup wheelhouse DIR --platform ...`)"
    if source.offline:
        return "offline, and the wheels are neither in the uv cache nor in --find-links: fetch them once online"
    if "hash" in message.lower():
        return "a wheel does not match the lock's hash: the index serves a different file"
    return f"check that these versions have wheels for {platform} and Python {python} " \
           "(`tfsetup recipes --all` lists the tested sets)"


# ---------------------------------------------------------------------------------------------
# the checks

def check_loads(root: Path, arch: str, macos: Optional[str], full: bool = True) -> Report:
    """Every Mach-O file (arch slice, minos, dependencies: check_env), TensorFlow's images loaded as
    `import tensorflow` does, then each plug-in dlopen()ed the way TF does it; with `full` every other
    Mach-O file is loaded and bound too (every two-level binding checked). Without it only the
    plug-ins' bindings are: the fast pass of doctor.

    What `import tensorflow` loads decides (Report.problems); a problem of a file it loads only on
    demand (macho/startup.py: TF's own rules) goes to Report.on_demand with Problem.when saying when.
    prove and doctor both judge through here: one notion of on-demand."""
    rules = startup_rules(root)
    files = check_env(root, arch, macos)
    process = Process(root, arch, macos)
    if (root / TF_CORE).is_file():
        core = process.dlopen(root / TF_CORE, bind=full)
        loader = process.image(TF_DLOPEN_CALLER) or core
        for plugin in sorted((root / PLUGIN_DIR).glob("*.dylib")):
            process.dlopen(plugin, caller=loader)
    headers = headers_by_file(root, arch) if full else {}
    later: List[str] = []
    if full:
        refused = {p.file for p in files.problems if p.kind == "wrong-arch"}
        for path in iter_macho_files(root):
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
    merged = list(files.problems)
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
    return Report(root=files.root, arch=arch, macos=macos, problems=ordered(kept), loaded=loaded.loaded,
                  files_checked=files.files_checked, bindings_checked=loaded.bindings_checked,
                  dependencies_checked=files.dependencies_checked, on_demand=ordered(on_demand))


def _filetype(root: Path, rel: str, arch: str, headers: Dict[str, Tuple[Optional[str], int]]) -> Optional[int]:
    if rel in headers:
        return headers[rel][1]
    try:
        return read_macho(str(root / rel), arch, exports=False, bindings=False).filetype
    except (MachOError, OSError):
        return None


def key(p: Problem) -> Tuple[str, str, Optional[str]]:
    return (p.kind, p.file, p.library if p.kind == "library-not-loaded" else None)


def installed(site: Path) -> Dict[str, str]:
    """name -> version of the distributions in a site-packages (or --target) directory."""
    out: Dict[str, str] = {}
    for info in sorted(site.glob("*.dist-info")):
        name, _, version = info.name[:-len(".dist-info")].partition("-")
        if version:
            out[normalize_name(name)] = version
    return out


def prove_dir(site: Path, platform: str, python: str, macos: Optional[str], macos_from: str, subject: str,
              table: Optional[RecipeTable], started: float, packages: Optional[Dict[str, str]] = None,
              full: bool = True, progress: Optional[Progress] = None) -> ProveResult:
    if progress is not None:
        progress(reading(site))
    report = check_loads(site, arch_of(platform), macos, full)
    highest, later = on_demand_files(site, arch_of(platform))
    result = ProveResult(platform, python, macos, macos_from, packages if packages is not None else installed(site),
                         report, 0.0, subject, highest=highest, on_demand=later)
    result.fix = fix_for(result, table)
    if macos is None and result.highest:
        result.notes.append(f"minimum macOS not judged (no --macos, host file or recipe): these files need "
                            f"macOS {result.highest[0]} or newer ({result.highest[1]})")
    result.notes += on_demand_notes(result)
    result.seconds = time.perf_counter() - started
    return result


def on_demand_notes(result: ProveResult) -> List[str]:
    """One line per binary `import tensorflow` does not load that would not load when asked for (or, with
    no macOS judged, that needs a newer macOS than what it loads): never a failure, said all the same."""
    arch = arch_of(result.platform)
    notes: List[str] = []
    for p in result.report.on_demand:
        if p.kind == "macos-too-old":
            notes.append(f"{p.file} is {p.when}, needs macOS {p.needs}")
        elif p.kind == "wrong-arch":
            notes.append(f"{p.file} is {p.when}, has no {arch} slice ({p.have})")
        else:
            notes.append(f"{p.file} is {p.when}, and then fails: {p.kind} {p.library or p.symbol or ''}".rstrip())
    if result.macos is None:
        floor = result.highest[0] if result.highest else "0"
        notes += [f"{file} is {when}, needs macOS {minos}" for file, minos, when in result.on_demand
                  if minos and version_tuple(minos) > version_tuple(floor)]
    return notes


def fetch_and_prove(backend: Backend, platform: str, python: str, macos: Optional[str], macos_from: str,
                    subject: str, source: PackageSource, table: Optional[RecipeTable],
                    lock: Optional[Path] = None, pins: Sequence[str] = (), keep: Optional[Path] = None,
                    full: bool = True, progress: Optional[Progress] = None) -> ProveResult:
    """Fetch into a throwaway directory (or `keep`), prove, clean up."""
    started = time.perf_counter()
    arch_of(platform)
    if keep is not None:
        fetch(backend, keep, python, platform, source, lock, pins, macos, progress)
        return prove_dir(keep, platform, python, macos, macos_from, subject, table, started, full=full,
                         progress=progress)
    with tempfile.TemporaryDirectory(prefix="tfsetup-prove-") as tmp:
        site = Path(tmp) / "site-packages"
        fetch(backend, site, python, platform, source, lock, pins, macos, progress)
        return prove_dir(site, platform, python, macos, macos_from, subject, table, started, full=full,
                         progress=progress)


def find_site_packages(env: Path) -> Tuple[Path, Optional[str]]:
    """(site-packages, Python minor) of a venv or conda env, or of a bare --target directory."""
    for candidate in sorted(env.glob("lib/python3.*/site-packages")):
        return candidate, candidate.parent.name[len("python"):]
    if (env / "Lib" / "site-packages").is_dir():
        return env / "Lib" / "site-packages", None
    if any(env.glob("*.dist-info")):
        return env, None
    raise TfsetupError(f"{env} has no site-packages (lib/python3.X/site-packages) and no *.dist-info",
                       EXIT_BAD_INPUT, fix="give the root of a venv or conda env, or a `pip install --target` dir")


# ---------------------------------------------------------------------------------------------
# pure helpers: which macOS, which fix

def recipe_for_pins(table: RecipeTable, platform: str, pins: Dict[str, str]) -> Optional[Recipe]:
    """The recipe whose TensorFlow and plug-in are exactly these pins (None when no row is)."""
    for r in table.recipes:
        if r.platform != platform or pins.get(r.distribution) != r.tensorflow:
            continue
        if (r.plugin is None) == ("tensorflow-metal" not in pins) and \
                (r.plugin is None or pins.get(r.plugin) == r.plugin_version):
            return r
    return None


def metal_recipe(table: Optional[RecipeTable], platform: str, python: str) -> Optional[Recipe]:
    if table is None:
        return None
    rows = [r for r in table.recipes if r.platform == platform and r.accelerator == "metal" and python in r.pythons]
    rows.sort(key=lambda r: (r.status == "stable", r.default, r.tf_version), reverse=True)
    return rows[0] if rows else None


def fix_for(result: ProveResult, table: Optional[RecipeTable]) -> Optional[str]:
    problems = result.problems
    if not problems:
        return None
    first = problems[0]
    arch = arch_of(result.platform)
    if first.kind == "wrong-arch":
        return (f"{first.file} has no {arch} slice ({first.have}): install {arch} wheels from a native "
                f"{arch} Python (`tfsetup install`; an existing env: `tfsetup doctor --fix`)")
    if first.kind == "macos-too-old":
        need = max((p.needs for p in problems if p.kind == "macos-too-old" and p.needs), key=version_tuple)
        return f"these wheels need macOS {need} or newer: update macOS, or pick a recipe for macOS " \
               f"{result.macos} (`tfsetup recipes`)"
    plugin_broken = any(p.file.startswith(PLUGIN_DIR + "/") for p in problems)
    row = metal_recipe(table, result.platform, result.python)
    if plugin_broken and row is not None:
        return (f"use {row.distribution} {row.tensorflow} with {row.plugin} {row.plugin_version}: "
                f"`tfsetup install --tf {row.tf_minor}`")
    return "these wheels do not load together: install a tested recipe instead (`tfsetup recipes` lists " \
           "them; `tfsetup install` picks one)"
