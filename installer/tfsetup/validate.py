"""Option values checked before any work: each bad one is one BadInput (exit 2) with the fix.

Numbers must be finite and in range (nan, inf and negatives are refused); an env PATH must be valid
UTF-8, must not start with '-' (an engine would read it as an option) and must not lie under /proc,
/sys or /dev (kernel interfaces, not directories to build an env in); a --find-links directory must
exist; a file only read (--host-file) must be UTF-8 and not look like an option.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence

from tfsetup.errors import BadInput

SYSTEM_TREES = ("/proc", "/sys", "/dev")


def seconds(value: float, option: str, most: float = 7 * 24 * 3600.0) -> float:
    if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value) or not 0 < value <= most:
        raise BadInput(f"{option} must be a positive number of seconds up to {most:g}, not {value!r}",
                       fix=f"give a positive number, e.g. {option} 600")
    return float(value)


def text(value: str, option: str) -> str:
    """Printable UTF-8 text (a path or a name given on the command line)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"{option} {value.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8",
                       fix="rename it, or give a path made of UTF-8 characters") from None
    if "\0" in value or any(ord(c) < 32 for c in value):
        raise BadInput(f"{option} {value!r} contains control characters", fix="give a plain name or path")
    return value


def env_path(path: Optional[Path], option: str = "PATH") -> None:
    if path is None:
        return
    raw = text(str(path), option)
    if not raw.strip():
        raise BadInput(f"{option} is empty", fix="give the directory of the environment, e.g. .venv")
    if Path(raw).name.startswith("-"):  # engines get the staging dir beside it by name: any '-name' is refused
        raise BadInput(f"{option} {raw!r} starts with '-' and would be read as an option",
                       fix="choose a name that does not start with '-'")
    real = os.path.realpath(raw)
    for tree in SYSTEM_TREES:
        if real == tree or real.startswith(tree + "/"):
            raise BadInput(f"{option} {raw!r} is under {tree}, a kernel interface, not a place for an environment",
                           fix="give a directory in your home or project, e.g. ./.venv")


def input_file(path: Optional[Path], option: str) -> None:
    """A file tfsetup only reads (--host-file): UTF-8, and not a name an engine or a shell would take for
    an option; `-` is stdin, and /dev/stdin or a `<(...)` pipe under /dev/fd are fine to read."""
    if path is None:
        return
    raw = text(str(path), option)
    if not raw.strip():
        raise BadInput(f"{option} is empty", fix="give the path of a file, or - for stdin")
    if raw != "-" and raw.startswith("-"):
        raise BadInput(f"{option} {raw!r} starts with '-' and would be read as an option",
                       fix=f"give its full path: {os.path.abspath(raw)}")


def find_links(links: Sequence[str]) -> None:
    for link in links:
        text(link, "--find-links")
        if "://" in link:
            continue
        if link.startswith("-"):
            raise BadInput(f"--find-links {link!r} starts with '-' and would be read as an option",
                           fix=f"write it as ./{link}")
        if not os.path.exists(link):
            raise BadInput(f"--find-links {link!r} does not exist",
                           fix="give the wheelhouse directory made by `tfsetup wheelhouse DIR`")
