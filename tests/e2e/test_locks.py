"""Every committed lock parses, still resolves against the real index, and its hashes are real.

Needs the package index (PyPI). The resolutions and index fetches run once per session in a
thread pool; each lock then gets its own test id.
"""
from __future__ import annotations

import concurrent.futures
import functools
import importlib.util
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tfsetup.recipes import Recipe, load_recipes, normalize_name, parse_lock_text

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes" / "recipes.toml"


def _load_script():
    spec = importlib.util.spec_from_file_location("lock_recipes", REPO / "scripts" / "lock_recipes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("lock_recipes", module)
    spec.loader.exec_module(module)
    return module


lr = _load_script()


def _uv() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


def _cases() -> List[Tuple[Recipe, str]]:
    if not RECIPES.is_file():
        return []
    table = load_recipes(RECIPES)
    return [(r, py) for r in table.recipes for py in r.pythons if (RECIPES.parent / r.lock_relpath(py)).is_file()]


CASES = _cases()


def _lock_text(recipe: Recipe, python: str) -> str:
    return (RECIPES.parent / recipe.lock_relpath(python)).read_text(encoding="utf-8")


def _resolve(uv: str, recipe: Recipe, python: str) -> Dict[str, str]:
    pins = parse_lock_text(_lock_text(recipe, python), recipe.lock_relpath(python))
    out = lr.uv_compile(uv, recipe, python, [f"{n}=={v}" for n, v in sorted(pins.items())], hashes=False)
    return {name: version for name, version, _ in lr.parse_uv_output(out)}


@functools.lru_cache(maxsize=None)
def _session() -> Dict[str, object]:
    """Resolve every lock and fetch every pinned project's listing, in parallel, once."""
    uv = _uv()
    projects = set()
    for recipe, py in CASES:
        projects.update(parse_lock_text(_lock_text(recipe, py), recipe.lock_relpath(py)))
    results: Dict[str, object] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        fetches = {pool.submit(lr.fetch_listing, p): p for p in sorted(projects)}
        resolves = {pool.submit(_resolve, uv, r, py): f"{r.id}/py{py}" for r, py in CASES}
        for future, key in list(resolves.items()) + list(fetches.items()):
            try:
                results[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - reported by the test that needs it
                results[key] = exc
    return results


def _ids() -> List[str]:
    return [f"{r.id}/py{py}" for r, py in CASES]


def test_table_and_locks_agree() -> None:
    """Every recipe x python has a lock, and every lock file belongs to one."""
    if not RECIPES.is_file():
        pytest.skip("recipes/recipes.toml not written yet")
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
    assert text.startswith(lr.HEADER_MARK)


@pytest.mark.parametrize("recipe,python", CASES, ids=_ids())
def test_lock_still_resolves(recipe: Recipe, python: str) -> None:
    result = _session()[f"{recipe.id}/py{python}"]
    if isinstance(result, Exception):
        pytest.fail(f"uv cannot resolve the lock's own pins:\n{result}")
    pins = parse_lock_text(_lock_text(recipe, python), recipe.lock_relpath(python))
    assert result == pins, "\n".join(lr.pin_diff(pins, result))


@pytest.mark.parametrize("recipe,python", CASES, ids=_ids())
def test_lock_hashes_exist_and_fit(recipe: Recipe, python: str) -> None:
    session = _session()
    tags = lr.recipe_tags(recipe, python)
    problems = []
    for name, version, hashes in lr.parse_uv_output(_lock_text(recipe, python)):
        listing = session.get(name)
        if isinstance(listing, Exception) or listing is None:
            problems.append(f"{name}: cannot fetch index listing: {listing}")
            continue
        files = listing.get(str(lr.Version(version)), [])
        on_index = {sha for _, sha in files}
        unknown = [h for h in hashes if h not in on_index]
        if unknown:
            problems.append(f"{name}=={version}: {len(unknown)} hash(es) not on the index")
        if not set(hashes) & set(lr.filter_hashes(tags, files)):
            problems.append(f"{name}=={version}: no hash of a wheel for {recipe.platform} cp{python.replace('.', '')}")
    assert not problems, "\n".join(problems)
