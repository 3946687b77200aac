"""OS and CPU-architecture names as data, and the two launch rules that depend on them.

One home for: arch aliases (each OS's own word: arm64 on macOS/Windows, aarch64 on Linux), the
platform ids recipes and locks are filed under, uv's `--python-platform` names, the one
`arch -arm64` rule (a universal2 Python started from a Rosetta-translated process runs as x86_64),
and the MACOSX_DEPLOYMENT_TARGET rule. Pure; modelled on cibuildwheel's architecture.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

OS_NAMES = ("macos", "linux", "windows")
MACHINES = ("arm64", "x86_64", "aarch64")
ARCH_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "x64": "x86_64", "i386": "i686",
                "i686": "i686", "x86": "i686", "arm64": "arm64", "aarch64": "aarch64"}
# os-machine -> uv --python-platform (Linux gets its manylinux level from the recipe)
UV_PLATFORMS = {
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "linux-x86_64": "x86_64-manylinux",
    "linux-aarch64": "aarch64-manylinux",
    "windows-x86_64": "x86_64-pc-windows-msvc",
}
# Team platform names -> (os-machine of the host, accelerator of the recipe).
TEAM_PLATFORMS: Dict[str, Tuple[str, str]] = {
    "macos-arm64": ("macos-arm64", "metal"),
    "macos-arm64-cpu": ("macos-arm64", "cpu"),
    "macos-x86_64": ("macos-x86_64", "cpu"),
    "linux-x86_64": ("linux-x86_64", "cpu"),
    "linux-x86_64-cuda": ("linux-x86_64", "cuda"),
    "linux-aarch64": ("linux-aarch64", "cpu"),
    "windows-x86_64": ("windows-x86_64", "cpu"),
}
DEFAULT_MACOS_TARGET = {"arm64": "12.0", "x86_64": "10.15"}  # the oldest macOS TF's wheels were built for
DEFAULT_GLIBC = "2.28"
ARCH_ARM64 = ("arch", "-arm64")  # macOS: start a universal binary's arm64 slice


def canonical_arch(arch: str) -> str:
    """'AMD64' -> 'x86_64', as the word was otherwise (arm64 and aarch64 kept: an interpreter's own
    platform.machine() already says its OS's word)."""
    return ARCH_ALIASES.get(arch.lower(), arch.lower())


def normalize_arch(arch: str, os_name: str) -> str:
    """'AMD64' -> 'x86_64', 'aarch64' on a Mac -> 'arm64', 'arm64' on Linux -> 'aarch64'."""
    arch = canonical_arch(arch)
    if arch in ("arm64", "aarch64"):
        return "arm64" if os_name in ("macos", "windows") else "aarch64"
    return arch


def wheel_tag_arch(os_name: str, machine: str) -> str:
    """The arch word of a wheel's platform tag: macosx_12_0_arm64, manylinux_2_28_aarch64, win_amd64."""
    arch = normalize_arch(machine, os_name)
    return "amd64" if os_name == "windows" and arch == "x86_64" else arch


def platform_id(os_name: str, machine: str) -> str:
    return f"{os_name}-{machine}"


def uv_python_platform(os_name: str, machine: str, min_glibc: Optional[str] = None) -> str:
    """uv's `--python-platform` for a recipe's platform (Linux: with its manylinux level)."""
    base = UV_PLATFORMS[platform_id(os_name, machine)]
    if os_name == "linux":
        major, minor = (min_glibc or DEFAULT_GLIBC).split(".")[:2]
        return f"{base}_{major}_{minor}"
    return base


def needs_arch_arm64(host_os: str, host_machine: str, rosetta: bool,
                     python_archs: Optional[Sequence[str]] = None) -> bool:
    """The one `arch -arm64` rule: on Apple Silicon hardware, when tfsetup itself runs translated, a
    Python that has an arm64 slice must be started with `arch -arm64`, or it inherits x86_64.
    `python_archs` None means unknown (an env's python): asking for arm64 is then harmless, since an
    x86_64-only binary fails loudly under `arch -arm64` instead of running translated by surprise."""
    if not (host_os == "macos" and host_machine == "arm64" and rosetta):
        return False
    return python_archs is None or "arm64" in python_archs


def native_launch(python: Union[str, Path], host_os: str, host_machine: str, rosetta: bool,
                  python_archs: Optional[Sequence[str]] = None) -> List[str]:
    """The argv prefix that starts `python` natively on this host."""
    if needs_arch_arm64(host_os, host_machine, rosetta, python_archs):
        return [*ARCH_ARM64, str(python)]
    return [str(python)]


def relaunch(launch: Sequence[str], python: Union[str, Path]) -> List[str]:
    """Run another `python` the way `launch` runs its interpreter (e.g. the env's, under `arch -arm64`)."""
    return list(launch[:-1]) + [str(python)]


def deployment_target(os_version: str, machine: str = "arm64") -> str:
    """MACOSX_DEPLOYMENT_TARGET for installing on a Mac: its real major.minor, so wheels tagged for any
    macOS up to it are accepted (a Python built against an old SDK would otherwise say 10.16)."""
    parts = [p for p in os_version.split(".") if p.isdigit()]
    if not parts:
        return DEFAULT_MACOS_TARGET.get(machine, "12.0")
    return ".".join((parts + ["0"])[:2])


def resolve_target(min_os: Optional[str], machine: str) -> str:
    """MACOSX_DEPLOYMENT_TARGET for resolving a recipe's lock: the oldest macOS it supports."""
    return deployment_target(min_os or DEFAULT_MACOS_TARGET.get(machine, "12.0"), machine)


def split_platform(platform: str) -> Tuple[str, str]:
    """'macos-arm64' -> ('macos', 'arm64'): platform_id's inverse."""
    os_name, _, machine = platform.partition("-")
    return os_name, machine
