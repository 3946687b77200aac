"""The facts of an existing environment: run probes/env_facts.py with the env's own python.

The fast pass never imports TensorFlow. `--deep` adds one subprocess that does (`deep_import`).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import tfsetup.child as child_runner
from tfsetup.child import clean_env, run_child
from tfsetup.doctor.files import VERBATIM_INSTALLERS, DistFiles, check_distribution
from tfsetup.env.paths import check_env_dir, is_conda_env, is_venv
from tfsetup.macho.dyld import Report
from tfsetup.platforms import ARCH_ARM64, native_launch
from tfsetup.env.record import read_record
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.recipes import TF_DISTRIBUTIONS, normalize_name

PROBE = str(Path(__file__).resolve().parent.parent / "probes" / "env_facts.py")
PROBE_TIMEOUT_S = 60.0
DEEP_TIMEOUT_S = 300.0
# Where an env keeps its interpreter: venv (POSIX, Windows), conda (POSIX, Windows).
PYTHON_CANDIDATES = ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe")
ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "x64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}


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
    machine: str = ""  # the arch the interpreter ran as (normalized: arm64, x86_64, aarch64)
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
    files: Optional[Tuple[DistFiles, ...]] = None

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

    def to_json(self) -> Dict[str, Any]:
        return {
            "path": self.path, "python": self.python, "version": self.version,
            "implementation": self.implementation, "machine": self.machine, "sys_platform": self.sys_platform,
            "base_executable": self.base_executable, "prefix": self.prefix, "base_prefix": self.base_prefix,
            "conda": self.conda, "venv": self.venv, "arm64_capable": self.arm64_capable,
            "tfsetup_record": self.record is not None,
            "recipe": (self.record or {}).get("recipe"),
            "distributions": len(self.distributions),
            "tensorflow": {d.key: d.version for d in self.tf_distributions()},
            "packages": {d.key: d.to_json() for d in self.distributions.values() if d.wheel_tags},
            "loader": None if self.loader is None else loader_json(self.loader),
            "files": None if self.files is None else {
                "distributions": len(self.files), "checked": sum(f.checked for f in self.files),
                "native": sum(len(f.native) for f in self.files),
                "problems": [f.to_json() for f in self.files if f.missing or f.resized or f.unreadable]},
        }


def loader_json(report: Report) -> Dict[str, Any]:
    from tfsetup.prove import problem_json

    return {"arch": report.arch, "macos": report.macos, "loads": report.ok,
            "problems": [problem_json(p) for p in report.problems], "files": report.files_checked,
            "bindings": report.bindings_checked}


def normalize_machine(machine: str) -> str:
    return ARCH.get(machine.lower(), machine.lower())


def facts_from_probe(doc: Mapping[str, Any], path: str, python: str, venv: bool = True,
                     record: Optional[Dict[str, Any]] = None) -> EnvFacts:
    """Build EnvFacts from the probe's JSON (pure)."""
    dists: Dict[str, Distribution] = {}
    for item in doc.get("distributions") or []:
        dist = Distribution(name=str(item["name"]), version=str(item["version"]),
                            requires=tuple(item.get("requires") or ()),
                            wheel_tags=tuple(item.get("wheel_tags") or ()),
                            installer=str(item.get("installer") or ""), requested=bool(item.get("requested")),
                            dist_info=str(item.get("dist_info") or ""))
        dists.setdefault(dist.key, dist)
    return EnvFacts(
        path=path, python=python, version=str(doc.get("version", "")),
        implementation=str(doc.get("implementation", "cpython")),
        machine=normalize_machine(str(doc.get("machine", ""))),
        sys_platform=str(doc.get("sys_platform", "")), executable=str(doc.get("executable", "")),
        base_executable=str(doc.get("base_executable") or ""), prefix=str(doc.get("prefix", "")),
        base_prefix=str(doc.get("base_prefix", "")), conda=bool(doc.get("conda")), venv=venv,
        free_threaded=bool(doc.get("free_threaded")), markers=dict(doc.get("markers") or {}),
        distributions=dists, record=record,
    )


