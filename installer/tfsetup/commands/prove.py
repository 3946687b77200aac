"""`tfsetup prove`: will this env load on its target, macOS or Linux (prove/: one path, the target's
loader)? Three subjects, one proof:

- the lock `install` would install for this host or `--host-file` (plan options apply);
- exact PINs for `--platform` and `--python`, without their dependencies;
- `--env PATH`, an env already on disk, proven as the platform its own files say (env_platform: its
  wheels' tags, its interpreter, its binaries); --platform overrides, with a note when they disagree.

A proof of TensorFlow that read none of its binaries (none of the target's format) is never "loads":
exit 2, saying why.
"""
from __future__ import annotations

import platform as host_platform
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tfsetup.backends import get_backend
from tfsetup.commands._common import load_host, load_table, make_plan
from tfsetup.elfcheck.ld import iter_elf_files
from tfsetup.elfcheck.reader import ElfError, is_elf, read_elf
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.macho.dyld import iter_macho_files
from tfsetup.macho.reader import MachOError, is_macho, read_slices
from tfsetup.prove.fetch import Progress
from tfsetup.prove.linux import check_glibc
from tfsetup.prove.loader import loader_for
from tfsetup.prove.macos import check_macos
from tfsetup.prove.proof import fetch_and_prove, prove_dir
from tfsetup.prove.result import ProveResult
from tfsetup.prove.subject import check_pins, check_python, find_site_packages, installed, recipe_for_pins
from tfsetup.recipes import TF_DISTRIBUTIONS, normalize_name
from tfsetup.request import Flags, merge


def run(pins: Sequence[str], platform: Optional[str], macos: Optional[str], env: Optional[Path],
        flags: Flags, no_project: bool, host_file: Optional[Path], recipes_file: Optional[Path],
        glibc: Optional[str] = None, progress: Optional[Progress] = None) -> ProveResult:
    """`progress` gets a line as each long step starts (fetching N wheels, reading N files)."""
    result = _run(pins, platform, macos, env, flags, no_project, host_file, recipes_file, glibc, progress)
    no_native_files(result)
    return result


def _run(pins: Sequence[str], platform: Optional[str], macos: Optional[str], env: Optional[Path],
         flags: Flags, no_project: bool, host_file: Optional[Path], recipes_file: Optional[Path],
         glibc: Optional[str], progress: Optional[Progress]) -> ProveResult:
    given = {"macos": check_macos(macos), "glibc": check_glibc(glibc)}  # by Loader.option
    table = load_table(recipes_file)
    if env is not None:
        if pins:
            raise TfsetupError("give either PINs or --env PATH, not both", EXIT_BAD_INPUT)
        return _env(env, platform, given, flags.python, host_file, table, time.perf_counter(), progress)
    if pins:
        if platform is None:
            raise TfsetupError("proving PINs needs --platform", EXIT_BAD_INPUT, fix="e.g. --platform macos-arm64")
        loader = loader_for(platform)
        python = check_python(flags.python)
        wanted = check_pins(pins)
        facts = load_host(host_file, with_pythons=False) if host_file is not None else None
        row = recipe_for_pins(table, platform, wanted)
        judged, judged_from = loader.judged(given[loader.option], row, facts)
        return fetch_and_prove(get_backend("uv"), platform, python, judged, judged_from, "pins", flags_source(flags),
                               table, pins=list(pins), recipe=row, progress=progress)
    if platform is not None:
        raise TfsetupError("--platform goes with PINs (a lock is proven for a host: use --host-file)",
                           EXIT_BAD_INPUT, fix="tfsetup prove --platform macos-arm64 --python 3.11 tensorflow==2.19.1 "
                           "tensorflow-metal==1.2.0")
    facts = load_host(host_file)
    planned = make_plan(flags, no_project, facts, recipes_file)
    if planned.settings.config is not None:  # a missing wheelhouse is bad input (exit 2) before any fetch
        planned.settings.config.check_find_links()
    chosen = planned.plan
    loader = loader_for(chosen.recipe.platform)  # a Windows host: not proven (exit 2, said why)
    judged, judged_from = loader.judged(given[loader.option], chosen.recipe, facts)
    return fetch_and_prove(get_backend("uv"), chosen.recipe.platform, chosen.python.minor, judged, judged_from,
                           f"lock {chosen.recipe.lock_relpath(chosen.python.minor)}", planned.settings.source,
                           table, lock=Path(chosen.lock.path), recipe=chosen.recipe, progress=progress)


