"""PEP 751 `pylock.toml` out of a team lock: the standard lock file other tools read (uv installs it with
`uv pip install -r pylock.<name>.toml`; pdm and pipenv read it; scanners audit it).

One file per platform section (`pylock.macos-arm64-py311.toml`), not one multi-environment file: a
section is already one platform x one Python, resolved on its own, and a single file would need a
marker on every package to keep, say, tensorflow-metal off Linux. PEP 751 names such files
`pylock.<name>.toml` (`pylock.macos-arm64-py311.toml`). Each file lists only wheels whose sha256 is one the section pins, and records the
section's digest under `[tool.tfsetup]`, so `tfsetup lock --check` sees when it no longer matches.

uv fills in what tfsetup's lock lacks, each wheel's URL and size, from the index (`uv pip compile
--format pylock.toml --no-deps` over the pinned, hashed requirements): the pins and hashes stay
tfsetup's, and any wheel uv names that the section does not pin is dropped.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.inputs import loads_toml, read_text
from tfsetup.recipes import Recipe, normalize_name
from tfsetup.team.lockfile import LockSection, TeamLock

PYLOCK_GLOB = "pylock.*.toml"

# The environment marker of a team platform: other tools refuse the file on another machine.
PLATFORM_MARKERS = {
    "macos-arm64": "sys_platform == 'darwin' and platform_machine == 'arm64'",
    "macos-x86_64": "sys_platform == 'darwin' and platform_machine == 'x86_64'",
    "linux-x86_64": "sys_platform == 'linux' and platform_machine == 'x86_64'",
    "linux-x86_64-cuda": "sys_platform == 'linux' and platform_machine == 'x86_64'",
    "linux-aarch64": "sys_platform == 'linux' and platform_machine == 'aarch64'",
    "windows-x86_64": "sys_platform == 'win32' and platform_machine == 'AMD64'",
}


def pylock_name(section: LockSection) -> str:
    """PEP 751: `pylock.<name>.toml` with no dot in the name (uv refuses one): py3.11 -> py311."""
    return f"pylock.{section.platform}-py{section.python.replace('.', '')}.toml"


def section_digest(section: LockSection) -> str:
    """What a pylock file was made from: the section's exact hash-pinned text."""
    return hashlib.sha256(section.requirements.encode("utf-8")).hexdigest()


def _hashes_by_package(requirements: str) -> Dict[str, Tuple[str, set]]:
    """normalized name -> (version, the sha256s the section allows)."""
    out: Dict[str, Tuple[str, set]] = {}
    name = ""
    for raw in requirements.splitlines():
        line = raw.strip().rstrip("\\").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash=sha256:"):
            out[name][1].add(line.split(":", 1)[1])
            continue
        pin = line.split(";")[0].strip()
        if "==" in pin:
            dist, version = pin.split("==", 1)
            name = normalize_name(dist.split("[")[0].strip())
            out[name] = (version.strip(), set())
    return out


@dataclass(frozen=True)
class PylockWheel:
    url: str
    sha256: str
    size: int


def pylock_packages(section: LockSection, uv_pylock: str) -> List[Tuple[str, str, List[PylockWheel]]]:
    """uv's pylock of the section's pins -> (name, version, wheels) with only the section's own hashes.
    Raises when uv's answer does not match the section (another version, or no pinned wheel left)."""
    allowed = _hashes_by_package(section.requirements)
    doc = loads_toml(uv_pylock, f"uv's pylock for {section.name}")
    packages: List[Tuple[str, str, List[PylockWheel]]] = []
    for package in doc.get("packages", []):
        name, version = normalize_name(str(package.get("name", ""))), str(package.get("version", ""))
        if name not in allowed:
            raise TfsetupError(f"uv's pylock for {section.name} names {name}, which the section does not pin")
        pinned_version, hashes = allowed.pop(name)
        if version != pinned_version:
            raise TfsetupError(f"uv's pylock for {section.name} has {name} {version}; the section pins "
                               f"{pinned_version}")
        wheels = [PylockWheel(str(w["url"]), str(w["hashes"]["sha256"]), int(w.get("size", 0)))
                  for w in package.get("wheels", []) if w.get("hashes", {}).get("sha256") in hashes]
        if not wheels:
            raise TfsetupError(f"no wheel of {name} {version} that uv found for {section.name} has a hash the "
                               "section pins", fix="run `tfsetup lock` again: the index changed its files")
        packages.append((name, version, wheels))
    if allowed:
        raise TfsetupError(f"uv's pylock for {section.name} lacks {', '.join(sorted(allowed))}")
    return packages


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string (same escapes)