# ---------------------------------------------------------------------------------------------
# the edge: which env, its python, running the probe

def find_env_python(env: Path) -> Optional[Path]:
    for rel in PYTHON_CANDIDATES:
        candidate = env / rel
        if candidate.is_file() or (candidate.is_symlink() and not candidate.exists()):
            return candidate
    return None


def launch_for_env(python: Path, host_os: str, host_machine: str, rosetta: bool) -> List[str]:
    """How to start the env's python natively (under `arch -arm64` from a translated tfsetup)."""
    return native_launch(python, host_os, host_machine, rosetta)


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
    if sys.platform != "darwin":
        return False
    try:
        proc = child_runner.run(["sysctl", "-n", "hw.optional.arm64"], 5, dict(os.environ))
    except OSError:
        return False
    return not proc.timed_out and proc.stdout.strip() == "1"


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
    import importlib.util

    cfg = read_pyvenv_cfg(env)
    version = cfg.get("version_info") or cfg.get("version") or ""
    minor = ".".join(version.split(".")[:2])
    sites = [env / "lib" / f"python{minor}" / "site-packages", env / "Lib" / "site-packages"]
    spec = importlib.util.spec_from_file_location("_tfsetup_env_facts", PROBE)
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    dists, _ = probe.distributions(path=[str(site) for site in sites if site.is_dir()])
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
        if not isinstance(doc, dict) or doc.get("probe") != "env_facts":
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


DEEP_SNIPPET = "import tensorflow as tf; print(tf.__version__)"


def deep_import(facts: EnvFacts, launch: List[str], timeout: float = DEEP_TIMEOUT_S) -> ImportCheck:
    """`import tensorflow` in the env's python (its exit signal and stderr go to explain)."""
    child = run_child(list(launch) + ["-I", "-B", "-c", DEEP_SNIPPET], timeout)
    return ImportCheck(returncode=child.returncode, stderr=child.stderr, seconds=child.seconds,
                       timed_out=child.timed_out)


def with_loader(facts: EnvFacts, host_os: str, host_machine: str, host_macos: Optional[str]) -> EnvFacts:
    """For a macOS env (its python says darwin, or the host is a Mac): the static dyld check of its
    files (every Mach-O's arch and minos, its dependencies, and the TF plug-ins loaded in TF's process;
    only the plug-ins' bindings, so it fits the fast pass). The arch is the hardware's: an env whose
    python runs under Rosetta is still judged for arm64. Read from the files, never by running them,
    so a Mac-shaped env on Linux is judged as the Mac would."""
    if facts.sys_platform != "darwin" and host_os != "macos":
        return facts
    from tfsetup.prove import check_loads, find_site_packages

    env = Path(facts.path)
    site = env / "lib" / f"python{facts.minor}" / "site-packages"
    if not site.is_dir():
        try:
            site = find_site_packages(env)[0]
        except TfsetupError:
            return facts
    if host_os == "macos":
        arch, macos = ("arm64" if host_machine in ("arm64", "aarch64") else "x86_64"), host_macos
    else:
        arch, macos = ("arm64" if facts.machine in ("arm64", "aarch64") else "x86_64"), None
    return replace(facts, loader=check_loads(site, arch, macos, full=False))


def with_files(facts: EnvFacts, names: List[str]) -> EnvFacts:
    """The installed files of these distributions (normalized names) checked against their RECORD: present,
    their size, the arch of their native files (doctor/files.py). A distribution without a dist-info
    directory (an egg, an editable install) is left out."""
    checked = []
    for name in names:
        dist = facts.dist(name)
        if dist is not None and dist.dist_info:
            checked.append(check_distribution(dist.key, dist.version, dist.dist_info, facts.prefix or facts.path,
                                              sizes=dist.installer.strip().lower() in VERBATIM_INSTALLERS))
    return replace(facts, files=tuple(checked))
