"""What an environment holds, as doctor reads it: its interpreter and its installed distributions.

`inspect_env` runs probes/env_facts.py with the env's own python (never importing TensorFlow) and
`facts_from_probe` turns its JSON into EnvFacts (pure). Pure questions of the facts: the env's PEP 508
marker environment, the user's own (top-level) packages. doctor's checks that add to these facts (the
static loader check, the files against RECORD, `import tensorflow`) live in doctor/inspect.py.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement

import tfsetup.child as child_runner
from tfsetup.child import clean_env
from tfsetup.env.paths import check_env_dir, is_conda_env, is_venv
from tfsetup.env.record import read_record
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.macho.dyld import Report
from tfsetup.host.macos import hardware_is_arm64
from tfsetup.host.runner import SystemRunner
from tfsetup.platforms import ARCH_ARM64, canonical_arch
from tfsetup.probes import env_facts as env_facts_probe, read_answer
from tfsetup.recipes import TF_DISTRIBUTIONS, normalize_name

if TYPE_CHECKING:  # doctor's files check fills `files`; only its type is named here
    from tfsetup.env.files import DistFiles

PROBE = str(Path(env_facts_probe.__file__).resolve())  # run by the env's python; its schema is read here
PROBE_TIMEOUT_S = 60.0
# Where an env keeps its interpreter: venv (POSIX, Windows), conda (POSIX, Windows).
PYTHON_CANDIDATES = ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe")


@dataclass(frozen=True)
class Distribution:
    name: str  # as the metadata spells it
    version: str
    requires: Tuple[str, ...] = ()
    wheel_tags: Tuple[str, ...] = ()  # only read for the TensorFlow-related distributions
    installer: str = ""
    requested: bool = False
    dist_info: str = ""  # its .dist-info directory (where RECORD is), as the env's python reported it

    @property
    def key(self) -> str:
        return normalize_name(self.name)

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"name": self.name, "version": self.version}
        if self.wheel_tags:
            doc["wheel_tags"] = list(self.wheel_tags)
        return doc


@dataclass(frozen=True)
class ImportCheck:
    """`import tensorflow` in the env (--deep): how it ended."""

    returncode: int
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def to_json(self) -> Dict[str, Any]:
        tail = "\n".join(self.stderr.strip().splitlines()[-20:])
        return {"ok": self.ok, "returncode": self.returncode, "seconds": round(self.seconds, 3),
                "timed_out": self.timed_out, "stderr_tail": tail}


@dataclass(frozen=True)
class EnvFacts:
    path: str
    python: str  # the env's interpreter (the path doctor runs)
    version: str  # "3.11.7"
    implementation: str = "cpython"
    machine: str = ""  # the arch the interpreter ran as (platforms.canonical_arch: arm64, x86_64, aarch64)
    sys_platform: str = ""
    executable: str = ""
    base_executable: str = ""
    prefix: str = ""
    base_prefix: str = ""
    conda: bool = False
    venv: bool = True
    free_threaded: bool = False
    markers: Dict[str, str] = field(default_factory=dict)
    distributions: Dict[str, Distribution] = field(default_factory=dict)  # normalized name -> dist
    arm64_capable: Optional[bool] = None  # macOS: the binary also has an arm64 slice (None: not checked)
    record: Optional[Dict[str, Any]] = None  # tfsetup-env.json, when the env has one
    deep: Optional[ImportCheck] = None
    # A venv whose base interpreter is gone (pyvenv.cfg `home` no longer holds it): the missing path.
    # Its facts are then read from the files (pyvenv.cfg, the dist-infos), since its python cannot start.
    base_python_missing: str = ""
    base_home: str = ""
    # macOS envs: what dyld would do with the installed files (static model; `with_loader`). The
    # binaries decide, not the metadata: a plug-in file that is not its dist-info's version is judged
    # by its bytes.
    loader: Optional[Report] = None
    # The installed files of the locked distributions against their RECORD (`with_files`; None: not
    # checked): what a deleted file or a wheel of another arch leaves behind, without importing anything.
    files: Optional[Tuple["DistFiles", ...]] = None

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def dist(self, name: str) -> Optional[Distribution]:
        return self.distributions.get(normalize_name(name))

    def version_of(self, name: str) -> Optional[str]:
        d = self.dist(name)
        return d.version if d else None

    def tf_distributions(self) -> List[Distribution]:
        return [self.distributions[n] for n in TF_DISTRIBUTIONS if n in self.distributions]


def facts_from_probe(doc: Mapping[str, Any], path: str, python: str, venv: bool = True,
                     record: Optional[Dict[str, Any]] = None) -> EnvFacts:
    """Build EnvFacts from the probe's JSON (pure), read through the probe's own schema."""
    answer = read_answer(doc, env_facts_probe.FIELDS)
    dists: Dict[str, Distribution] = {}
    for item in answer["distributions"]:
        d = read_answer(item, env_facts_probe.DISTRIBUTION_FIELDS)
        dist = Distribution(name=d["name"], version=d["version"], requires=tuple(d["requires"]),
                            wheel_tags=tuple(d["wheel_tags"]), installer=d["installer"], requested=d["requested"],
                            dist_info=d["dist_info"])
        dists.setdefault(dist.key, dist)
    return EnvFacts(
        path=path, python=python, version=answer["version"], implementation=answer["implementation"],
        machine=canonical_arch(answer["machine"]), sys_platform=answer["sys_platform"],
        executable=answer["executable"], base_executable=answer["base_executable"], prefix=answer["prefix"],
        base_prefix=answer["base_prefix"], conda=answer["conda"], venv=venv, free_threaded=answer["free_threaded"],
        markers=answer["markers"], distributions=dists, record=record,
    )


# Never counted as the user's own packages: installers and tooling, and what a recipe's stack brings.
NEVER_REINSTALL = ("pip", "setuptools", "wheel", "uv", "tensorflow-metal", "tensorflow-io-gcs-filesystem")
_CONDA_TOOLING = ("conda", "libmamba", "mamba", "menuinst")


def marker_environment(env: EnvFacts) -> Dict[str, str]:
    """The env's own PEP 508 environment (what its probe reported, completed from the facts)."""
    system = {"darwin": "Darwin", "win32": "Windows"}.get(env.sys_platform, "Linux")
    machine = {"x86_64": "AMD64" if system == "Windows" else "x86_64"}.get(env.machine, env.machine)
    base = {
        "implementation_name": env.implementation, "implementation_version": env.version,
        "os_name": "nt" if system == "Windows" else "posix", "platform_machine": machine,
        "platform_release": "", "platform_system": system, "platform_version": "",
        "python_full_version": env.version, "platform_python_implementation":
            "CPython" if env.implementation == "cpython" else env.implementation,
        "python_version": env.minor, "sys_platform": env.sys_platform or "linux",
    }
    base.update(env.markers)
    base["extra"] = ""  # extras are ignored: only what the distribution always needs counts
    return base


