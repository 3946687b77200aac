"""What is proven, checked as input (exit 2): exact pins, a Python minor, an env's site-packages; and
the recipe a set of pins (or an env's versions) is."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.recipes import Recipe, RecipeTable, normalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)$")
_PY = re.compile(r"^3\.\d+$")


def check_pins(pins: Sequence[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for pin in pins:
        m = _PIN.match(pin.strip())
        if not m:
            raise TfsetupError(f"{pin!r} is not an exact pin", EXIT_BAD_INPUT,
                               fix="give NAME==VERSION, e.g. tensorflow==2.19.1 tensorflow-metal==1.2.0")
        out[normalize_name(m.group(1))] = m.group(2)
    return out


def check_python(value: Optional[str]) -> str:
    if value is None or not _PY.match(value):
        raise TfsetupError("proving pins needs --python X.Y" if value is None else
                           f"--python {value!r} is not a Python minor version", EXIT_BAD_INPUT,
                           fix="e.g. --python 3.11")
    return value


def installed(site: Path) -> Dict[str, str]:
    """name -> version of the distributions in a site-packages (or --target) directory."""
    out: Dict[str, str] = {}
    for info in sorted(site.glob("*.dist-info")):
        name, _, version = info.name[:-len(".dist-info")].partition("-")
        if version:
            out[normalize_name(name)] = version
    return out


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


def recipe_for_pins(table: RecipeTable, platform: str, pins: Dict[str, str]) -> Optional[Recipe]:
    """The recipe whose TensorFlow and plug-in are exactly these pins (None when no row is)."""
    for r in table.recipes:
        if r.platform != platform or pins.get(r.distribution) != r.tensorflow:
            continue
        if (r.plugin is None) == ("tensorflow-metal" not in pins) and \
                (r.plugin is None or pins.get(r.plugin) == r.plugin_version):
            return r
    return None
