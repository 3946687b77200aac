"""`tfsetup prove`: will this macOS env load (prove.py), or this Linux one (prove_linux.py)? Three
subjects, one proof:

- the lock `install` would install for this host or `--host-file` (plan options apply);
- exact PINs for `--platform` and `--python`, without their dependencies;
- `--env PATH`, an env already on disk (a Mac-shaped one here, a real one on a Mac; a Linux one with
  `--platform linux-x86_64` or a Linux --host-file).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from tfsetup.commands._common import load_host, load_table
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.prove import (ProveResult, arch_of, check_macos, check_pins, check_python, fetch_and_prove,
                           find_site_packages, prove_dir, recipe_for_pins, installed)
from tfsetup.prove_linux import LinuxProveResult, check_glibc, is_linux, judged_glibc
from tfsetup.request import Flags


def run(pins: Sequence[str], platform: Optional[str], macos: Optional[str], env: Optional[Path],
        flags: Flags, no_project: bool, host_file: Optional[Path], recipes_file: Optional[Path],
        glibc: Optional[str] = None) -> Union[ProveResult, LinuxProveResult]:
    import time

    from tfsetup.backends import get_backend

    macos = check_macos(macos)
    glibc = check_glibc(glibc)
    table = load_table(recipes_file)
    if env is not None:
        if pins:
            raise TfsetupError("give either PINs or --env PATH, not both", EXIT_BAD_INPUT)
        return _env(env, platform, macos, flags.python, host_file, table, time.perf_counter(), glibc)
    if pins:
        if platform is None:
            raise TfsetupError("proving PINs needs --platform", EXIT_BAD_INPUT, fix="e.g. --platform macos-arm64")
        if not is_linux(platform):
            arch_of(platform)
        python = check_python(flags.python)
        wanted = check_pins(pins)
        facts = load_host(host_file, with_pythons=False) if host_file is not None else None
        if is_linux(platform):
            from tfsetup import prove_linux

            row = recipe_for_pins(table, platform, wanted)
            judged, judged_from = judged_glibc(glibc, row, facts)
            return prove_linux.fetch_and_prove(get_backend("uv"), platform, python, judged, judged_from, "pins",
                                               flags_source(flags), manylinux=row.min_glibc if row else None,
                                               pins=list(pins))
        macos, macos_from = _macos(macos, facts, recipe_for_pins(table, platform, wanted))
        return fetch_and_prove(get_backend("uv"), platform, python, macos, macos_from, "pins", flags_source(flags),
                               table, pins=list(pins))
    if platform is not None:
        raise TfsetupError("--platform goes with PINs (a lock is proven for a host: use --host-file)",
                           EXIT_BAD_INPUT, fix="tfsetup prove --platform macos-arm64 --python 3.11 tensorflow==2.19.1 "
                           "tensorflow-metal==1.2.0")
    from tfsetup.commands.plan import make_plan

    facts = load_host(host_file)
    planned = make_plan(flags, no_project, facts, recipes_file)
    if planned.settings.config is not None:  # a missing wheelhouse is bad input (exit 2) before any fetch
        planned.settings.config.check_find_links()
    chosen = planned.plan
    if is_linux(chosen.recipe.platform):
        from tfsetup import prove_linux

        judged, judged_from = judged_glibc(glibc, chosen.recipe, facts)
        return prove_linux.fetch_and_prove(get_backend("uv"), chosen.recipe.platform, chosen.python.minor, judged,
                                           judged_from, f"lock {chosen.recipe.lock_relpath(chosen.python.minor)}",
                                           planned.settings.source, manylinux=chosen.recipe.min_glibc,
                                           lock=Path(chosen.lock.path))
    arch_of(chosen.recipe.platform)  # a Windows host: not proven (exit 2, said why)
    if macos is None:
        macos, macos_from = _macos(None, facts, chosen.recipe)
    else:
        macos_from = "--macos"
    return fetch_and_prove(get_backend("uv"), chosen.recipe.platform, chosen.python.minor, macos, macos_from,
                           f"lock {chosen.recipe.lock_relpath(chosen.python.minor)}", planned.settings.source,
                           table, lock=Path(chosen.lock.path))


def flags_source(flags: Flags):
    from tfsetup.request import merge

    return merge(flags, None).source


def _macos(macos: Optional[str], facts, recipe):
    """--macos, else the host's (a host file, or this Mac), else the recipe's min_os."""
    if macos is not None:
        return macos, "--macos"
    if facts is not None and facts.os == "macos" and facts.os_version:
        return facts.os_version, "the host's macOS"
    if recipe is not None and recipe.min_os:
        return recipe.min_os, f"recipe {recipe.id} min_os"
    return None, "not given"


def _env(env: Path, platform: Optional[str], macos: Optional[str], python: Optional[str],
         host_file: Optional[Path], table, started: float,
         glibc: Optional[str] = None) -> Union[ProveResult, LinuxProveResult]:
    if not env.is_dir():
        raise TfsetupError(f"{env} is not a directory", EXIT_BAD_INPUT, fix="give the root of an env")
    site, minor = find_site_packages(env)
    import sys

    facts = load_host(host_file, with_pythons=False) if host_file is not None else None
    if facts is None and sys.platform == "darwin":  # a real env on this Mac
        facts = load_host(None, with_pythons=False)
    if platform is None:  # a Mac-shaped env on Linux: Apple Silicon unless told otherwise (or a Linux host file)
        platform = facts.platform if facts is not None and facts.os in ("macos", "linux") else "macos-arm64"
    versions = installed(site)
    if is_linux(platform):
        from tfsetup import prove_linux

        judged, judged_from = judged_glibc(glibc, recipe_for_pins(table, platform, versions), facts)
        return prove_linux.prove_dir(site, platform, minor or python or "", judged, judged_from, f"env {env}",
                                     started, packages=versions)
    arch_of(platform)
    macos, macos_from = _macos(macos, facts, recipe_for_pins(table, platform, versions))
    return prove_dir(site, platform, minor or python or "", macos, macos_from, f"env {env}", table, started,
                     packages=versions)
