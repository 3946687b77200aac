"""Bounded reading and parsing of every input file (TOML, JSON, locks, recipes, host files, caches,
env records): a size cap, no binary data, no recursion blow-up. Each failure is one BadInput naming
the file; a parser never sees more than MAX_BYTES, so `/dev/zero` or a 2 GB file costs nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO, Union

from tfsetup.errors import BadInput

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10
    import tomli as tomllib

MAX_BYTES = 16 << 20  # the largest real input (a team lock with hashes for 4 platforms) is ~200 KB
MAX_DEPTH = 64  # no tfsetup document nests deeper than ~5 levels


def open_input(path: Union[str, Path], what: str = "file", regular: bool = False) -> BinaryIO:
    """`path` opened for reading without ever blocking in open(); BadInput when it cannot be opened, is a
    directory, or, with `regular`, is not a regular file (a FIFO, a device, a socket, or a link to one).

    O_NONBLOCK: a FIFO nobody writes to would otherwise hold open() forever. Once open, the descriptor is
    made blocking again, so a pipe with a writer (`<(...)`) is read to its end, and one without a writer
    reads as empty (end of file) instead of hanging."""
    where = f"{what} {path}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        raise BadInput(f"{where} is a directory", fix="give the path of a file") from None
    except OSError as exc:
        raise BadInput(f"cannot read {where}: {exc.strerror or exc}",
                       fix="check that the file exists and that you can read it") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode) or (regular and not stat.S_ISREG(mode)):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise BadInput(f"{where} is a directory", fix="give the path of a file")
        raise BadInput(f"{where} is not a regular file (a device, a FIFO or a link to one)",
                       fix=f"replace {path} with the real file")
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: Union[str, Path], what: str = "file", limit: int = MAX_BYTES, regular: bool = False) -> bytes:
    """At most `limit` bytes of `path`; BadInput when it is bigger, unreadable or a directory, and with
    `regular` when it is not a regular file (a link to a device, a FIFO): a lock is never one of those."""
    where = f"{what} {path}"
    with open_input(path, what, regular) as handle:
        try:
            return read_stream(handle, where, limit)
        except OSError as exc:
            raise BadInput(f"cannot read {where}: {exc.strerror or exc}",
                           fix="check that the file exists and that you can read it") from None


def present(path: Union[str, Path]) -> bool:
    """Whether anything is at `path`: a file, a directory, a device, a FIFO, a link (even a dangling one).
    An input that is there is read (and refused with its name when it is unusable), never skipped."""
    return os.path.lexists(path)


def read_stream(handle: BinaryIO, where: str, limit: int = MAX_BYTES) -> bytes:
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise BadInput(f"{where} is larger than {limit >> 20} MiB: not a tfsetup input",
                       fix="give the right file (tfsetup's inputs are small text files)")
    return data


def decode(data: bytes, where: str) -> str:
    """UTF-8 text without NUL bytes (binary data is refused before any parser runs)."""
    if b"\0" in data:
        raise BadInput(f"{where} is binary data (it contains NUL bytes), not text",
                       fix="give the right file (tfsetup's inputs are UTF-8 text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where} is not UTF-8 text: {exc}", fix="save the file as UTF-8") from None


def read_text(path: Union[str, Path], what: str = "file", limit: int = MAX_BYTES, regular: bool = False) -> str:
    return decode(read_bytes(path, what, limit, regular), f"{what} {path}")


def too_deep(doc: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed document nests deeper than `limit` (iterative: no recursion of its own)."""
    stack = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def loads_json(text: str, where: str) -> Any:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise BadInput(f"{where} is nested too deeply to be a tfsetup document", fix="give the right file") from None
    except ValueError as exc:
        raise BadInput(f"{where} is not valid JSON: {exc}", fix="give the right file, or regenerate it") from None
    if too_deep(doc):
        raise BadInput(f"{where} is nested too deeply to be a tfsetup document", fix="give the right file")
    return doc


def loads_toml(text: str, where: str) -> Any:
    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise BadInput(f"{where} is nested too deeply to be a tfsetup file", fix="give the right file") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{where} is not valid TOML: {exc}", fix="correct the line it names") from None
    if too_deep(doc):
        raise BadInput(f"{where} is nested too deeply to be a tfsetup file", fix="give the right file")
    return doc


def load_json(path: Union[str, Path], what: str = "file") -> Any:
    return loads_json(read_text(path, what), f"{what} {path}")


def file_sha256(path: Union[str, Path]) -> str:
    """The sha256 of a file's bytes, read in blocks (a downloaded wheel or Python archive, to compare
    with the hash a lock pins: its content is judged, never obeyed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
