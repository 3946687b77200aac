"""detect: gather the host facts of *this* machine (the edge: process info, OS commands)."""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
from typing import Mapping, Optional

from tfsetup.host.facts import HostFacts
from tfsetup.host.interpreters import discover
from tfsetup.host.linux import detect_linux
from tfsetup.host.macos import binary_archs, detect_macos
from tfsetup.host.runner import Runner, SystemRunner
from tfsetup.host.windows import detect_windows
from tfsetup.platforms import normalize_arch
from tfsetup.state import cache_state_dir


def current_os() -> str:
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"


def _glibc() -> Optional[str]:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        return None
    return version if name == "glibc" else None


def _windows_feature_probe():
    try:
        import ctypes  # lazy: only on Windows (kernel32)

        return lambda feature: bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(feature))  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return None


def _probe_cache_path(env: Mapping[str, str]) -> Optional[str]:
    if env.get("TFSETUP_NO_CACHE"):
        return None
    folder = cache_state_dir("")  # None (a warning) when the state dir is unusable or not private
    return str(folder / "interpreters.json") if folder else None


def detect_host(runner: Optional[Runner] = None, with_pythons: bool = True,
                env: Optional[Mapping[str, str]] = None) -> HostFacts:
    runner = runner or SystemRunner()
    os_name = current_os()
    if os_name == "macos":
        facts = detect_macos(runner)
    elif os_name == "windows":
        facts = detect_windows(runner, normalize_arch(platform.machine(), "windows"), platform.version(),
                               platform.processor(), _windows_feature_probe())
    else:
        facts = detect_linux(runner, normalize_arch(platform.machine(), "linux"), platform.release(), _glibc())
    return add_pythons(facts, runner, env) if with_pythons else facts


def add_pythons(facts: HostFacts, runner: Optional[Runner] = None,
                env: Optional[Mapping[str, str]] = None) -> HostFacts:
    """This host's facts (detected with_pythons=False) with its Python interpreters found: what a plan
    needs, without detecting the rest again (doctor --fix's rebuild, add's upgrade hint)."""
    runner = runner or SystemRunner()
    env = os.environ if env is None else env
    archs_of = None
    if current_os() == "macos":
        archs_of = lambda exe: binary_archs(runner, exe)  # noqa: E731 - slices come from lipo
    pythons, skipped = discover(runner, current_os(), env, os.path.expanduser("~"), archs_of, _probe_cache_path(env))
    return dataclasses.replace(facts, pythons=pythons, skipped_pythons=skipped)
