"""Prove on any OS that an env loads on its target: take its exact wheels (a recipe lock, exact pins,
or an env already on disk), unpack them for the target platform (fetch.py), and run the target's
loader model over the files (loader.py: Mach-O through macho/ in macos.py, ELF through elfcheck/ in
linux.py). One result (result.py), one proof path (proof.py) for both.
"""
from __future__ import annotations

from tfsetup.prove.fetch import EXIT_CANNOT_FETCH, Progress, fetch
from tfsetup.prove.loader import Loader, loader_for
from tfsetup.prove.macos import check_loads, check_macos, fix_for, metal_recipe, ordered, problem_json
from tfsetup.prove.linux import check_glibc
from tfsetup.prove.proof import fetch_and_prove, prove_dir
from tfsetup.prove.result import ProveResult
from tfsetup.prove.subject import check_pins, check_python, find_site_packages, installed, recipe_for_pins

__all__ = ["EXIT_CANNOT_FETCH", "Loader", "Progress", "ProveResult", "check_glibc", "check_loads", "check_macos",
           "check_pins", "check_python", "fetch", "fetch_and_prove", "find_site_packages", "fix_for", "installed",
           "loader_for", "metal_recipe", "ordered", "problem_json", "prove_dir", "recipe_for_pins"]