def flags_source(flags: Flags):
    return merge(flags, None).source


def _env(env: Path, platform: Optional[str], given: Dict[str, Optional[str]], python: Optional[str],
         host_file: Optional[Path], table, started: float, progress: Optional[Progress] = None) -> ProveResult:
    if not env.is_dir():
        raise TfsetupError(f"{env} is not a directory", EXIT_BAD_INPUT, fix="give the root of an env")
    site, minor = find_site_packages(env)
    facts = load_host(host_file, with_pythons=False) if host_file is not None else None
    if facts is None and sys.platform == "darwin":  # a real env on this Mac
        facts = load_host(None, with_pythons=False)
    found, evidence = env_platform(env, site)
    notes: List[str] = []
    if platform is None:
        if found is None:  # nothing native in it: where it would run is where it is proven
            found = facts.platform if facts is not None and facts.os in ("macos", "linux") else _here()
            evidence = [f"nothing in it says ({'the host file' if facts is not None else 'this machine'}'s)"]
        platform = found
    elif found is not None and found != platform:
        notes.append(f"proven as --platform {platform}, but the env's files say {found} ({'; '.join(evidence)})")
    if facts is not None and facts.platform != platform:
        facts = None  # another machine's macOS or glibc says nothing about this env
    versions = installed(site)
    loader = loader_for(platform)
    judged, judged_from = loader.judged(given[loader.option], recipe_for_pins(table, platform, versions), facts)
    result = prove_dir(site, platform, minor or python or "", judged, judged_from, f"env {env}", table, started,
                       packages=versions, progress=progress)
    result.notes[:0] = notes + [f"platform {platform} read from the env: {'; '.join(evidence)}"] if evidence else notes
    return result


def _here() -> str:
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(host_platform.machine().lower(),
                                                          host_platform.machine().lower())
    if host_platform.system() == "Darwin":
        return "macos-arm64" if machine in ("arm64", "aarch64") else "macos-x86_64"
    return f"linux-{machine}"


def no_native_files(result: ProveResult) -> None:
    """A proof of TensorFlow that read none of its binaries proves nothing: exit 2, never "loads"."""
    tf = [f"{name} {result.packages[name]}" for name in TF_DISTRIBUTIONS if name in result.packages]
    if not tf or result.report.files_checked:
        return
    raise TfsetupError(f"{result.subject} holds {tf[0]} but no {result.loader.format} file for {result.platform}: its binaries are "
                       "for another platform, or missing, so nothing was proven", EXIT_BAD_INPUT,
                       fix="check the env's platform (`tfsetup doctor ENV` on its machine), or name it: --platform "
                       "macos-arm64 | macos-x86_64 | linux-x86_64 | linux-aarch64")


# ---------------------------------------------------------------------------------------------
# which platform an env is for, from its own files

_TAG_PLATFORM = re.compile(r"^(macosx_\d+_\d+|manylinux_\d+_\d+|manylinux\d+|musllinux_\d+_\d+|linux)_(.+)$")
_MAC_ARCHS = {"arm64": "arm64", "x86_64": "x86_64"}
_LINUX_ARCHS = {"x86_64": "x86_64", "aarch64": "aarch64"}


def tag_platform(tag: str) -> Optional[Tuple[str, str]]:
    """(os, arch) of a wheel tag's platform part ("cp311-cp311-macosx_12_0_arm64" -> ("macos", "arm64"));
    None for `any` and for what prove does not model. universal2 is ("macos", "universal2")."""
    for part in tag.split("-")[-1].split("."):
        m = _TAG_PLATFORM.match(part)
        if not m:
            continue
        system, arch = ("macos" if m.group(1).startswith("macosx") else "linux"), m.group(2)
        if system == "macos" and arch in ("universal2", "universal", "intel"):
            return system, "universal2"
        return system, arch
    return None


