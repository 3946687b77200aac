"""The user's own packages in a tfsetup env (pandas, jupyter, transformers ...): resolved against the env's
lock pins before anything changes, refused with the reason and the nearest version that fits when they
would move the verified set, installed hash-pinned.

Resolution is `uv pip compile --generate-hashes` under a constraints file of the lock's pins: nothing is
installed while resolving, so a conflict is found before the env is touched. What gets installed is
exactly what was resolved: the new or changed packages of the closure, with their hashes, `--no-deps`
(the lock's own packages are already there at their pins). Used by `tfsetup add` and `tfsetup upgrade`.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement

from tfsetup.backends import BackendError, constraints_file, install_lock
from tfsetup.backends._proc import run_step
from tfsetup.backends.base import Backend, PackageSource, Target
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.recipes import normalize_name
from tfsetup.resolve import ResolveError, parse_uv_output, render_requirements

Entry = Tuple[str, str, List[str]]  # (normalized name, version, [sha256 ...])
# The packages that make a TensorFlow stack what was verified; named first when one would move.
STACK = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-metal", "numpy", "keras", "tf-keras",
         "protobuf", "ml-dtypes")


def parse_specs(specs: Sequence[str]) -> List[Requirement]:
    """PKG arguments as requirements (`pandas`, `pandas==2.2.3`, `transformers[torch]>=4`); bad ones exit 2."""
    reqs = []
    for spec in specs:
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise TfsetupError(f"{spec!r} is not a package requirement: {exc}", EXIT_BAD_INPUT,
                               fix="name a package, optionally with a version: pandas, pandas==2.2.3") from None
        if req.url or spec.lstrip().startswith("-"):
            raise TfsetupError(f"{spec!r}: only packages from the index (name and version), not URLs or options",
                               EXIT_BAD_INPUT)
        reqs.append(req)
    if not reqs:
        raise TfsetupError("name at least one package", EXIT_BAD_INPUT)
    return reqs


@dataclass
class Conflict:
    requirement: str  # what was asked, e.g. "scipy==1.11.4"
    reason: str  # one line: what in the verified set it would move
    moves: List[str] = field(default_factory=list)  # the pinned packages it conflicts with
    nearest: Optional[str] = None  # a version of the package that fits, when one was found
    name: str = ""  # the package's normalized name

    def to_json(self) -> Dict[str, object]:
        return {"requirement": self.requirement, "package": self.name, "reason": self.reason, "moves": self.moves,
                "nearest": self.nearest}


class Resolver:
    """`uv pip compile` for one interpreter (an env's python, or a Python version + platform) under pins."""

    def __init__(self, backend: Backend, python: Sequence[str], pins: Mapping[str, str], source: PackageSource,
                 target: Target) -> None:
        self.backend = backend
        self.python = list(python)
        self.pins = dict(pins)
        self.source = source
        self.target = target

    def resolve(self, lines: Sequence[str], lowest: bool = False) -> List[Entry]:
        """The hash-pinned closure of `lines` under the pins, or ResolveError with uv's message."""
        with tempfile.TemporaryDirectory(prefix="tfsetup-resolve-") as tmp, constraints_file(self.pins) as cons:
            reqs = Path(tmp) / "requirements.in"
            reqs.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            argv = self.backend.compile_argv(reqs, cons, self.python, self.source, lowest)  # pip: BackendError
            try:
                out = run_step("resolve", argv, env=engine_vars(self.source, self.target), timeout=600)
            except BackendError as exc:
                raise ResolveError(exc.message) from None
        return parse_uv_output(out)

    def conflict(self, req: Requirement, message: str) -> Conflict:
        reason, moves = explain_conflict(message, self.pins)
        return Conflict(str(req), reason, moves, self.nearest(req), normalize_name(req.name))

    def nearest(self, req: Requirement) -> Optional[str]:
        """The version of req's package nearest to the one asked that fits the pins (at most two resolves):
        for `name==V` the newest below V, else the oldest above it; otherwise the newest that fits."""
        name = normalize_name(req.name)
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        asked = exact_version(req)
        tries: List[Tuple[str, bool]] = [(f"{name}{extras}<{asked}", False), (f"{name}{extras}>{asked}", True)] \
            if asked else [(f"{name}{extras}", False)]
        for line, lowest in tries:
            try:
                found = dict((n, v) for n, v, _ in self.resolve([line], lowest))
            except ResolveError:
                continue
            if name in found:
                return found[name]
        return None


def engine_vars(source: PackageSource, target: Target) -> Dict[str, str]:
    env = dict(target.env)
    env.update(source.env())  # credentialed index URLs travel in the environment
    return env


def exact_version(req: Requirement) -> Optional[str]:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


_CLAUSE = re.compile(r"([A-Za-z0-9][\w.\-\[\],]*?(?:[=<>!~]=?[^\s,]+(?:,[<>=!~]=?[^\s,]+)*)?) depends? on "
                     r"([A-Za-z0-9][\w.\-]*)((?:[=<>!~]=?[^\s,]+)(?:,[<>=!~]=?[^\s,]+)*)")


def explain_conflict(message: str, pins: Mapping[str, str]) -> Tuple[str, List[str]]:
    """One line from uv's "No solution found" message: which requirement wants which pinned package where
    the verified set has another version. Falls back to uv's first cause (or hint) line."""
    text = " ".join(message.split())
    moves: List[str] = []
    clauses = []
    for who, dep, spec in _CLAUSE.findall(text):
        key = normalize_name(dep)
        if key in pins and key not in moves:
            moves.append(key)
            clauses.append(f"{who} needs {dep}{spec} but the verified set has {dep} {pins[key]}")
    moves.sort(key=lambda k: (STACK.index(k) if k in STACK else len(STACK), k))
    if clauses:
        return "; ".join(clauses[:2]), moves
    for prefix in ("cause:", "hint:", "error:"):
        for raw in message.splitlines():
            line = raw.strip()
            if line.startswith(prefix):
                return line[len(prefix):].strip()[:300], moves
    return (text[:300] or "no solution found"), moves


def closure_versions(entries: Sequence[Entry]) -> Dict[str, str]:
    return {name: version for name, version, _ in entries}


def delta(entries: Sequence[Entry], pins: Mapping[str, str], installed: Mapping[str, str]) -> List[Entry]:
    """What the closure adds or changes: not the lock's own packages (already there at their pins) and not
    what is installed at that exact version."""
    return [e for e in entries if e[0] not in pins and installed.get(e[0]) != e[1]]


def install_entries(backend: Backend, python: Sequence[str], entries: Sequence[Entry], source: PackageSource,
                    target: Target) -> None:
    """Install exactly these pinned, hashed packages (--require-hashes --no-deps, like a lock)."""
    if not entries:
        return
    fd, path = tempfile.mkstemp(prefix="tfsetup-packages-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_requirements(entries))
        install_lock(backend, python, Path(path), source, target)
    finally:
        os.unlink(path)
