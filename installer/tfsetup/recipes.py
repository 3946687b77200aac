"""The recipes table: load and validate recipes/recipes.toml and the locks filed beside it.

Reading files happens here (the edge); what comes out is plain, frozen data for the pure planner.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from tfsetup.errors import BadInput
from tfsetup.inputs import loads_toml, present, read_bytes
from tfsetup.platforms import UV_PLATFORMS, platform_id, resolve_target, uv_python_platform

SCHEMA_VERSION = 1
ACCELERATORS = ("metal", "cuda", "cpu")
STATUSES = ("stable", "legacy", "prerelease")
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tensorflow-gpu",
                    "tf-nightly")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PY = re.compile(r"^3\.\d+$")


class RecipeError(BadInput):
    """The recipes file (or a lock) is malformed; the message names the file and key."""


@dataclass(frozen=True)
class Lock:
    path: str
    pins: Dict[str, str]  # normalized name -> exact version
    digest: str  # sha256 of the file's bytes


@dataclass(frozen=True)
class Recipe:
    id: str
    os: str
    machine: str
    accelerator: str
    distribution: str
    tensorflow: str
    pythons: Tuple[str, ...]
    default: bool
    status: str
    summary: str
    notes: str
    sources: Tuple[str, ...]
    extras: Tuple[str, ...] = ()
    plugin: Optional[str] = None
    plugin_version: Optional[str] = None
    requirements: Tuple[str, ...] = ()
    min_os: Optional[str] = None
    min_glibc: Optional[str] = None
    requires_avx: bool = False
    min_nvidia_driver: Optional[str] = None
    keras: Optional[int] = None  # the Keras major `tf.keras` is in this env (2 or 3)
    keras_package: Optional[str] = None  # the distribution that provides it: keras, tf-keras, keras-nightly
    env: Dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # must be set to use the env
    warnings: Tuple[str, ...] = ()  # caveats the plan shows when this recipe is chosen
    security_notes: Tuple[str, ...] = ()  # known advisories on pins this lock cannot move past
    locks: Dict[str, Lock] = field(default_factory=dict, compare=False, hash=False)  # python minor -> lock

    @property
    def platform(self) -> str:
        return platform_id(self.os, self.machine)

    @property
    def tf_version(self) -> Version:
        return Version(self.tensorflow)

    @property
    def tf_minor(self) -> str:
        return ".".join(self.tensorflow.split(".")[:2])

    @property
    def python_platform(self) -> str:
        """The `uv --python-platform` value the locks are resolved for."""
        return uv_python_platform(self.os, self.machine, self.min_glibc)

    @property
    def macos_target(self) -> Optional[str]:
        """MACOSX_DEPLOYMENT_TARGET for resolving: the oldest macOS the recipe supports."""
        return resolve_target(self.min_os, self.machine) if self.os == "macos" else None

    def resolver_input(self) -> List[str]:
        """The requirement lines the lock is resolved from."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        lines = [f"{self.distribution}{extras}=={self.tensorflow}"]
        if self.plugin:
            lines.append(f"{self.plugin}=={self.plugin_version}")
        lines.extend(self.requirements)
        return lines

    def lock_relpath(self, python: str) -> str:
        return f"locks/{self.id}/py{python}.txt"


@dataclass(frozen=True)
class Incompatible:
    id: str
    finding: str
    when: Dict[str, SpecifierSet]
    signatures: Tuple[str, ...]
    message: str
    fix: str
    sources: Tuple[str, ...]
    os: Optional[str] = None
    severity: str = "error"  # error | warning | info


@dataclass(frozen=True)
class RecipeTable:
    recipes: Tuple[Recipe, ...]
    incompatible: Tuple[Incompatible, ...]
    path: str

    def by_id(self, recipe_id: str) -> Optional[Recipe]:
        return next((r for r in self.recipes if r.id == recipe_id), None)


# ---------------------------------------------------------------------------------------------
# validation helpers: every error names the file and the key

