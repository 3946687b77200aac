"""doctor's checks of an env beyond its facts (env/facts.py): the static loader check of its files
(`with_loader`), its files against RECORD (`with_files`), `import tensorflow` (`deep_import`, --deep:
the one subprocess that imports TensorFlow), and the env's facts as doctor's JSON.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional

from tfsetup.child import run_child
from tfsetup.env.files import VERBATIM_INSTALLERS, check_distribution
from tfsetup.env.facts import EnvFacts, ImportCheck
from tfsetup.errors import TfsetupError
from tfsetup.macho.dyld import Report
from tfsetup.platforms import native_launch
from tfsetup.prove.macos import loads_kept, problem_json
from tfsetup.prove.subject import find_site_packages

DEEP_TIMEOUT_S = 300.0


def facts_json(facts: EnvFacts) -> Dict[str, Any]:
    """The env's facts in `doctor --json` (its "env"), with what doctor's checks added."""
    return {
        "path": facts.path, "python": facts.python, "version": facts.version,
        "implementation": facts.implementation, "machine": facts.machine, "sys_platform": facts.sys_platform,
        "base_executable": facts.base_executable, "prefix": facts.prefix, "base_prefix": facts.base_prefix,
        "conda": facts.conda, "venv": facts.venv, "arm64_capable": facts.arm64_capable,
        "tfsetup_record": facts.record is not None,
        "recipe": (facts.record or {}).get("recipe"),
        "distributions": len(facts.distributions),
        "tensorflow": {d.key: d.version for d in facts.tf_distributions()},
        "packages": {d.key: d.to_json() for d in facts.distributions.values() if d.wheel_tags},
        "loader": None if facts.loader is None else loader_json(facts.loader),
        "files": None if facts.files is None else {
            "distributions": len(facts.files), "checked": sum(f.checked for f in facts.files),
            "native": sum(len(f.native) for f in facts.files),
            "problems": [f.to_json() for f in facts.files if f.missing or f.resized or f.unreadable]},
    }


def loader_json(report: Report) -> Dict[str, Any]:
    return {"arch": report.arch, "macos": report.macos, "loads": report.ok,
            "problems": [problem_json(p) for p in report.problems], "files": report.files_checked,
            "bindings": report.bindings_checked}


def launch_for_env(python: Path, host_os: str, host_machine: str, rosetta: bool) -> List[str]:
    """How to start the env's python natively (under `arch -arm64` from a translated tfsetup)."""
    return native_launch(python, host_os, host_machine, rosetta)


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
    return replace(facts, loader=loads_kept(site, arch, macos, full=False))


def with_files(facts: EnvFacts, names: List[str]) -> EnvFacts:
    """The installed files of these distributions (normalized names) checked against their RECORD: present,
    their size, the arch of their native files (env/files.py). A distribution without a dist-info
    directory (an egg, an editable install) is left out."""
    checked = []
    for name in names:
        dist = facts.dist(name)
        if dist is not None and dist.dist_info:
            checked.append(check_distribution(dist.key, dist.version, dist.dist_info, facts.prefix or facts.path,
                                              sizes=dist.installer.strip().lower() in VERBATIM_INSTALLERS))
    return replace(facts, files=tuple(checked))
