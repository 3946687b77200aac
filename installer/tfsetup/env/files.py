"""The installed files of a distribution against its RECORD (PEP 376 / the wheel spec's RECORD: one
`path,hash,size` row per installed file, paths relative to the site-packages directory): present, the
size RECORD gives, and the architecture of its native files from their headers only (ELF e_machine:
elfcheck/reader.py; Mach-O slices: macho/reader.py). Part of doctor's fast pass: no file is imported or
read beyond its first bytes, so a TensorFlow env (~14,000 files) costs a stat each and a header read of
its ~130 native libraries.

Only paths inside the env are looked at (RECORD is the env's data: a `../../../../etc/x` row is not
followed). Bytecode rows are skipped: a missing .pyc is rewritten on the next import, it breaks nothing.
"""
from __future__ import annotations

import csv
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from tfsetup.elfcheck.reader import HEADER_BYTES, MAGIC as ELF_MAGIC, ElfError, parse_header
from tfsetup.errors import BadInput
from tfsetup.inputs import open_input
from tfsetup.limits import UnsafeBinary, open_binary
from tfsetup.macho.reader import MachOError, is_macho, read_slices

MAX_RECORD_BYTES = 64 << 20  # TensorFlow's RECORD is ~1.5 MB
# Installers that write a wheel's files as they are (INSTALLER in the dist-info): their sizes must match
# RECORD. conda rewrites its build prefix inside text files when it installs, so a conda package's files
# may differ in size from its RECORD: only their presence is checked.
VERBATIM_INSTALLERS = ("pip", "uv", "poetry", "pdm")
# Native libraries by name: foo.so, foo.cpython-311-x86_64-linux-gnu.so, libfoo.so.2, libfoo.2.dylib.
NATIVE_NAME = re.compile(r"\.(so(\.\d+)*|dylib)$")


@dataclass(frozen=True)
class NativeFile:
    path: str  # as RECORD writes it
    format: str  # "elf" | "macho"
    archs: Tuple[str, ...]  # ELF: its e_machine; Mach-O: its slices (like `lipo -archs`)

    def to_json(self) -> Dict[str, Any]:
        return {"path": self.path, "format": self.format, "archs": list(self.archs)}


@dataclass(frozen=True)
class DistFiles:
    """One distribution's installed files as RECORD lists them."""

    key: str  # normalized name
    version: str
    checked: int = 0  # RECORD rows looked at
    missing: Tuple[str, ...] = ()
    resized: Tuple[Tuple[str, int, int], ...] = ()  # (path, size on disk, size RECORD gives)
    native: Tuple[NativeFile, ...] = ()
    unreadable: str = ""  # why its RECORD could not be read ("" when it was)

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.key, "version": self.version, "checked": self.checked, "missing": list(self.missing),
                "resized": [{"path": p, "size": have, "record": want} for p, have, want in self.resized],
                "native": len(self.native), "unreadable": self.unreadable or None}


def record_rows(text: str) -> List[Tuple[str, Optional[int]]]:
    """RECORD's (path, size) rows that name installed files (pure): bytecode and rows without a path
    are left out; a size that is not a number counts as none."""
    rows: List[Tuple[str, Optional[int]]] = []
    for line in text.splitlines():
        # csv only for the rare quoted row: TensorFlow's 10,000 plain rows split 3x faster by hand
        row = next(csv.reader([line]), []) if '"' in line else line.rsplit(",", 2)
        if not row or not row[0].strip():
            continue
        path = row[0]
        if path.endswith(".pyc") or "/__pycache__/" in f"/{path}":
            continue
        size = row[2].strip() if len(row) > 2 else ""
        rows.append((path, int(size) if size.isdigit() else None))
    return rows


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _native(full: str, rel: str, mode: int) -> Optional[NativeFile]:
    """The file's binary format and archs when it is a native file (a library by its name, or an executable
    without a suffix: wheels mark thousands of .py files executable), else None."""
    if not (NATIVE_NAME.search(rel) or (mode & stat.S_IXUSR and "." not in rel.rsplit("/", 1)[-1])):
        return None
    try:
        with open_binary(full) as handle:  # never blocks on a FIFO planted under a library's name
            head = handle.read(HEADER_BYTES)
            if head[:4] == ELF_MAGIC:
                return NativeFile(rel, "elf", (parse_header(head).machine,))
    except (OSError, ElfError, UnsafeBinary):
        return None  # not a regular file: RECORD's size check names it
    if not is_macho(full):
        return None  # a script, or a linker script named .so
    try:
        return NativeFile(rel, "macho", tuple(s.arch for s in read_slices(full)))
    except (OSError, MachOError, UnsafeBinary):
        return None


def check_distribution(key: str, version: str, dist_info: str, env_root: str, sizes: bool = True) -> DistFiles:
    """Read DIST_INFO/RECORD and look at each file it lists under env_root (the edge: stat + headers);
    `sizes`: compare the sizes too (see VERBATIM_INSTALLERS)."""
    record = os.path.join(dist_info, "RECORD")
    try:
        if os.stat(record).st_size > MAX_RECORD_BYTES:
            return DistFiles(key, version, unreadable=f"{record} is larger than {MAX_RECORD_BYTES} bytes")
        with open_input(record, "RECORD", regular=True) as handle:
            text = handle.read(MAX_RECORD_BYTES).decode("utf-8", errors="replace")
    except BadInput as exc:
        return DistFiles(key, version, unreadable=str(exc))
    except OSError as exc:
        return DistFiles(key, version, unreadable=f"{record}: {exc.strerror or exc}")
    site = os.path.dirname(os.path.normpath(dist_info))
    root = os.path.normpath(env_root)
    missing: List[str] = []
    resized: List[Tuple[str, int, int]] = []
    native: List[NativeFile] = []
    checked = 0
    for rel, size in record_rows(text):
        full = site + os.sep + rel
        if ".." in rel:  # scripts (../../../bin/x): inside the env, or not followed
            full = os.path.normpath(full)
            if not _inside(root, full):
                continue
        elif os.path.isabs(rel):
            continue
        checked += 1
        try:
            info = os.lstat(full)
        except OSError:
            missing.append(rel)
            continue
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
            continue
        if sizes and size is not None and info.st_size != size:
            resized.append((rel, info.st_size, size))
        found = _native(full, rel, info.st_mode)
        if found is not None:
            native.append(found)
    return DistFiles(key, version, checked, tuple(missing), tuple(resized), tuple(native))
