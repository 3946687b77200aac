"""One lock for a mixed fleet: `tfsetup.lock`, a section per platform x Python, made by cross-resolution.

Each section is the recipe's stack plus the team's extra packages, resolved with hashes by
`uv pip compile --python-platform ... --python-version ...` (no machine of that kind needed). The
lock records a digest of its inputs, so `tfsetup lock --check` and `install` can tell, without the
network, that the config changed since the lock was made. A section whose Python is managed (the
config's `managed-python`) also pins the exact Python build, in a `[section.python_build]` table
(team/python_build.py); a lock without one loads as before.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tfsetup import child
from tfsetup.backends.hints import lock_fix
from tfsetup.backends.uv import find_uv
from tfsetup.credentials import strip
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE, BadInput, TfsetupError, index_unreachable
from tfsetup.inputs import loads_toml
from tfsetup.plan import recipe_rank, tf_matches
from tfsetup.recipes import Lock, Recipe, RecipeError, RecipeTable, parse_lock_text
from tfsetup.platforms import TEAM_PLATFORMS
from tfsetup.pythons import PythonBuild
from tfsetup.resolve import (INDEX_URL, ResolveError, compatible_tags, filter_hashes, parse_uv_output,
                             render_requirements, uv_compile, version_files)
from tfsetup.state import read_private, write_private
from tfsetup.team.config import ConfigError, ProjectConfig
from tfsetup.trust import Untrusted, read_steering

LOCK_VERSION = 1
SECTION_KEYS = ("platform", "python", "recipe", "python_platform", "inputs", "requirements")
PYTHON_BUILD = "python_build"  # the optional table of a section: PythonBuild.FIELDS, all strings


@dataclass(frozen=True)
class SectionSpec:
    """What one section is resolved from (pure: derived from the config and the recipes table)."""

    platform: str  # team platform name, e.g. "macos-arm64"
    python: str
    recipe: Recipe
    requirements: Tuple[str, ...]  # the resolver input: the recipe's lines + the team's extras

    def inputs(self, config: ProjectConfig) -> Dict[str, Any]:
        doc = {"platform": self.platform, "python": self.python, "recipe": self.recipe.id,
               # without userinfo: a rotated password does not make the lock stale
               "requirements": list(self.requirements), "index_urls": [strip(u) for u in config.index_urls()],
               "find_links": [strip(u) for u in config.find_links]}
        if config.managed_python:  # only then: the digests of every other lock stay as they were
            doc["managed_python"] = True
        return doc

    def digest(self, config: ProjectConfig) -> str:
        return _digest(self.inputs(config))


@dataclass(frozen=True)
class LockSection:
    platform: str
    python: str
    recipe: str
    python_platform: str
    inputs: str  # digest of SectionSpec.inputs
    requirements: str  # the hash-pinned requirements text, as uv wrote it
    python_build: Optional[PythonBuild] = None  # the exact managed Python, when the project's Python is managed

    @property
    def name(self) -> str:
        return f"{self.platform} py{self.python}"

    def pins(self) -> Dict[str, str]:
        return parse_lock_text(self.requirements, f"{LOCK_NAME} [{self.name}]")


@dataclass(frozen=True)
class TeamLock:
    path: Path
    inputs: str
    sections: Tuple[LockSection, ...]


LOCK_NAME = "tfsetup.lock"


def _digest(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# pure: which recipe and Python each team platform gets

def recipes_for(table: RecipeTable, platform: str, config: ProjectConfig) -> List[Recipe]:
    """The recipes a team platform may use, best first (the config's TF version, defaults first)."""
    host_platform, accelerator = TEAM_PLATFORMS[platform]
    if config.cpu_only:
        accelerator = "cpu"
    found = [r for r in table.recipes if r.platform == host_platform and r.accelerator == accelerator
             and r.status != "prerelease" and (config.tensorflow is None or tf_matches(r, config.tensorflow))]
    return sorted(found, key=recipe_rank)


def section_specs(table: RecipeTable, config: ProjectConfig, platforms: Sequence[str],
                  pythons: Sequence[str], extras: Sequence[str]) -> List[SectionSpec]:
    """A section per platform x Python. With no Python given: the newest every platform supports."""
    if not platforms:
        raise ConfigError(f"{config.path}: no platforms to lock; set 'platforms' (e.g. [\"macos-arm64\", "
                          "\"linux-x86_64\"]) or pass --platform")
    unknown = [p for p in platforms if p not in TEAM_PLATFORMS]
    if unknown:
        raise ConfigError(f"unknown platform {unknown[0]!r}; choose from {', '.join(TEAM_PLATFORMS)}")
    candidates = {}
    for platform in platforms:
        found = recipes_for(table, platform, config)
        if not found:
            tf = f"TensorFlow {config.tensorflow}" if config.tensorflow else "any TensorFlow"
            raise TfsetupError(f"no recipe for {platform} with {tf}"
                               + (" (cpu-only)" if config.cpu_only else ""), EXIT_NO_RECIPE,
                               fix="`tfsetup recipes --all` lists what exists")
        candidates[platform] = found
    if not pythons:
        common = None
        for found in candidates.values():
            supported = {py for r in found for py in r.pythons}
            common = supported if common is None else common & supported
        if not common:
            raise TfsetupError("no Python version is supported on every platform of this lock", EXIT_NO_RECIPE,
                               fix="set 'python' in the config, or lock the platforms separately with --python")
        pythons = [max(common, key=lambda v: int(v.split(".")[1]))]
    specs = []
    for platform in platforms:
        for python in pythons:
            recipe = next((r for r in candidates[platform] if python in r.pythons), None)
            if recipe is None:
                ids = ", ".join(f"{r.id} ({'/'.join(r.pythons)})" for r in candidates[platform])
                raise TfsetupError(f"no recipe for {platform} supports Python {python}: {ids}", EXIT_NO_RECIPE)
            specs.append(SectionSpec(platform, python, recipe, tuple(recipe.resolver_input()) + tuple(extras)))
    return specs


def lock_inputs_digest(config: ProjectConfig, specs: Sequence[SectionSpec]) -> str:
    return _digest(sorted(spec.digest(config) for spec in specs))


def stale_reasons(lock: TeamLock, config: ProjectConfig, specs: Sequence[SectionSpec]) -> List[str]:
    """Why the lock no longer matches the config (empty: up to date). Pure."""
    have = {(s.platform, s.python): s for s in lock.sections}
    reasons = []
    for spec in specs:
        section = have.pop((spec.platform, spec.python), None)
        if section is None:
            reasons.append(f"no section for {spec.platform} py{spec.python}")
        elif section.inputs != spec.digest(config):
            reasons.append(f"{section.name}: the config or recipe changed since it was locked")
    reasons.extend(f"{s.name}: no longer asked for by the config" for s in have.values())
    return reasons


Key = Tuple[str, str]  # (platform, python)


def _key(item: Any) -> Key:
    return (item.platform, item.python)


def extra_section_specs(table: RecipeTable, config: ProjectConfig, lock: TeamLock, known: Sequence[Key],
                        extras: Sequence[str]) -> Tuple[List[SectionSpec], List[str]]:
    """Specs for the lock's sections beyond `known` (sections added with `lock --platform/--python`), and
    why any of them can no longer be made (e.g. its recipe left the table)."""
    specs, problems = [], []
    for section in lock.sections:
        if _key(section) in known:
            continue
        try:
            specs += section_specs(table, config, [section.platform], [section.python], extras)
        except TfsetupError as exc:
            problems.append(f"{section.name}: {exc.message}")
    return specs, problems


@dataclass(frozen=True)
class LockUpdate:
    """What `tfsetup lock` writes: the sections in order, the ones to resolve, the texts kept as they are."""

    specs: List[SectionSpec]
    resolve: List[SectionSpec]
    kept: Dict[Key, str]
    notes: List[str]


def plan_lock_update(table: RecipeTable, config: ProjectConfig, asked: Sequence[SectionSpec],
                     config_specs: Sequence[SectionSpec], existing: Optional[TeamLock], explicit: bool,
                     extras: Sequence[str]) -> LockUpdate:
    """Pure. Without flags (`explicit` False) the config decides: exactly its sections, and every section
    of the existing lock that is not among them is named as dropped. With --platform/--python the asked
    sections are added, or replace theirs, and nothing else goes: the config's and the existing lock's
    other sections are kept (their text as it is when still up to date, else resolved again)."""
    if not explicit:
        dropped = [s.name for s in (existing.sections if existing else ()) if _key(s) not in {_key(a) for a in asked}]
        notes = [f"dropped {name} from {LOCK_NAME}: not in {config.path.name}'s platforms/python (add it there, "
                 "or lock it again with --platform/--python)" for name in dropped]
        return LockUpdate(list(asked), list(asked), {}, notes)
    by_key: Dict[Key, SectionSpec] = {}
    for spec in config_specs:
        by_key.setdefault(_key(spec), spec)
    notes: List[str] = []
    if existing is not None:
        more, problems = extra_section_specs(table, config, existing, list(by_key), extras)
        for spec in more:
            by_key.setdefault(_key(spec), spec)
        notes += [f"dropped {problem}" for problem in problems]
    asked_keys = {_key(a) for a in asked}
    for spec in asked:
        by_key[_key(spec)] = spec  # replaces the section in place, or is added at the end
    have = {_key(s): s for s in (existing.sections if existing else ())}
    kept: Dict[Key, str] = {}
    resolve: List[SectionSpec] = []
    for key, spec in by_key.items():
        section = have.get(key)
        if key not in asked_keys and section is not None and section.inputs == spec.digest(config):
            kept[key] = section.requirements
            notes.append(f"kept {section.name} as it is (up to date)")
        else:
            resolve.append(spec)
            if key not in asked_keys:
                notes.append(f"resolving {spec.platform} py{spec.python} too: "
                             + ("the config's section is missing" if section is None else "it is out of date"))
    return LockUpdate(list(by_key.values()), resolve, kept, notes)


# ---------------------------------------------------------------------------------------------
# the file (read and write at the edge)

def render_lock(config: ProjectConfig, specs: Sequence[SectionSpec], resolved: Sequence[str],
                builds: Optional[Dict[Tuple[str, str], PythonBuild]] = None) -> str:
    out = [f"# generated by `tfsetup lock` from {config.path.name}; do not edit by hand.",
           "# `tfsetup install` in this project installs the section for its host, hashes enforced.",
           f"version = {LOCK_VERSION}",
           f'inputs = "{lock_inputs_digest(config, specs)}"', ""]
    for spec, text in zip(specs, resolved):
        if "'''" in text:  # cannot happen with uv's output; refuse rather than write broken TOML
            raise TfsetupError("unexpected quote sequence in the resolver output")
        out += ["[[section]]", f'platform = "{spec.platform}"', f'python = "{spec.python}"',
                f'recipe = "{spec.recipe.id}"', f'python_platform = "{spec.recipe.python_platform}"',
                f'inputs = "{spec.digest(config)}"', "requirements = '''", text.rstrip("\n"), "'''", ""]
        build = (builds or {}).get(_key(spec))
        if build is not None:
            out += [f"[section.{PYTHON_BUILD}]", *(f"{name} = {json.dumps(getattr(build, name))}"
                                                  for name in PythonBuild.FIELDS), ""]
    return "\n".join(out)


def read_team_lock(path: Path) -> TeamLock:
    def bad(message: str) -> TfsetupError:
        return TfsetupError(f"{path}: {message}", EXIT_BAD_INPUT, fix="run `tfsetup lock` to rewrite it")


    try:  # trust-checked (it decides what is installed) and bounded, like every steering file
        doc = loads_toml(read_steering(path, "team lock"), str(path))
    except Untrusted:
        raise
    except BadInput as exc:
        raise TfsetupError(exc.message, EXIT_BAD_INPUT, fix="run `tfsetup lock` to rewrite it") from None
    if doc.get("version") != LOCK_VERSION:
        raise bad(f"'version' must be {LOCK_VERSION}")
    unknown = sorted(set(doc) - {"version", "inputs", "section"})
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}")
    if not isinstance(doc.get("inputs"), str) or not isinstance(doc.get("section"), list):
        raise bad("needs 'inputs' (a string) and [[section]] tables")
    sections = []
    for i, raw in enumerate(doc["section"]):
        if not isinstance(raw, dict) or set(raw) - {PYTHON_BUILD} != set(SECTION_KEYS) \
                or not all(isinstance(raw[k], str) for k in SECTION_KEYS):
            raise bad(f"section[{i}] must have exactly the string keys {', '.join(SECTION_KEYS)} "
                      f"(and optionally a [section.{PYTHON_BUILD}] table)")
        if raw["platform"] not in TEAM_PLATFORMS:
            raise bad(f"section[{i}]: unknown platform {raw['platform']!r}")
        try:
            build = parse_python_build(raw.get(PYTHON_BUILD))
        except ValueError as exc:
            raise bad(f"section[{i}].{PYTHON_BUILD}: {exc}") from None
        if build is not None and not build.version.startswith(raw["python"] + "."):
            raise bad(f"section[{i}].{PYTHON_BUILD}: Python {build.version} is not a {raw['python']}")
        section = LockSection(**{k: raw[k] for k in SECTION_KEYS}, python_build=build)
        try:
            section.pins()
        except RecipeError as exc:
            raise bad(str(exc)) from None
        sections.append(section)
    return TeamLock(path=path, inputs=doc["inputs"], sections=tuple(sections))