def render_pylock(section: LockSection, packages: Sequence[Tuple[str, str, Sequence[PylockWheel]]],
                  created: datetime.date, origin: str = "") -> str:
    """The file's text (a small, fixed subset of TOML: tfsetup has no TOML writer and needs none).
    `origin`: what it was made from (default: the team lock's section)."""
    minor = section.python
    lines = [f"# generated by `tfsetup lock --format pylock` from {origin or section.name + ' of tfsetup.lock'}; "
             "do not edit",
             'lock-version = "1.0"',
             f"environments = [{_toml_str(PLATFORM_MARKERS.get(section.platform, 'True'))}]",
             f"requires-python = {_toml_str('==' + minor + '.*')}",
             'created-by = "tfsetup"', ""]
    for name, version, wheels in packages:
        lines += ["[[packages]]", f"name = {_toml_str(name)}", f"version = {_toml_str(version)}", "wheels = ["]
        lines += [f"  {{ url = {_toml_str(w.url)}, size = {w.size}, hashes = {{ sha256 = {_toml_str(w.sha256)} }} }},"
                  for w in wheels]
        lines += ["]", ""]
    lines += ["[tool.tfsetup]", f"section = {_toml_str(section.name)}", f"recipe = {_toml_str(section.recipe)}",
              f"requirements-sha256 = {_toml_str(section_digest(section))}",
              f"created = {_toml_str(created.isoformat())}", ""]
    return "\n".join(lines)


def recorded_digest(path: Path) -> str:
    """The section digest a pylock file says it was made from ("" when it has none or does not parse)."""
    try:
        doc = loads_toml(read_text(path, path.name, regular=True), path.name)
    except (OSError, TfsetupError):
        return ""
    tool = doc.get("tool", {}).get("tfsetup", {})
    return str(tool.get("requirements-sha256", "")) if isinstance(tool, dict) else ""


def stale_pylocks(lock: TeamLock, directory: Path) -> List[str]:
    """Why the pylock files beside the lock no longer match it (none written: nothing to say)."""
    present = {p.name: p for p in sorted(directory.glob(PYLOCK_GLOB))}
    if not present:
        return []
    reasons = []
    wanted = {pylock_name(s): s for s in lock.sections}
    for name, section in wanted.items():
        if name not in present:
            reasons.append(f"{name} is missing (the lock has {section.name}); run `tfsetup lock --format pylock`")
        elif recorded_digest(present[name]) != section_digest(section):
            reasons.append(f"{name} does not match {section.name} of {lock.path.name}; "
                           "run `tfsetup lock --format pylock`")
    for name in present:
        if name not in wanted:
            reasons.append(f"{name} has no section in {lock.path.name}; delete it or add the platform")
    return reasons


def write_pylocks(lock: TeamLock, directory: Path, export: Callable[[LockSection], str],
                  today: Callable[[], datetime.date] = datetime.date.today) -> List[Path]:
    """One pylock file per section (`export(section)` is uv's pylock of its pins); each written whole
    (temp file + rename), and files of sections the lock no longer has removed."""
    written = []
    for section in lock.sections:
        path = directory / pylock_name(section)
        _write(path, render_pylock(section, pylock_packages(section, export(section)), today()))
        written.append(path)
    for old in directory.glob(PYLOCK_GLOB):
        if old not in written and recorded_digest(old):  # only files tfsetup wrote
            old.unlink()
    return written


def _write(path: Path, text: str) -> None:
    """The file whole or not at all (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        if tmp.exists():
            tmp.unlink()
        raise TfsetupError(f"cannot write {path}: {exc.strerror or exc}") from None


def recipe_sections(recipe: Recipe, pythons: Sequence[str]) -> List[LockSection]:
    """A recipe's own locks (recipes/locks/<id>/py3.X.txt), one section each, to export like a team
    lock's sections. Exit 2 for a Python the recipe has no lock for."""
    sections = []
    for python in pythons:
        if python not in recipe.locks:
            raise TfsetupError(f"recipe {recipe.id} has no lock for Python {python}", EXIT_BAD_INPUT,
                               fix=f"choose one of {', '.join(sorted(recipe.locks))} (or leave --python out)")
        text = read_text(recipe.locks[python].path, "lock")
        sections.append(LockSection(platform=recipe.platform, python=python, recipe=recipe.id,
                                    python_platform=recipe.python_platform, inputs="", requirements=text))
    return sections


def recipe_pylock_name(section: LockSection) -> str:
    """`pylock.<recipe>-py<XY>.toml`, with no dot in the name (PEP 751; uv refuses one): tf2.21 -> tf2_21."""
    return f"pylock.{section.recipe.replace('.', '_')}-py{section.python.replace('.', '')}.toml"


def write_recipe_pylocks(sections: Sequence[LockSection], directory: Path, export: Callable[[LockSection], str],
                         today: Callable[[], datetime.date] = datetime.date.today) -> List[Path]:
    """One pylock file per recipe lock, in `directory`; other files there are left alone."""
    written = []
    for section in sections:
        path = directory / recipe_pylock_name(section)
        origin = f"recipes/locks/{section.recipe}/py{section.python}.txt"
        _write(path, render_pylock(section, pylock_packages(section, export(section)), today(), origin))
        written.append(path)
    return written