def top_level_packages(env: EnvFacts, exclude: Sequence[str] = ()) -> List[Distribution]:
    """The user's own packages: installed distributions nothing else in the env requires."""
    markers = marker_environment(env)
    required = set()
    for dist in env.distributions.values():
        for line in dist.requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            keep = req.marker is None or "extra" in str(req.marker)  # dependencies through extras count too
            if not keep:
                try:
                    keep = bool(req.marker.evaluate(markers))
                except Exception:
                    keep = True
            if keep:
                required.add(normalize_name(req.name))
    skip = set(exclude) | set(TF_DISTRIBUTIONS) | set(NEVER_REINSTALL)
    return [d for d in sorted(env.distributions.values(), key=lambda d: d.key)
            if d.key not in required and d.key not in skip and not d.key.startswith(_CONDA_TOOLING)
            and not d.key.startswith("nvidia-")]


# ---------------------------------------------------------------------------------------------
# the edge: which env, its python, running the probe

def find_env_python(env: Path) -> Optional[Path]:
    for rel in PYTHON_CANDIDATES:
        candidate = env / rel
        if candidate.is_file() or (candidate.is_symlink() and not candidate.exists()):
            return candidate
    return None


def _arm64_capable(python: Path) -> Optional[bool]:
    """On an Apple Silicon Mac: does this interpreter start as arm64 when asked to?"""
    try:
        proc = child_runner.run([*ARCH_ARM64, str(python), "-I", "-B", "-c",
                                 "import platform; print(platform.machine())"], 30, dict(os.environ))
    except OSError:
        return None
    if proc.timed_out:
        return None
    return proc.returncode == 0 and proc.stdout.strip() == "arm64"


def _hardware_is_arm64_mac() -> bool:
    return sys.platform == "darwin" and hardware_is_arm64(SystemRunner())