def parse_python_build(raw: Any) -> Optional[PythonBuild]:
    """A section's [section.python_build] table (None when absent); ValueError saying what is wrong. Pure."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != set(PythonBuild.FIELDS) \
            or not all(isinstance(raw[k], str) and raw[k] for k in PythonBuild.FIELDS):
        raise ValueError(f"must have exactly the non-empty string keys {', '.join(PythonBuild.FIELDS)}")
    if not re.match(r"^[0-9a-f]{64}$", raw["sha256"]):
        raise ValueError(f"sha256 {raw['sha256']!r} is not 64 lowercase hex digits")
    parts = raw["key"].split("-")
    if len(parts) != 5 or parts[0] != "cpython" or parts[1] != raw["version"] \
            or not re.match(r"^3\.\d+\.\d+$", raw["version"]):
        raise ValueError(f"key {raw['key']!r} is not uv's key of CPython {raw['version']} "
                         "(cpython-X.Y.Z-os-arch-libc)")
    return PythonBuild(**{k: raw[k] for k in PythonBuild.FIELDS})


def materialize(section: LockSection, directory: Path) -> Lock:
    """Write a section as a requirements file uv/pip can install with --require-hashes."""
    data = section.requirements.rstrip("\n").encode() + b"\n"
    digest = hashlib.sha256(data).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest[:16]}.txt"
    if read_private(path, len(data)) != data:  # never through a link; rewritten when it differs
        write_private(path, data)
    return Lock(path=str(path), pins=section.pins(), digest=digest)


def host_sections(lock: TeamLock, host_platform: str) -> List[LockSection]:
    return [s for s in lock.sections if TEAM_PLATFORMS[s.platform][0] == host_platform]


def describe(lock: TeamLock) -> str:
    return ", ".join(s.name for s in lock.sections) or "none"


def resolve_sections(config: ProjectConfig, specs: Sequence[SectionSpec], uv: Optional[str] = None,
                     progress=None) -> List[str]:
    """Cross-resolve every section with hashes (network: the configured index or PyPI)."""
    uv = uv or find_uv()
    index_urls = config.index_urls() or [INDEX_URL]

    def one(spec: SectionSpec) -> str:
        try:
            text = uv_compile(uv, spec.recipe.python_platform, spec.python, spec.requirements,
                              macos_target=spec.recipe.macos_target, index_urls=index_urls,
                              find_links=config.find_links_resolved())
        except ResolveError as exc:
            raise TfsetupError(f"cannot resolve {spec.platform} py{spec.python} ({spec.recipe.id}): "
                               + "\n  ".join(str(exc).splitlines()[-6:]), 4 if index_unreachable(str(exc)) else 1,
                               fix=lock_fix(str(exc), config.path.name)) from None
        tags = compatible_tags(spec.recipe.os, spec.recipe.machine, spec.python)
        entries = [(name, version, _platform_hashes(name, version, hashes, tags, index_urls))
                   for name, version, hashes in parse_uv_output(text)]
        if progress:
            progress(f"resolved {spec.platform} py{spec.python}")
        return render_requirements(entries)

    return child.map_in_threads(one, specs, 4)  # a Ctrl-C stops the uv compiles still running


def _platform_hashes(name: str, version: str, hashes: List[str], tags: Any, index_urls: Sequence[str]) -> List[str]:
    """uv lists the hash of every file of a version; keep those of wheels this platform can install.

    A package the listings do not show (a find-links wheel, an index without PEP 691) keeps all of
    uv's hashes: still pinned, only longer.
    """
    for index in index_urls:
        try:
            kept = [h for h in filter_hashes(tags, version_files(name, version, index)) if h in set(hashes)]
        except ResolveError:
            continue
        if kept:
            return kept
    return hashes