def _get(doc: Mapping[str, Any], key: str, kind: Any, where: str, default: Any = ...) -> Any:
    if key not in doc:
        if default is ...:
            raise RecipeError(f"{where}: missing key '{key}'")
        return default
    value = doc[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecipeError(f"{where}: '{key}' must be {expected}, got {value!r}")
    return value


def _str_tuple(doc: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Tuple[str, ...]:
    items = _get(doc, key, list, where, default)
    if not all(isinstance(i, str) and i for i in items):
        raise RecipeError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(items)


def _version(value: str, key: str, where: str) -> str:
    try:
        Version(value)
    except InvalidVersion:
        raise RecipeError(f"{where}: '{key}' is not a version: {value!r}") from None
    return value


def _optional_version(doc: Mapping[str, Any], key: str, where: str) -> Optional[str]:
    value = _get(doc, key, str, where, None)
    return None if value is None else _version(value, key, where)


def _check_keys(doc: Mapping[str, Any], allowed: Tuple[str, ...], where: str) -> None:
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


RECIPE_KEYS = ("id", "os", "machine", "accelerator", "distribution", "tensorflow", "extras", "plugin",
               "plugin_version", "requirements", "pythons", "min_os", "min_glibc", "requires_avx",
               "min_nvidia_driver", "default", "status", "summary", "notes", "sources",
               "keras", "keras_package", "env", "warnings", "security_notes")
INCOMPATIBLE_KEYS = ("id", "finding", "os", "when", "signatures", "message", "fix", "sources", "severity")
SEVERITIES = ("error", "warning", "info")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _recipe(doc: Any, where: str) -> Recipe:
    if not isinstance(doc, dict):
        raise RecipeError(f"{where}: must be a table")
    _check_keys(doc, RECIPE_KEYS, where)
    rid = _get(doc, "id", str, where)
    if not _ID.match(rid):
        raise RecipeError(f"{where}: id {rid!r} must be lowercase letters, digits, '.', '_' and '-'")
    where = f"{where} ({rid})"
    os_name = _get(doc, "os", str, where)
    machine = _get(doc, "machine", str, where)
    if platform_id(os_name, machine) not in UV_PLATFORMS:
        raise RecipeError(f"{where}: no platform {os_name}-{machine}; known: {', '.join(UV_PLATFORMS)}")
    accelerator = _get(doc, "accelerator", str, where)
    if accelerator not in ACCELERATORS:
        raise RecipeError(f"{where}: 'accelerator' must be one of {', '.join(ACCELERATORS)}")
    distribution = _get(doc, "distribution", str, where)
    if distribution not in TF_DISTRIBUTIONS:
        raise RecipeError(f"{where}: 'distribution' must be one of {', '.join(TF_DISTRIBUTIONS)}")
    status = _get(doc, "status", str, where, "stable")
    if status not in STATUSES:
        raise RecipeError(f"{where}: 'status' must be one of {', '.join(STATUSES)}")
    pythons = _str_tuple(doc, "pythons", where)
    bad = [p for p in pythons if not _PY.match(p)]
    if bad or not pythons:
        raise RecipeError(f"{where}: 'pythons' must be a non-empty list like [\"3.11\", \"3.12\"], got {bad or '[]'}")
    plugin = _get(doc, "plugin", str, where, None)
    plugin_version = _get(doc, "plugin_version", str, where, None)
    if (plugin is None) != (plugin_version is None):
        raise RecipeError(f"{where}: 'plugin' and 'plugin_version' go together")
    requirements = _str_tuple(doc, "requirements", where, ())
    sources = _str_tuple(doc, "sources", where)
    if not sources:
        raise RecipeError(f"{where}: 'sources' must name at least one source")
    keras = _get(doc, "keras", int, where, None)
    if keras not in (None, 2, 3):
        raise RecipeError(f"{where}: 'keras' must be 2 or 3")
    env = _get(doc, "env", dict, where, {})
    if not all(isinstance(k, str) and _ENV_NAME.match(k) and isinstance(v, str) for k, v in env.items()):
        raise RecipeError(f"{where}: 'env' must map UPPER_CASE variable names to strings")
    return Recipe(
        id=rid, os=os_name, machine=machine, accelerator=accelerator, distribution=distribution,
        tensorflow=_version(_get(doc, "tensorflow", str, where), "tensorflow", where),
        extras=_str_tuple(doc, "extras", where, ()),
        plugin=plugin,
        plugin_version=_version(plugin_version, "plugin_version", where) if plugin_version else None,
        requirements=requirements,
        pythons=pythons,
        min_os=_optional_version(doc, "min_os", where),
        min_glibc=_optional_version(doc, "min_glibc", where),
        requires_avx=_get(doc, "requires_avx", bool, where, False),
        min_nvidia_driver=_optional_version(doc, "min_nvidia_driver", where),
        keras=keras, keras_package=_get(doc, "keras_package", str, where, None), env=dict(env),
        warnings=_str_tuple(doc, "warnings", where, ()),
        security_notes=_str_tuple(doc, "security_notes", where, ()),
        default=_get(doc, "default", bool, where, False),
        status=status,
        summary=_get(doc, "summary", str, where, ""),
        notes=_get(doc, "notes", str, where, ""),
        sources=sources,
    )


def _incompatible(doc: Any, where: str) -> Incompatible:
    if not isinstance(doc, dict):
        raise RecipeError(f"{where}: must be a table")
    _check_keys(doc, INCOMPATIBLE_KEYS, where)
    iid = _get(doc, "id", str, where)
    where = f"{where} ({iid})"
    severity = _get(doc, "severity", str, where, "error")
    if severity not in SEVERITIES:
        raise RecipeError(f"{where}: 'severity' must be one of {', '.join(SEVERITIES)}")
    when_doc = _get(doc, "when", dict, where, {})
    when: Dict[str, SpecifierSet] = {}
    for name, spec in when_doc.items():
        if not isinstance(spec, str):
            raise RecipeError(f"{where}: when.{name} must be a version specifier string")
        try:
            when[normalize_name(name)] = SpecifierSet(spec)
        except InvalidSpecifier:
            raise RecipeError(f"{where}: when.{name} is not a version specifier: {spec!r}") from None
    return Incompatible(
        id=iid, finding=_get(doc, "finding", str, where), when=when,
        signatures=_str_tuple(doc, "signatures", where, ()),
        message=_get(doc, "message", str, where), fix=_get(doc, "fix", str, where),
        sources=_str_tuple(doc, "sources", where), os=_get(doc, "os", str, where, None), severity=severity,
    )


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def parse_lock_text(text: str, where: str) -> Dict[str, str]:
    """name -> version from a `uv pip compile --generate-hashes` lock; every package must be pinned."""
    pins: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("--hash"):
            continue
        match = _PIN.match(line)
        if not match:
            raise RecipeError(f"{where}: not a pinned requirement: {line[:80]!r}")
        pins[normalize_name(match.group(1))] = match.group(3)
    if not pins:
        raise RecipeError(f"{where}: lock is empty")
    if "--hash=" not in text:
        raise RecipeError(f"{where}: lock has no hashes; regenerate it with scripts/lock_recipes.py")
    return pins


def read_lock(path: Path) -> Lock:
    data = read_bytes(path, "lock", regular=True)  # a link to /dev/zero, a FIFO, a directory: exit 2, named
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not UTF-8 text") from None
    return Lock(path=str(path), pins=parse_lock_text(text, str(path)), digest=hashlib.sha256(data).hexdigest())


def default_recipes_path() -> Path:
    """recipes.toml inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "recipes" / "recipes.toml", here.parent.parent / "recipes" / "recipes.toml"):
        if candidate.is_file():
            return candidate
    raise RecipeError("the bundled recipes table is missing; reinstall tfsetup")


def load_recipes(path: Optional[Path] = None) -> RecipeTable:
    """Load, validate and attach locks. Locks are read lazily-cheap: only their pins and digest."""
    path = Path(path) if path else default_recipes_path()
    try:  # bounded: a huge file, /dev/zero or deep nesting is one clear error
        raw = read_bytes(path, "recipes file")
        doc = loads_toml(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path} is not valid TOML: {exc}") from None
    except BadInput as exc:
        raise RecipeError(exc.message) from None
    where = str(path)
    _check_keys(doc, ("schema", "recipe", "incompatible"), where)
    if "schema" not in doc:
        raise RecipeError(f"{where}: missing key 'schema' (schema = {SCHEMA_VERSION} at the top)")
    if doc.get("schema") != SCHEMA_VERSION:
        raise RecipeError(f"{where}: 'schema' must be {SCHEMA_VERSION}")
    recipe_docs = _get(doc, "recipe", list, where)
    recipes = [_recipe(r, f"{where}: recipe[{i}]") for i, r in enumerate(recipe_docs)]
    seen = set()
    for r in recipes:
        if r.id in seen:
            raise RecipeError(f"{where}: duplicate recipe id {r.id!r}")
        seen.add(r.id)
    defaults: Dict[Tuple[str, str], str] = {}
    for r in recipes:
        if r.default:
            key = (r.platform, r.accelerator)
            if key in defaults:
                raise RecipeError(f"{where}: two defaults for {key[0]} {key[1]}: {defaults[key]} and {r.id}")
            defaults[key] = r.id
    for r in recipes:
        for py in r.pythons:
            lock_path = path.parent / r.lock_relpath(py)
            if present(lock_path):  # there but unusable is bad input (exit 2), not "no lock" (exit 3)
                r.locks[py] = read_lock(lock_path)
    incompatible = [_incompatible(d, f"{where}: incompatible[{i}]")
                    for i, d in enumerate(_get(doc, "incompatible", list, where, []))]
    return RecipeTable(recipes=tuple(recipes), incompatible=tuple(incompatible), path=str(path))
