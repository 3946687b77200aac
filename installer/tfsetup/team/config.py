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

Strict: an unknown key or a bad value is an error naming the key and the file (exit 2).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple


from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.platforms import TEAM_PLATFORMS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10
    import tomli as tomllib

CONFIG_FILE = "tfsetup.toml"
LOCK_FILE = "tfsetup.lock"
KEYS = ("tensorflow", "python", "env", "cpu-only", "packages", "requirements", "index-url", "extra-index-urls",
        "find-links", "platforms")
_TF = re.compile(r"^\d+\.\d+(\.\d+)?$")
_PY = re.compile(r"^3\.\d+$")
_URL = re.compile(r"^(https?|file)://[^\s]+$")


class ConfigError(TfsetupError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_BAD_INPUT)


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

    def extra_requirements(self) -> List[str]:
        """`packages` plus the lines of the `requirements` file (comments and blanks dropped)."""
        lines = list(self.packages)
        if self.requirements:
            path = self.root / self.requirements
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{self.path}: 'requirements' = {self.requirements!r}: cannot read {path}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
            for number, raw in enumerate(text.splitlines(), 1):
                line = raw.split(" #", 1)[0].strip()
                if line and not line.startswith("#"):
                    lines.append(_requirement(line, f"{path}:{number}"))
        return lines


def _requirement(text: str, where: str) -> str:
    # Only plain PEP 508 requirements: no options ("-e", "--index-url ..."), which could smuggle
    # settings past the config, and no direct URLs, which a hash-pinned lock cannot cover.
    from packaging.requirements import InvalidRequirement, Requirement  # ~20 ms: only configs with packages

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ConfigError(f"{where}: {text!r} is not a requirement (name and version specifier): {exc}") from None
    if req.url:
        raise ConfigError(f"{where}: {text!r}: direct URL requirements are not supported; publish the wheel "
                          "to an index or a find-links directory")
    return str(req)


def find_config(start: Path) -> Optional[Path]:
    """The nearest tfsetup.toml, or pyproject.toml with [tool.tfsetup], from `start` upwards."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^\s*\[\s*tool\.tfsetup\s*\]", text, re.MULTILINE) is not None


def load_config(path: Path) -> ProjectConfig:
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
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
    platforms = strings("platforms")
    for name in platforms:
        if name not in TEAM_PLATFORMS:
            raise ConfigError(f"{where('platforms')}: unknown platform {name!r}; choose from {', '.join(TEAM_PLATFORMS)}")
    for key in ("extra-index-urls",):
        for url in strings(key):
            if not _URL.match(url):
                raise ConfigError(f"{where(key)}: {url!r} is not an http(s):// or file:// URL")
    env = string("env")
    if env is not None and ("\0" in env or env.strip() != env):
        raise ConfigError(f"{where('env')} = {env!r} is not a usable path")
    return ProjectConfig(
        path=path,
        tensorflow=string("tensorflow", _TF, "must look like 2.19 or 2.19.1"),
        python=string("python", _PY, "must look like 3.11"),
        env=env,
        cpu_only=cpu_only,
        packages=tuple(_requirement(p, where("packages")) for p in strings("packages")),
        requirements=string("requirements"),
        index_url=string("index-url", _URL, "must be an http(s):// or file:// URL"),
        extra_index_urls=strings("extra-index-urls"),
        find_links=strings("find-links"),
        platforms=platforms,
    )


def load_project(start: Path) -> Optional[ProjectConfig]:
    path = find_config(start)
    return load_config(path) if path else None
