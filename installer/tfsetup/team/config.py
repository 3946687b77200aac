"""The project config: `tfsetup.toml`, or `[tool.tfsetup]` in pyproject.toml, found from a directory upwards.

    [tool.tfsetup]                      # in tfsetup.toml the same keys sit at the top level
    tensorflow = "2.19"                 # like --tf
    python = "3.11"                     # like --python; also the Python of every lock section
    env = ".venv"                       # the env's path, relative to the config's directory
    cpu-only = false
    packages = ["pandas==2.2.3"]        # the team's extra packages, locked with the stack
    requirements = "requirements.txt"   # more extra packages, from a file (relative path)
    index-url = "https://pypi.org/simple"
    extra-index-urls = []
    find-links = ["wheelhouse"]         # directories (relative) or URLs
    platforms = ["macos-arm64", "linux-x86_64"]   # what `tfsetup lock` resolves for
    python-downloads = "auto"           # like --python-downloads: "never" uses only the host's Pythons
    managed-python = false              # like --managed-python: a uv-managed Python even where one is here
    python-mirror = "https://..."       # uv's --mirror for python-build-standalone archives (or file://)
    python-downloads-json-url = "..."   # uv's --python-downloads-json-url: the team's own list of builds

Strict: an unknown key or a bad value is an error naming the key and the file (exit 2).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tfsetup.credentials import expand, refuse_literal_secret
from tfsetup.errors import EXIT_BAD_INPUT, BadInput, TfsetupError
from tfsetup.inputs import MAX_BYTES, loads_toml
from tfsetup.platforms import TEAM_PLATFORMS
from tfsetup.trust import Untrusted, read_steering

CONFIG_FILE = "tfsetup.toml"
LOCK_FILE = "tfsetup.lock"
KEYS = ("tensorflow", "python", "env", "cpu-only", "packages", "requirements", "index-url", "extra-index-urls",
        "find-links", "platforms", "python-downloads", "managed-python", "python-mirror",
        "python-downloads-json-url")
_TF = re.compile(r"^\d+\.\d+(\.\d+)?$")
_PY = re.compile(r"^3\.\d+$")
_URL = re.compile(r"^(https?|file)://[^\s]+$")


class ConfigError(TfsetupError):
    def __init__(self, message: str, fix: Optional[str] = None) -> None:
        super().__init__(message, EXIT_BAD_INPUT, fix=fix or "correct the setting it names in that file "
                         "(or ignore the project with --no-project)")


@dataclass(frozen=True)
class ProjectConfig:
    path: Path  # the file the settings came from
    tensorflow: Optional[str] = None
    python: Optional[str] = None
    env: Optional[str] = None
    cpu_only: bool = False
    packages: Tuple[str, ...] = ()
    requirements: Optional[str] = None
    index_url: Optional[str] = None
    extra_index_urls: Tuple[str, ...] = ()
    find_links: Tuple[str, ...] = ()
    platforms: Tuple[str, ...] = ()
    python_downloads: Optional[str] = None
    managed_python: bool = False
    python_mirror: Optional[str] = None
    python_downloads_json_url: Optional[str] = None

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    def env_path(self) -> Path:
        return self.root / (self.env or ".venv")

    def index_urls(self) -> List[str]:
        return ([self.index_url] if self.index_url else []) + list(self.extra_index_urls)

    def find_links_resolved(self) -> List[str]:
        """Relative directories are relative to the config file, like every path in it."""
        return [link if _URL.match(link) else str((self.root / link).resolve()) for link in self.find_links]

    def check_find_links(self) -> None:
        """A local find-links directory must exist (like --find-links): checked before an install, a
        lock or a prove uses it, never at load (`tfsetup wheelhouse DIR` creates it). URLs are not checked."""
        key = ("tool.tfsetup." if self.path.name == "pyproject.toml" else "") + "find-links"
        for link, resolved in zip(self.find_links, self.find_links_resolved()):
            if not _URL.match(link) and not os.path.exists(resolved):
                raise ConfigError(f"{self.path}: '{key}' {link!r} does not exist ({resolved})",
                                  fix=f"create it with `tfsetup wheelhouse {resolved}`, or correct '{key}' "
                                      "in that file (or ignore the project with --no-project)")

    def extra_requirements(self) -> List[str]:
        """`packages` plus the lines of the `requirements` file (comments and blanks dropped)."""
        lines = list(self.packages)
        if self.requirements:
            path = self.root / self.requirements
            try:
                text = read_steering(path, "project file")  # steers what is locked: trust-checked
            except Untrusted:
                raise
            except BadInput as exc:
                raise ConfigError(f"{self.path}: 'requirements' = {self.requirements!r}: {exc.message}") from None
            for number, raw in enumerate(text.splitlines(), 1):
                line = raw.split(" #", 1)[0].strip()
                if line and not line.startswith("#"):
                    lines.append(_requirement(line, f"{path}:{number}"))
        return lines


def _requirement(text: str, where: str) -> str:
    # Only plain PEP 508 requirements: no options ("-e", "--index-url ..."), which could smuggle
    # settings past the config, and no direct URLs, which a hash-pinned lock cannot cover.
    # ~50 ms to import (measured), and only a config that lists packages needs it
    from packaging.requirements import InvalidRequirement, Requirement  # lazy: start-up time

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ConfigError(f"{where}: {text!r} is not a requirement (name and version specifier): {exc}") from None
    if req.url:
        raise ConfigError(f"{where}: {text!r}: direct URL requirements are not supported; publish the wheel "
                          "to an index or a find-links directory")
    return str(req)


def find_config(start: Path) -> Optional[Path]:
    """The nearest tfsetup.toml, or pyproject.toml with [tool.tfsetup], from `start` upwards.

    The search stops at the repository root (a directory holding .git) or at $HOME, like git's own
    discovery. A file found is obeyed only when it is trusted: load_config, read_team_lock and the
    `requirements` file are read through trust.read_steering (anyone who can plant a tfsetup.toml or
    a tfsetup.lock in a parent directory could otherwise point installs at their own packages)."""
    here = start.resolve()
    home = Path(os.path.expanduser("~")).resolve() if os.environ.get("HOME") or os.name == "nt" else None
    for folder in (here, *here.parents):
        for candidate in (folder / CONFIG_FILE, folder / "pyproject.toml"):
            if candidate.name == CONFIG_FILE and candidate.exists() and not candidate.is_file():
                raise ConfigError(f"{candidate} is not a regular file", fix="remove it, or run with --no-project")
            if not candidate.is_file() or (candidate.name == "pyproject.toml" and not _has_tool_table(candidate)):
                continue
            return candidate
        if folder == home or (folder / ".git").exists():
            break
    return None


def _has_tool_table(pyproject: Path) -> bool:
    # Read before any trust check, only to decide whether this pyproject is a tfsetup config at all
    # (a shared parent's pyproject without the table must neither apply nor block); what it says is
    # obeyed only after load_config reads it again through the trusted opener.
    try:
        with open(pyproject, "rb") as handle:
            text = handle.read(MAX_BYTES).decode("utf-8", "replace")
    except OSError:
        return False
    return re.search(r"^\s*\[\s*tool\.tfsetup\s*\]", text, re.MULTILINE) is not None


def load_config(path: Path) -> ProjectConfig:
    """The config in `path` (found by find_config, or named in an env's record), trust-checked."""
    try:
        doc = loads_toml(read_steering(path, "project file"), str(path))
    except Untrusted:
        raise
    except BadInput as exc:
        raise ConfigError(exc.message, fix=exc.fix) from None
    if path.name == "pyproject.toml":
        table = doc.get("tool", {}).get("tfsetup")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.tfsetup] must be a table")
        prefix = "tool.tfsetup."
    else:
        table, prefix = doc, ""
    return config_from_table(table, path, prefix)


