"""What the user asked for: flags over the project config (tfsetup.toml / [tool.tfsetup]) over the
defaults, the team lock when the project has one, and the one rule for "the env you mean".

Used by every command that plans (plan, install, prove, wheelhouse) or looks at an env without a
PATH (verify, doctor, add). Pure but for `load_project` and `default_env`'s look at the disk.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from tfsetup.backends.base import PackageSource, PythonSource
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.host.facts import HostFacts
from tfsetup.inputs import present
from tfsetup.plan import Plan, PlanRequest, plan
from tfsetup.recipes import TF_DISTRIBUTIONS, RecipeTable
from tfsetup.team.config import ProjectConfig, load_config
from tfsetup.team.config import load_project as find_project


@dataclass(frozen=True)
class Flags:
    """What the user typed; None/False/empty means 'not given' (the config may then decide)."""

    tf: Optional[str] = None
    python: Optional[str] = None
    cpu_only: bool = False
    accelerator: Optional[str] = None
    recipe: Optional[str] = None
    pre: bool = False
    path: Optional[Path] = None
    index_url: Optional[str] = None
    find_links: Tuple[str, ...] = ()
    offline: bool = False
    keras: Optional[int] = None
    python_downloads: Optional[str] = None  # "auto" | "never"
    managed_python: bool = False
    today: Optional[str] = None  # YYYY-MM-DD for the end-of-life dates (None: the data's own check date)

    def __post_init__(self) -> None:
        if self.keras not in (None, 2, 3):
            raise TfsetupError(f"--keras must be 2 or 3, not {self.keras}", EXIT_BAD_INPUT,
                               fix="--keras 2 picks a stack whose tf.keras is Keras 2 (tf-keras)")
        if self.cpu_only and self.accelerator and self.accelerator != "cpu":
            raise TfsetupError(f"--cpu-only contradicts --accelerator {self.accelerator}", EXIT_BAD_INPUT)


@dataclass(frozen=True)
class Settings:
    request: PlanRequest
    target: Path
    source: PackageSource
    config: Optional[ProjectConfig] = None
    notes: List[str] = field(default_factory=list)
    python_source: PythonSource = field(default_factory=PythonSource)


def load_project(no_project: bool = False, cwd: Optional[Path] = None) -> Optional[ProjectConfig]:
    """The project config found from the current directory upwards (None outside a project)."""
    if no_project:
        return None
    return find_project(cwd or Path.cwd())


def merge(flags: Flags, config: Optional[ProjectConfig]) -> Settings:
    """Flags override the config; the config overrides the defaults. Pure."""
    cfg = config or ProjectConfig(path=Path("tfsetup.toml"))
    accelerator = "cpu" if (flags.cpu_only or (cfg.cpu_only and not flags.accelerator)) else flags.accelerator
    more = {"today": flags.today} if flags.today else {}
    target = flags.path if flags.path is not None else \
        making_env_default(cfg.env_path() if config else None)
    links = [str(Path(link).resolve()) if "://" not in link else link for link in flags.find_links]
    if config:
        links += cfg.find_links_resolved()
    python = python_settings(config, flags.offline, links, flags.python_downloads, flags.managed_python)
    request = PlanRequest(tf=flags.tf or cfg.tensorflow, python=flags.python or cfg.python,
                          accelerator=accelerator, recipe_id=flags.recipe, pre=flags.pre, keras=flags.keras,
                          python_downloads=python.downloads, managed_python=python.managed, **more)
    source = PackageSource(index_url=flags.index_url or cfg.index_url,
                           extra_index_urls=[] if flags.index_url else list(cfg.extra_index_urls),
                           find_links=links, offline=flags.offline)
    return Settings(request=request, target=target, source=source, config=config, python_source=python.source)


@dataclass(frozen=True)
class PythonSettings:
    downloads: str  # "auto" | "never": may the plan choose a Python uv downloads
    managed: bool  # prefer a uv-managed Python even where the host has one
    source: PythonSource  # where uv gets it


def python_settings(config: Optional[ProjectConfig], offline: bool = False, find_links: Sequence[str] = (),
                    downloads: Optional[str] = None, managed: bool = False) -> PythonSettings:
    """The one reader of the managed-Python settings (install, upgrade, doctor --fix): the flags over the
    project config's python-downloads, managed-python, python-mirror and python-downloads-json-url, and
    the archives of a wheelhouse among the find-links. Looks at the find-links directories only."""
    from tfsetup.team.python_build import wheelhouse_list  # lazy: start-up time (+37 ms on `tfsetup detect`)

    cfg = config or ProjectConfig(path=Path("tfsetup.toml"))
    archives = wheelhouse_list(find_links)
    # --offline: no Python download unless asked for, or a local source is there (uv reads file:// offline)
    local = archives is not None or any((url or "").startswith(("file://", "/"))
                                        for url in (cfg.python_mirror, cfg.python_downloads_json_url))
    source = PythonSource(mirror=cfg.python_mirror, downloads_json_url=cfg.python_downloads_json_url,
                          offline=offline, archives=archives)
    return PythonSettings(downloads=downloads or cfg.python_downloads or ("never" if offline and not local else "auto"),
                          managed=managed or cfg.managed_python, source=source)


def env_python_settings(record: Optional[Mapping[str, Any]]) -> PythonSettings:
    """python_settings of the project an env was installed from (its record names the config; upgrade and
    doctor --fix), else the defaults."""
    named = ((record or {}).get("project") or {}).get("config")
    if not named or not Path(named).is_file():
        return python_settings(None)
    return python_settings(load_config(Path(named)))


def plan_for_project(settings: Settings, facts: HostFacts, table: RecipeTable) -> Tuple[Plan, Dict[str, Any]]:
    """(plan, record additions): the project's team lock section when it has a tfsetup.lock, else the
    recipe the request picks. The additions say where the settings came from."""
    config = settings.config
    if config is not None and present(config.lock_path):  # there but unusable: exit 2, named
        from tfsetup.team.project import plan_with_team_lock  # lazy: start-up time (+60 ms on `tfsetup detect`)

        return plan_with_team_lock(config, facts, table, settings.request)
    if config is not None and config.extra_requirements():
        raise TfsetupError(f"{config.path.name} lists extra packages but there is no {config.lock_path.name}",
                           EXIT_BAD_INPUT, fix="run `tfsetup lock` (installs never resolve at run time)")
    chosen = plan(facts, table, settings.request)
    record: Dict[str, Any] = {"project": {"config": str(config.path)}} if config else {}
    return chosen, record


# ---------------------------------------------------------------------------------------------
# the env a command means when none is named

def _same_dir(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def own_env_with_tf() -> Optional[Path]:
    """This Python's env, when TensorFlow is installed in it (tfsetup installed into a TF env)."""
    from importlib import metadata  # lazy: start-up time (+48 ms on `tfsetup detect`)

    for name in TF_DISTRIBUTIONS:
        try:
            metadata.distribution(name)
            return Path(sys.prefix)
        except metadata.PackageNotFoundError:
            continue
    return None


