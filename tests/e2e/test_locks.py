"""Every committed lock parses, belongs to a recipe, and passes the must-hold checks of
`scripts/lock_recipes.py --check` against the real index: its pins satisfy the recipe, every pinned
version and hash is still listed and not yanked, a pinned hash fits the platform, and the pins still
resolve to exactly themselves. Drift (newer releases a fresh resolution would pick) is not tested
here: it is reported by `--check` and never fails CI.

The table/lock agreement checks are offline (unmarked: the fast tier runs them). The must-hold checks
need the package index (PyPI): the index fetches (one per package name) and the resolutions run once
per session in a thread pool; each lock then gets its own test id.
"""
from __future__ import annotations

import concurrent.futures
import functools
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tfsetup.backends.uv import find_uv
from tfsetup.recipes import Recipe, load_recipes, normalize_name, parse_lock_text

from tests.conftest import load_script

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes" / "recipes.toml"


lr = load_script("lock_recipes")


def _cases() -> List[Tuple[Recipe, str]]:
    if not RECIPES.is_file():
        return []
    table = load_recipes(RECIPES)
    return [(r, py) for r in table.recipes for py in r.pythons if (RECIPES.parent / r.lock_relpath(py)).is_file()]


CASES = _cases()


def _lock_text(recipe: Recipe, python: str) -> str:
    return (RECIPES.parent / recipe.lock_relpath(python)).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _session() -> Dict[str, object]:
    """Run the must-hold check of every lock, in parallel, once (one index fetch per package)."""
    uv = find_uv()
    index = lr.Index()
    names = set()
    for recipe, py in CASES:
        names.update(parse_lock_text(_lock_text(recipe, py), recipe.lock_relpath(py)))
    index.prefetch(sorted(names))
    results: Dict[str, object] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {pool.submit(lr.check_lock, uv, index, r, py, RECIPES.parent / r.lock_relpath(py), drift=False):
                   f"{r.id}/py{py}" for r, py in CASES}
        for future, key in futures.items():
            try:
                results[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - reported by the test that needs it
                results[key] = exc
    return results


def _ids() -> List[str]:
    return [f"{r.id}/py{py}" for r, py in CASES]


def test_table_and_locks_agree() -> None:
    """Every recipe x python has a lock, and every lock file belongs to one."""
    table = load_recipes(RECIPES)
    wanted = {(RECIPES.parent / r.lock_relpath(py)).resolve() for r in table.recipes for py in r.pythons}
    present = {p.resolve() for p in (RECIPES.parent / "locks").rglob("*.txt")}
    missing = sorted(str(p.relative_to(REPO)) for p in wanted - present)
    orphans = sorted(str(p.relative_to(REPO)) for p in present - wanted)
    assert not missing, f"no lock for: {missing}; run scripts/lock_recipes.py"
    assert not orphans, f"locks with no recipe/python: {orphans}"


@pytest.mark.parametrize("recipe,python", CASES, ids=_ids())
def test_lock_pins_the_recipe(recipe: Recipe, python: str) -> None:
    text = _lock_text(recipe, python)
    pins = parse_lock_text(text, recipe.lock_relpath(python))
    assert pins.get(normalize_name(recipe.distribution)) == recipe.tensorflow
    if recipe.plugin:
        assert pins.get(normalize_name(recipe.plugin)) == recipe.plugin_version
    if recipe.keras_package:
        assert normalize_name(recipe.keras_package) in pins, f"recipe says Keras comes from {recipe.keras_package}"
    assert text.startswith(lr.HEADER_MARK)


@pytest.mark.network
@pytest.mark.parametrize("recipe,python", CASES, ids=_ids())
def test_lock_must_hold(recipe: Recipe, python: str) -> None:
    report = _session()[f"{recipe.id}/py{python}"]
    if isinstance(report, Exception):
        pytest.fail(f"the check itself crashed: {report!r}")
    assert report.ok, "\n".join(report.failures)


@pytest.mark.network
def test_a_lock_regenerated_at_its_cutoff_is_the_same_bytes(tmp_path: Path) -> None:
    """The header's exclude-newer is the resolution's cut-off: resolving again at it, against the real
    index, gives the lock byte for byte (grpcio 1.85.3 came out 2026-11-18: at 11-16 the lock has 1.85.1)."""
    copy = tmp_path / "recipes"
    copy.mkdir()
    (copy / "recipes.toml").write_text(RECIPES.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["--recipes", str(copy / "recipes.toml"), "--recipe", "linux-x86_64-cpu-tf2.21", "--python", "3.11",
            "--uv", find_uv()]
    assert lr.main([*args, "--exclude-newer", "2026-11-16"]) == 0
    written = (copy / "locks" / "linux-x86_64-cpu-tf2.21" / "py3.11.txt").read_text(encoding="utf-8")
    assert lr.lock_cutoff(written) == "2026-11-16T00:00:00Z"
    assert parse_lock_text(written, "x")["grpcio"] == "1.85.1"
    assert lr.main([*args, "--reproduce"]) == 0


@pytest.mark.network
def test_a_committed_lock_regenerated_at_its_recorded_cutoff_is_the_same_bytes() -> None:
    """A lock in recipes/locks, resolved again at the cut-off its header records, against the real index:
    the same bytes. Only the header's note of the uv that made it may differ (`--reproduce` says so)."""
    recipe = next(r for r in load_recipes(RECIPES).recipes if r.id == "linux-x86_64-cpu-tf2.21")
    text = _lock_text(recipe, "3.11")
    cutoff = lr.lock_cutoff(text)
    assert cutoff, "the lock records no cut-off"
    uv = find_uv()
    uv_ver = lr.uv_version(uv)
    again = lr.build_lock(uv, recipe, "3.11", uv_ver=uv_ver, cutoff=cutoff)
    assert again.error is None, again.error
    recorded = lr.read_header(text)["exclude-newer"]
    expected = text.replace(f"# exclude-newer: {recorded}\n", f"# exclude-newer: {cutoff} (uv {uv_ver})\n")
    assert again.text == expected
    # ...and `--reproduce` calls that the same lock, whichever uv made it
    assert lr.main(["--recipes", str(RECIPES), "--recipe", recipe.id, "--python", "3.11", "--uv", uv,
                    "--reproduce"]) == 0
