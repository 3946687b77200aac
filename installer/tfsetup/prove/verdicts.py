"""Verdicts kept (issue 22: proofs in a second). Checking a tree is a pure function of its files, the
target (arch, macOS, full or fast pass) and the checker's own code: a second check of the same tree
reads the verdict instead of binding ~50k symbols again.

The key is a sha256 over:
- the tree, walked as the checks walk it (os.walk order, links not followed): every entry's relative
  path and kind; a link's target; a file's size and mtime, and its sha256 as its wheel's RECORD lists
  it (bincache.py's notion of a file's content: a file patched after install has a new mtime). A
  binary-looking file no RECORD lists with its size makes the tree uncacheable (nothing names its
  content without reading it); a text file (TEXT_SUFFIXES: never read as a binary) counts by size and
  mtime;
- the target and the question asked (`what`, and its inputs);
- the checker: the bytes of macho/, elfcheck/, prove/, bincache.py and limits.py as installed, so any
  change of the code invalidates every verdict.

A verdict also depends on paths outside the tree that the check looked for (an absolute install name,
an LC_RPATH into a build tree: Report.consulted). They are kept with the verdict and looked at again
before it is used; a verdict that found a file there (whose bytes no key names) is never kept, and
one whose outside paths are named from the tree's own location is used only at that location.

Entries live in the analysis cache's folder (bincache.py: the private state dir, checked; an entry
names its key and carries its payload's length and CRC-32, so a damaged entry or one of another key
is refused; TFSETUP_NO_CACHE=1 keeps and reads none) and are pruned with it.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from tfsetup import bincache
from tfsetup.macho.dyld import TEXT_SUFFIXES, Problem, Report
from tfsetup.macho.reader import is_macho

T = TypeVar("T")
FORMAT = "tfsetup verdict 1"
CHECKER_DIRS = ("macho", "elfcheck", "prove")
CHECKER_FILES = ("bincache.py", "limits.py")
_checker: List[str] = []  # the checker's hash, computed once per process


def checker_hash() -> str:
    """sha256 over the checker's source files (module doc): a new tfsetup, or an edited one, is a new key."""
    if not _checker:
        _checker.append(source_hash(Path(__file__).resolve().parent.parent))
    return _checker[0]