def making_env_default(project_env: Optional[Path]) -> Path:
    """The default-env rule for `install`, which makes or replaces an env: the project's env, else
    ./.venv, whether or not it exists yet. Never an env that is merely active (it is not the one asked
    to be replaced). The same order as default_env, less what only an existing env can be."""
    return project_env if project_env is not None else Path(".venv")


def default_env(environ: Mapping[str, str], cwd: Path, project_env: Optional[Path],
                own_env: Optional[Path], tool_env: Optional[Path] = None) -> Optional[Path]:
    """The default-env rule for every command that uses an existing env (verify, doctor, add, upgrade,
    prove --env): the project's env, the active venv, ./.venv, the active conda env, then this Python's
    own env when it holds TensorFlow. tfsetup's own tool env is never one of them, even when activated.
    `install` takes the same rule less what only an existing env can be (making_env_default)."""
    tool = Path(sys.prefix) if tool_env is None else tool_env

    def usable(path: Optional[Path]) -> bool:  # the running Python's env only when it holds TensorFlow
        return path is not None and (not _same_dir(path, tool) or (own_env is not None and _same_dir(path, own_env)))

    candidates: List[Optional[Path]] = [project_env if project_env is not None and project_env.is_dir() else None]
    if environ.get("VIRTUAL_ENV"):
        candidates.append(Path(environ["VIRTUAL_ENV"]))
    local = cwd / ".venv"
    if local.is_dir():
        candidates.append(Path(os.path.abspath(local)))
    if environ.get("CONDA_PREFIX"):
        candidates.append(Path(environ["CONDA_PREFIX"]))
    for candidate in candidates:
        if usable(candidate):
            return candidate
    return own_env


def env_or_default(path: Optional[Path], config: Optional[ProjectConfig] = None) -> Path:
    """PATH, or the existing env a command means without one (default_env)."""
    if path is not None:
        return path
    if config is None:
        config = load_project()
    found = default_env(os.environ, Path.cwd(), config.env_path() if config else None, own_env_with_tf())
    if found is None:
        raise TfsetupError("no environment found: no project env, no active venv, no ./.venv, no active conda env",
                           EXIT_BAD_INPUT, fix="give its PATH, or make one with `tfsetup install`")
    return found
