"""A cheap static model of ld.so over an env's ELF files (the Linux counterpart of macho/dyld.py).

Per ELF file under the root (sniffed by its magic, text files skipped):
- wrong-arch: not ELF64 little-endian of the target machine (x86_64 / aarch64);
- library-not-found: a DT_NEEDED that resolves through none of
  1. the file's DT_RUNPATH, else its DT_RPATH, with $ORIGIN / ${ORIGIN} expanded to its directory
     (TF's libraries reach the nvidia-* wheels this way: $ORIGIN/../nvidia/cudnn/lib ...);
  2. another file of the env with that SONAME or file name: ld.so reuses an object already loaded
     under that SONAME, and the libraries an env ships are loaded by whoever needs them first (TF
     dlopen()s CUDA's libraries itself; libcusolver then finds libcublas already loaded);
  3. the system: the manylinux allow-list (SYSTEM_LIBS), the dynamic loaders, and the NVIDIA
     driver's libraries (DRIVER_LIBS: libcuda.so.1 is installed with the driver, never in a wheel);
- glibc-too-old: a GLIBC_x.y symbol version (.gnu.version_r) newer than the target glibc.

What it does not model: symbol lookup (ELF binds by name across the whole process; a missing
symbol is a lazy-binding or RTLD_NOW error that versions mostly rule out), LD_LIBRARY_PATH and
ld.so.cache (outside the env), and dlopen() by name at run time (TF's CUDA loading).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .reader import ElfError, ElfFile, glibc_versions, is_elf, read_elf, version_tuple

# The libraries a manylinux_2_28 wheel may link without bundling them: auditwheel's policy
# (pypa/auditwheel src/auditwheel/policy/manylinux-policy.json, "manylinux_2_28" lib_whitelist;
# PEP 600 defers to it; PEP 599 listed the same set for manylinux2014, plus libcrypt.so.1, which
# auditwheel later dropped because current distributions no longer ship it). libmvec is glibc's
# own vector math library (auditwheel allows it from manylinux_2_31 on).
SYSTEM_LIBS = frozenset({
    "libc.so.6", "libm.so.6", "libmvec.so.1", "libdl.so.2", "librt.so.1", "libpthread.so.0",
    "libutil.so.1", "libanl.so.1", "libnsl.so.1", "libresolv.so.2", "libatomic.so.1", "libgcc_s.so.1",
    "libstdc++.so.6", "libz.so.1", "libexpat.so.1", "libX11.so.6", "libXext.so.6", "libXrender.so.1",
    "libICE.so.6", "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0",
    "libglib-2.0.so.0",
})
LOADERS = frozenset({"ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux.so.2"})
# Installed by the NVIDIA driver, not by any wheel (CUDA's driver API, NVML).
DRIVER_LIBS = frozenset({"libcuda.so.1", "libnvidia-ml.so.1"})
PROBLEM_KINDS = ("wrong-arch", "library-not-found", "glibc-too-old")
MAX_EXAMPLES = 5
TEXT_SUFFIXES = frozenset({".py", ".pyc", ".pyi", ".h", ".hpp", ".inc", ".txt", ".md", ".json", ".proto",
                           ".cfg", ".toml", ".csv", ".html", ".js", ".css", ".typed", ".pxd", ".pyx",
                           ".c", ".cc", ".cpp", ".cu", ".cuh", ".png", ".svg", ".rst", ".ini", ".yaml"})


@dataclass
class Problem:
    kind: str  # one of PROBLEM_KINDS
    file: str  # relative to the env root
    library: Optional[str] = None  # library-not-found: the DT_NEEDED name
    needs: Optional[str] = None  # wrong-arch: the machine wanted; glibc-too-old: the newest GLIBC_ needed
    have: Optional[str] = None  # wrong-arch: what the file is; glibc-too-old: the target glibc
    count: int = 1  # glibc-too-old: how many versions are over the target
    examples: List[str] = field(default_factory=list)  # glibc-too-old: those versions ("GLIBC_2.34")
    tried: List[str] = field(default_factory=list)  # library-not-found: the runpath dirs searched

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"kind": self.kind, "file": self.file}
        for key in ("library", "needs", "have"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        doc["count"] = self.count
        if self.examples:
            doc["examples"] = list(self.examples)
        if self.tried:
            doc["tried"] = list(self.tried)
        return doc


@dataclass
class Report:
    root: str
    machine: str
    glibc: Optional[str]
    problems: List[Problem] = field(default_factory=list)
    files_checked: int = 0
    dependencies_checked: int = 0
    highest_glibc: Optional[Tuple[str, str]] = None  # (version, file) of the file needing the newest glibc

    @property
    def ok(self) -> bool:
        return not self.problems


def iter_elf_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in TEXT_SUFFIXES:
                continue
            path = Path(folder) / name
            if not path.is_symlink() and is_elf(path):
                yield path


def expand_origin(entry: str, directory: Path) -> Optional[Path]:
    """A runpath entry with $ORIGIN made absolute; None for one that names nothing on this disk
    ($LIB, $PLATFORM: the target's, not ours) ."""
    text = entry.replace("${ORIGIN}", "$ORIGIN").replace("$ORIGIN", str(directory))
    if "$" in text:
        return None
    return Path(os.path.normpath(text))


def search_dirs(elf: ElfFile) -> List[str]:
    """DT_RUNPATH wins over DT_RPATH (ld.so ignores DT_RPATH when DT_RUNPATH is present)."""
    return elf.runpath or elf.rpath


def check_env(root: Path, machine: str, glibc: Optional[str]) -> Report:
    """Every ELF file under `root`: machine, dependencies, glibc versions (see the module doc)."""
    root = Path(root)
    files: List[Tuple[str, Path, ElfFile]] = []
    report = Report(str(root), machine, glibc)
    provided: Dict[str, str] = {}  # SONAME or file name -> the file providing it
    for path in iter_elf_files(root):
        rel = os.path.relpath(path, root)
        report.files_checked += 1
        try:
            elf = read_elf(path)
        except (ElfError, OSError) as exc:
            report.problems.append(Problem("wrong-arch", rel, needs=machine, have=f"unreadable ELF ({exc})"))
            continue
        if not elf.readable or elf.machine != machine:
            have = elf.machine if elf.readable else f"ELF{elf.bits} {'LE' if elf.little_endian else 'BE'} {elf.machine}"
            report.problems.append(Problem("wrong-arch", rel, needs=machine, have=have))
            continue
        files.append((rel, path, elf))
        provided.setdefault(path.name, rel)
        if elf.soname:
            provided.setdefault(elf.soname, rel)
    limit = version_tuple(glibc) if glibc else None
    for rel, path, elf in files:
        for library in elf.needed:
            report.dependencies_checked += 1
            missing = _resolve(library, elf, path, provided)
            if missing is not None:
                report.problems.append(Problem("library-not-found", rel, library=library, tried=missing))
        needed = glibc_versions(elf)
        if needed and (report.highest_glibc is None
                       or version_tuple(needed[-1]) > version_tuple(report.highest_glibc[0])):
            report.highest_glibc = (needed[-1], rel)
        over = [v for v in needed if limit is not None and version_tuple(v) > limit]
        if over:
            report.problems.append(Problem("glibc-too-old", rel, needs=over[-1], have=glibc, count=len(over),
                                           examples=[f"GLIBC_{v}" for v in over[-MAX_EXAMPLES:]]))
    report.problems.sort(key=lambda p: (PROBLEM_KINDS.index(p.kind), p.file, p.library or ""))
    return report


def _resolve(library: str, elf: ElfFile, path: Path, provided: Dict[str, str]) -> Optional[List[str]]:
    """None when ld.so would find `library`; else the directories searched (for the report)."""
    if "/" in library:  # a path: used as is (relative to the process's cwd: unknowable, so judged absolute)
        return None if Path(library).is_file() else [library]
    if library in SYSTEM_LIBS or library in LOADERS or library in DRIVER_LIBS:
        return None
    tried: List[str] = []
    for entry in search_dirs(elf):
        directory = expand_origin(entry, path.parent)
        if directory is None:
            continue
        if (directory / library).exists():
            return None
        tried.append(entry)
    if library in provided:
        return None
    return tried