def source_hash(package: Path) -> str:
    """sha256 over the checker's files (CHECKER_DIRS, CHECKER_FILES) of the tfsetup package at `package`."""
    files = sorted(p for part in CHECKER_DIRS for p in (package / part).glob("*.py"))
    files += [package / name for name in CHECKER_FILES]
    digest = hashlib.sha256(FORMAT.encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def tree_identity(root: str) -> Optional[str]:
    """A sha256 naming the content of the tree at `root` as the checks see it (module doc); None when
    a binary in it is named by no RECORD."""
    listed = record_listing(root)
    digest = hashlib.sha256()
    stack: List[Tuple[str, str]] = [(root, "")]  # (folder, its path relative to root + "/", or "")
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            return None
        subdirs: List[Tuple[str, str]] = []
        lines: List[str] = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                return None
            if stat.S_ISLNK(info.st_mode):
                lines.append(f"L\0{rel}\0{os.readlink(entry.path)}")
            elif stat.S_ISDIR(info.st_mode):
                lines.append(f"D\0{rel}")
                subdirs.append((entry.path, rel + "/"))
            elif not stat.S_ISREG(info.st_mode):
                lines.append(f"O\0{rel}\0{info.st_mode}")
            else:
                record = listed.get(rel)
                sha = record[0] if record is not None and record[1] == info.st_size else ""
                if not sha and os.path.splitext(entry.name)[1] not in TEXT_SUFFIXES and is_macho(entry.path):
                    return None
                lines.append(f"F\0{rel}\0{sha}\0{info.st_size}\0{info.st_mtime_ns}")
        digest.update("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
        stack.extend(reversed(subdirs))
    return digest.hexdigest()


def record_listing(root: str) -> Dict[str, Tuple[str, int]]:
    """Relative path -> (sha256, size) as the RECORDs of the tree's *.dist-info list them (names only
    content: the size and mtime in the key judge freshness, as in bincache.py)."""
    out: Dict[str, Tuple[str, int]] = {}
    try:
        infos = sorted(e.path for e in os.scandir(root) if e.name.endswith(".dist-info") and e.is_dir())
    except OSError:
        return out
    for info in infos:
        try:
            with open(os.path.join(info, "RECORD"), "rb") as handle:
                text = handle.read(bincache.ENTRY_LIMIT).decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.rsplit(",", 2)
            if len(parts) == 3 and parts[1].startswith("sha256=") and parts[2].isdigit():
                out[os.path.normpath(parts[0])] = (parts[1][len("sha256="):], int(parts[2]))
    return out


def verdict_key(what: str, root: str, inputs: Dict[str, Any]) -> Optional[str]:
    """The key of the answer to `what` with `inputs` about the tree at `root`; None: nothing is kept
    (caching off, or the tree is not named by its RECORDs)."""
    if bincache.cache_folder() is None:
        return None
    tree = tree_identity(root)
    if tree is None:
        return None
    doc = {"format": FORMAT, "what": what, "inputs": inputs, "tree": tree, "checker": checker_hash()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def kept(what: str, site: Path, inputs: Dict[str, Any], compute: Callable[[], T],
         encode: Callable[[T], Tuple[Report, Any]], decode: Callable[[Report, Any], T]) -> T:
    """compute(), or the answer kept for the same tree, inputs and checker. `encode` gives the answer's
    Report (whose `consulted` says what outside the tree it looked at) and the rest as JSON;
    `decode` makes the answer again from them."""
    root = os.path.realpath(str(site))
    key = verdict_key(what, root, inputs)
    if key is not None:
        doc = bincache.load(key)
        answer = _decoded(doc, root, decode) if doc is not None else None
        if answer is not None:
            return answer
    answer = compute()
    if key is not None:
        report, rest = encode(answer)
        if not any(report.consulted.values()):  # a file outside the tree decided: its bytes have no key
            bincache.store(key, {"root": root, "report": report_doc(report), "rest": rest})
    return answer


def _decoded(doc: Any, root: str, decode: Callable[[Report, Any], T]) -> Optional[T]:
    """The answer of an entry, or None when it does not hold here (outside paths changed, another
    location's outside paths, or an entry of an unexpected shape)."""
    try:
        report = report_from(doc["report"], root)
        if report.consulted and doc["root"] != root:
            return None
        if any(os.path.isfile(path) != found for path, found in report.consulted.items()):
            return None
        return decode(report, doc["rest"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def report_doc(report: Report) -> Dict[str, Any]:
    return {"arch": report.arch, "macos": report.macos, "problems": [_problem_doc(p) for p in report.problems],
            "loaded": list(report.loaded), "on_demand": [_problem_doc(p) for p in report.on_demand],
            "files_checked": report.files_checked, "bindings_checked": report.bindings_checked,
            "dependencies_checked": report.dependencies_checked,
            "consulted": sorted([path, found] for path, found in report.consulted.items())}


def report_from(doc: Dict[str, Any], root: str) -> Report:
    return Report(root=root, arch=str(doc["arch"]), macos=doc["macos"],
                  problems=[_problem(p) for p in doc["problems"]], loaded=[str(x) for x in doc["loaded"]],
                  on_demand=[_problem(p) for p in doc["on_demand"]], files_checked=int(doc["files_checked"]),
                  bindings_checked=int(doc["bindings_checked"]),
                  dependencies_checked=int(doc["dependencies_checked"]),
                  consulted={str(path): bool(found) for path, found in doc["consulted"]})


def _problem_doc(p: Problem) -> List[Any]:
    return [p.kind, p.file, p.library, p.symbol, p.expected_in, p.needs, p.have, p.count, list(p.examples),
            [list(t) for t in p.tried], p.when]


def _problem(doc: List[Any]) -> Problem:
    kind, file, library, symbol, expected_in, needs, have, count, examples, tried, when = doc
    return Problem(str(kind), str(file), library, symbol, expected_in, needs, have, int(count),
                   [str(e) for e in examples], [(str(path), str(why)) for path, why in tried], when)
