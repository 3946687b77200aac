"""scripts/prove_recipes.py keeps each proof by its lock's bytes, uv's version and the checker's code
(proof_key): a warm --check fetches nothing, and any change of those is another key."""
from __future__ import annotations

import dataclasses
import shutil

from tfsetup import bincache
from tfsetup.backends.uv import UvBackend
from tfsetup.prove import verdicts
from tfsetup.recipes import load_recipes

from tests.conftest import load_script


def _one(table):
    return next((r, py) for r in table.recipes if r.os == "macos" and r.accelerator == "metal" for py in sorted(r.locks))


def test_a_kept_proof_is_returned_without_proving_and_any_input_is_another_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TFSETUP_NO_CACHE", raising=False)
    bincache.forget()
    script = load_script("prove_recipes")
    table = load_recipes(None)
    recipe, python = _one(table)
    backend = UvBackend()
    key = script.proof_key(recipe, python, backend)
    assert key is not None and key == script.proof_key(recipe, python, backend)
    planted = {"schema": script.SCHEMA, "verdict": "a proof kept earlier"}
    bincache.store(key, planted)
    bincache.forget()
    # fetching would need the index: offline with an empty uv cache it fails, so an answer proves none was tried
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv"))
    assert script.prove_kept(recipe, python, table, backend) == planted

    lock = tmp_path / "lock.txt"
    shutil.copy(recipe.locks[python].path, lock)
    with open(lock, "a") as handle:
        handle.write("# one more line\n")
    edited = dataclasses.replace(recipe, locks={python: dataclasses.replace(recipe.locks[python], path=str(lock))})
    assert script.proof_key(edited, python, backend) != key
    assert script.proof_key(dataclasses.replace(recipe, status="experimental" if recipe.status != "experimental"
                                                else "stable"), python, backend) != key
    monkeypatch.setattr(verdicts, "_checker", ["another checker"])
    assert script.proof_key(recipe, python, backend) != key
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    bincache.forget()
    assert script.proof_key(recipe, python, backend) is None