def read_pyvenv_cfg(env: Path) -> Dict[str, str]:
    """pyvenv.cfg's `key = value` lines (empty when there is none)."""
    try:
        text = (env / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip().lower(): v.strip() for k, v in pairs}


_BASE_NAMES = ("python3", "python", "python.exe")


def missing_base_python(env: Path, python: Optional[Path]) -> Tuple[str, str]:
    """(the missing interpreter path, pyvenv.cfg's home) when the venv's base Python is gone, else ("", "").
    Gone: `home` no longer holds an interpreter, or the env's python is a link to nothing."""
    home = read_pyvenv_cfg(env).get("home", "")
    if not home:
        return "", ""
    if python is not None and python.is_symlink() and not python.exists():
        return os.path.realpath(python), home
    if not any(os.path.exists(os.path.join(home, name)) for name in _BASE_NAMES):
        version = read_pyvenv_cfg(env).get("version_info") or read_pyvenv_cfg(env).get("version") or ""
        minor = ".".join(version.split(".")[:2])
        named = [os.path.join(home, f"python{minor}")] if minor else []
        return (named or [os.path.join(home, "python3")])[0], home
    return "", home


def facts_without_python(env: Path, python: Path, missing: str, home: str) -> EnvFacts:
    """What can be known of a venv whose python cannot start: its version (pyvenv.cfg) and its
    distributions (read from its site-packages by this process)."""
    cfg = read_pyvenv_cfg(env)
    version = cfg.get("version_info") or cfg.get("version") or ""
    minor = ".".join(version.split(".")[:2])
    sites = [env / "lib" / f"python{minor}" / "site-packages", env / "Lib" / "site-packages"]
    dists, _ = env_facts_probe.distributions(path=[str(site) for site in sites if site.is_dir()])
    doc = {"version": version, "sys_platform": sys.platform, "distributions": dists, "prefix": str(env)}
    facts = facts_from_probe(doc, str(env), str(python), venv=True, record=read_record(env))
    return replace(facts, base_python_missing=missing, base_home=home)


def inspect_env(path: Path, timeout: float = PROBE_TIMEOUT_S) -> EnvFacts:
    """Run the facts probe inside the env at PATH; TfsetupError (exit 2) when it is not a Python env."""
    env = Path(os.path.abspath(path))
    check_env_dir(env)
    python = find_env_python(env)
    if python is None:
        what = "is not a Python environment" if not (is_venv(env) or is_conda_env(env)) else "has no python"
        raise TfsetupError(f"{env} {what} (no bin/python or python.exe)", EXIT_BAD_INPUT,
                           fix="give the path of a venv or conda env, e.g. one made by `tfsetup install`")
    missing, home = missing_base_python(env, python)
    if missing:  # the fast pass says so (doctor's base-python-missing) instead of failing to run it
        return facts_without_python(env, python, missing, home)
    argv = [str(python), "-I", "-B", PROBE]  # -B: inspecting must not write into the env
    try:
        proc = child_runner.run(argv, timeout, clean_env())
    except OSError as exc:
        raise TfsetupError(f"the env's python ({python}) does not run: {exc.strerror or exc}", EXIT_BAD_INPUT,
                           fix=f"its base interpreter may be gone; rebuild it with `tfsetup install {env} --force`"
                           ) from None
    if proc.timed_out:
        raise TfsetupError(f"the env's python ({python}) did not answer within {timeout:g}s", EXIT_BAD_INPUT)
    try:
        doc = json.loads(proc.stdout)
        if not isinstance(doc, dict) or doc.get("probe") != env_facts_probe.PROBE_ID:
            raise ValueError("not the probe's answer")
    except (ValueError, RecursionError):
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-3:]
        raise TfsetupError(f"the env's python ({python}) failed to report its facts (exit {proc.returncode}): "
                           + (" | ".join(tail) or "no output"), EXIT_BAD_INPUT,
                           fix=f"if its base interpreter is gone, rebuild it with `tfsetup install {env} --force`"
                           ) from None
    facts = facts_from_probe(doc, str(env), str(python), venv=is_venv(env), record=read_record(env))
    if facts.sys_platform == "darwin" and facts.machine == "x86_64" and _hardware_is_arm64_mac():
        facts = replace(facts, arm64_capable=_arm64_capable(python))
    elif facts.machine == "arm64":
        facts = replace(facts, arm64_capable=True)
    return facts
