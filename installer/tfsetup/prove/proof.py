"""One proof, for either loader: fetch (or take a tree on disk), check it with the target's loader,
and make the result with its fix and notes."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Sequence

from tfsetup.backends.base import Backend, PackageSource
from tfsetup.prove.fetch import Progress, fetch, reading, reusing
from tfsetup.prove.loader import loader_for
from tfsetup.prove.result import ProveResult
from tfsetup.prove.subject import installed
from tfsetup.prove.trees import held_tree, tree_key
from tfsetup.state import cache_state_dir

if TYPE_CHECKING:
    from tfsetup.recipes import Recipe, RecipeTable


def prove_dir(site: Path, platform: str, python: str, judged: Optional[str], judged_from: str, subject: str,
              table: Optional["RecipeTable"], started: float, packages: Optional[Dict[str, str]] = None,
              full: bool = True, progress: Optional[Progress] = None) -> ProveResult:
    """Prove the tree `site` for `platform`, judged against macOS or glibc `judged`. Without `full`
    only what doctor's fast pass needs is bound (Mach-O: the plug-ins' bindings)."""
    loader = loader_for(platform)
    if progress is not None:
        progress(reading(site))
    report, highest, later = loader.check(site, judged, full)
    result = ProveResult(loader, platform, python, judged, judged_from, packages if packages is not None else installed(site),
                         report, 0.0, subject, highest=highest, on_demand=later)
    result.fix = loader.fix(result, table)
    result.notes += loader.notes(result)
    result.seconds = time.perf_counter() - started
    return result


def fetch_and_prove(backend: Backend, platform: str, python: str, judged: Optional[str], judged_from: str,
                    subject: str, source: PackageSource, table: Optional["RecipeTable"],
                    lock: Optional[Path] = None, pins: Sequence[str] = (), recipe: Optional["Recipe"] = None,
                    keep: Optional[Path] = None, full: bool = True, progress: Optional[Progress] = None) -> ProveResult:
    """Fetch into `keep`, or a tree kept from the last proof of the same inputs (trees.py), or, with
    caches off, a throwaway directory; then prove. The wheels are those picked for `recipe`'s OS level
    where the loader says so (Linux: its manylinux), else for the judged one."""
    started = time.perf_counter()
    loader = loader_for(platform)
    picked = loader.wheels_for(recipe) or judged

    def prove(site: Path) -> ProveResult:
        return prove_dir(site, platform, python, judged, judged_from, subject, table, started, full=full,
                         progress=progress)

    def fill(site: Path) -> None:
        fetch(backend, site, python, loader, source, lock, pins, picked, progress)

    if keep is not None:
        fill(keep)
        return prove(keep)
    root = cache_state_dir("prove-trees")
    if root is None:
        with tempfile.TemporaryDirectory(prefix="tfsetup-prove-") as tmp:
            site = Path(tmp) / "site-packages"
            fill(site)
            return prove(site)
    key = tree_key(platform, python, loader.fetch_target(picked), lock, pins, source)
    with held_tree(root, key, fill) as (site, reused):
        if reused and progress is not None:
            progress(reusing(platform, python))
        return prove(site)