def env_platform(env: Path, site: Path) -> Tuple[Optional[str], List[str]]:
    """(platform, the evidence) of an env, from its own files: the interpreter (pyvenv.cfg's, or
    bin/python), the platform tags of its installed wheels (*.dist-info/WHEEL), else its binaries'
    format. The wheels say which OS it was installed for (TensorFlow's wheel first); the interpreter,
    when it is of that OS, says which arch the process is, so that a wheel of another arch is a
    problem the proof names (an x86_64 env holding an aarch64 numpy). None: nothing says."""
    evidence: List[str] = []
    interpreter = _interpreter(env)
    if interpreter is not None:
        evidence.append(f"interpreter {interpreter[2]} is {interpreter[0]} {','.join(interpreter[1])}")
    tags = _wheel_platforms(site)
    tf = next((tags[name] for name in TF_DISTRIBUTIONS if name in tags), None)
    counted = Counter(p for plats in tags.values() for p in plats)
    system = tf[0][0] if tf else (counted.most_common(1)[0][0][0] if counted else None)
    if system is not None:
        shown = sorted({f"{s}-{a}" for s, a in counted})
        evidence.append("wheels tagged " + ", ".join(shown))
    else:
        system, archs = _binaries(site)
        if system is not None:
            evidence.append(f"binaries are {'Mach-O' if system == 'macos' else 'ELF'} {','.join(archs)}")
            tags = {"(binaries)": [(system, a) for a in archs]}
            counted = Counter(p for plats in tags.values() for p in plats)
    if system is None:
        system = interpreter[0] if interpreter is not None else None
        if system is None:
            return None, evidence
    known = _MAC_ARCHS if system == "macos" else _LINUX_ARCHS
    wanted = [a for s, a in ([p for p in tf] if tf else []) if s == system and a in known] + \
        [a for (s, a), _n in counted.most_common() if s == system and a in known]
    if not wanted and system == "macos" and ("macos", "universal2") in counted:
        wanted = ["arm64"]  # only universal2 wheels: Apple Silicon, as everywhere in prove
    if interpreter is not None and interpreter[0] == system:
        own = [a for a in interpreter[1] if a in known]
        preferred = [a for a in wanted if a in own] + own  # a universal2 Python runs the wheels' arch
        arch = preferred[0] if preferred else None
    else:
        arch = wanted[0] if wanted else None
    if arch is None:
        return None, evidence
    return f"{system}-{arch}", evidence


def _interpreter(env: Path) -> Optional[Tuple[str, List[str], str]]:
    """(os, archs, path) of the env's Python binary: pyvenv.cfg's `executable`, else bin/python."""
    candidates: List[Path] = []
    cfg = env / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "executable" and value.strip():
                candidates.append(Path(value.strip()))
    candidates += [env / "bin" / "python3", env / "bin" / "python"]
    for path in candidates:
        found = _binary_kind(path)
        if found is not None:
            return found[0], found[1], str(path)
    return None


def _binary_kind(path: Path) -> Optional[Tuple[str, List[str]]]:
    try:
        if not path.is_file():
            return None
        if is_elf(path):
            return "linux", [read_elf(path).machine]
        if is_macho(path):
            return "macos", [s.arch for s in read_slices(str(path))]
    except (OSError, ElfError, MachOError):
        return None
    return None


def _wheel_platforms(site: Path) -> Dict[str, List[Tuple[str, str]]]:
    """distribution -> the (os, arch) of its WHEEL's platform tags (pure-Python wheels left out)."""
    out: Dict[str, List[Tuple[str, str]]] = {}
    for info in sorted(site.glob("*.dist-info")):
        wheel = info / "WHEEL"
        if not wheel.is_file():
            continue
        found = {tag_platform(line.split(":", 1)[1].strip())
                 for line in wheel.read_text(encoding="utf-8", errors="replace").splitlines() if line.startswith("Tag:")}
        found.discard(None)
        if found:
            out[normalize_name(info.name[:-len(".dist-info")].partition("-")[0])] = sorted(found)  # type: ignore
    return out


def _binaries(site: Path) -> Tuple[Optional[str], List[str]]:
    """The OS and archs of the env's binaries when no wheel tag says (the first few files read)."""
    for path in iter_macho_files(site):
        kind = _binary_kind(Path(path))
        if kind is not None:
            return kind
    for elf in iter_elf_files(site):
        kind = _binary_kind(elf)
        if kind is not None:
            return kind
    return None, []