def config_from_table(table: Dict[str, Any], path: Path, prefix: str = "") -> ProjectConfig:
    def where(key: str) -> str:
        return f"{path}: '{prefix}{key}'"

    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where(unknown[0])} is not a known setting; known: {', '.join(KEYS)}")

    def string(key: str, pattern: Optional["re.Pattern[str]"] = None, hint: str = "") -> Optional[str]:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # python = 3.11 unquoted in TOML
            raise ConfigError(f"{where(key)} must be a quoted string like \"3.11\", not the number {value!r} "
                              "(TOML reads a bare 3.10 as 3.1)")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where(key)} must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{where(key)} = {value!r}: {hint}")
        return value

    def strings(key: str) -> Tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{where(key)} must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    cpu_only = table.get("cpu-only", False)
    if not isinstance(cpu_only, bool):
        raise ConfigError(f"{where('cpu-only')} must be true or false, got {cpu_only!r}")
    managed_python = table.get("managed-python", False)
    if not isinstance(managed_python, bool):
        raise ConfigError(f"{where('managed-python')} must be true or false, got {managed_python!r}")
    platforms = strings("platforms")
    for name in platforms:
        if name not in TEAM_PLATFORMS:
            raise ConfigError(f"{where('platforms')}: unknown platform {name!r}; choose from {', '.join(TEAM_PLATFORMS)}")
    for key in ("extra-index-urls",):
        for url in strings(key):
            if not _URL.match(url):
                raise ConfigError(f"{where(key)}: {url!r} is not an http(s):// or file:// URL")
    index_url = string("index-url", _URL, "must be an http(s):// or file:// URL")
    index_url = _secret_free(index_url, where("index-url")) if index_url else None
    extra_urls = tuple(_secret_free(u, where("extra-index-urls")) for u in strings("extra-index-urls"))
    find_links = tuple(_secret_free(u, where("find-links")) for u in strings("find-links"))
    env = string("env")
    if env is not None and ("\0" in env or env.strip() != env):
        raise ConfigError(f"{where('env')} = {env!r} is not a usable path")
    mirror = string("python-mirror", _URL, "must be an http(s):// or file:// URL")
    return ProjectConfig(
        path=path,
        tensorflow=string("tensorflow", _TF, "must look like 2.19 or 2.19.1"),
        python=string("python", _PY, "must look like 3.11"),
        env=env,
        cpu_only=cpu_only,
        packages=tuple(_requirement(p, where("packages")) for p in strings("packages")),
        requirements=string("requirements"),
        index_url=index_url,
        extra_index_urls=extra_urls,
        find_links=find_links,
        platforms=platforms,
        python_downloads=string("python-downloads", re.compile(r"^(auto|never)$"), "must be \"auto\" or \"never\""),
        managed_python=managed_python,
        python_mirror=_python_url(mirror and _secret_free(mirror, where("python-mirror")), path),
        python_downloads_json_url=_python_url(string("python-downloads-json-url"), path),
    )


def _python_url(value: Optional[str], path: Path) -> Optional[str]:
    """A file path relative to the config file, like every path in it; URLs as they are."""
    if value is None or _URL.match(value):
        return value
    return str((path.parent / value).resolve())


def _secret_free(url: str, where: str) -> str:
    """A committed file names credentials only as `${VAR}`: refuse a literal password, expand the rest."""
    try:
        refuse_literal_secret(url, where)
        return expand(url, where)
    except BadInput as exc:
        raise ConfigError(exc.message, fix=exc.fix) from None


def load_project(start: Path) -> Optional[ProjectConfig]:
    path = find_config(start)
    return load_config(path) if path else None
