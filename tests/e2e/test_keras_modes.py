"""Every Linux x86_64 CPU recipe of the bundled table that supports this Python, installed for real
with the flags a user gives for it (`--keras 2` for a Keras 2 row, `--pre` for a pre-release), then
verified: exit 0, tf-version passes with `tf.keras` being the Keras the row promises (asked of Keras
itself: issue 18, every `install --keras 2` failed), and the env's own python and console scripts work
without activation. The rows come from the table: a new row is tested without touching this file.

A row whose TensorFlow wheel the rest of the suite does not install (SHARED_WHEELS) is installed with a
uv cache of its own, deleted after it: its unpacked wheel (1.1-1.8 GB) never sits in the shared cache
for the rest of the run (CI's disk is finite). Of those, the rows not needed for a Keras mode (2.19, 2.20,
2.22rc0: the keras2 row is the one `--keras 2` row) carry the `every_recipe` marker and are skipped unless
TFSETUP_TEST_EVERY_RECIPE=1: 50-70 s each on 2 cores at load ~13, download included; see README
"Development"."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import List

import pytest

from tests.conftest import scratch
from tests.e2e.helpers import PY, json_out, leftovers, run_tfsetup
from tfsetup.plan import flags_to_pick
from tfsetup.recipes import Recipe, load_recipes

pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the real pipeline runs on Linux")]

ROWS = [r for r in load_recipes().recipes
        if r.platform == "linux-x86_64" and r.accelerator == "cpu" and PY in r.pythons and PY in r.locks]
# The TF wheels (distribution, version) the rest of the suite installs anyway, so a row using one costs
# an install from the warm shared cache: test_install (the default), test_lifecycle and test_doctor (2.15).
SHARED_WHEELS = {("tensorflow-cpu", "2.21.0"), ("tensorflow-cpu", "2.15.1")}
# Rows run by default though their wheel is not shared: the one tf-keras (`--keras 2`) row.
ALWAYS = {("tensorflow", "2.21.0")}
EVERY_RECIPE = os.environ.get("TFSETUP_TEST_EVERY_RECIPE") == "1"
# The top-level package behind `tf.keras` for each keras_package of the table.
KERAS_MODULE = {"keras": "keras", "keras-nightly": "keras", "tf-keras": "tf_keras"}


def flags(recipe: Recipe) -> List[str]:
    """What a user types for this row: its TF version, the flags without which plan never picks it
    (--pre, --keras 2 for a tf-keras row), and --keras 2 for any Keras 2 row (the Keras mode it offers)."""
    picked = [part for flag in flags_to_pick(recipe) for part in flag.split()]
    if recipe.keras == 2 and "--keras" not in picked:
        picked += ["--keras", "2"]
    return ["--tf", recipe.tf_minor] + picked


def cases() -> list:
    params = []
    for recipe in ROWS:
        wheel = (recipe.distribution, recipe.tensorflow)
        marks = [] if wheel in SHARED_WHEELS | ALWAYS else [pytest.mark.every_recipe, pytest.mark.skipif(
            not EVERY_RECIPE, reason=f"{recipe.distribution} {recipe.tensorflow} is installed by no other test: "
                                     "set TFSETUP_TEST_EVERY_RECIPE=1")]
        params.append(pytest.param(recipe, id=f"{recipe.id}[{' '.join(flags(recipe))}]", marks=marks))
    return params


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    with scratch(tmp_path_factory, "keras-modes") as root:
        yield root


def test_the_rows_come_from_the_table():
    ids = {r.id for r in ROWS}
    assert any(r.keras == 2 and r.keras_package == "tf-keras" for r in ROWS), ids  # the --keras 2 row
    assert any(r.keras == 3 for r in ROWS), ids


@pytest.mark.parametrize("recipe", cases())
def test_install_verifies_the_keras_the_row_promises(workdir, recipe):
    target = workdir / recipe.id
    own_cache = None if (recipe.distribution, recipe.tensorflow) in SHARED_WHEELS else workdir / f"{recipe.id}-cache"
    proc = run_tfsetup("install", str(target), "--python", PY, *flags(recipe), "--yes", "--json",
                       env={"UV_CACHE_DIR": str(own_cache)} if own_cache else None)
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert doc["plan"]["recipe"] == recipe.id and doc["verification"]["ok"] is True
    check = {c["id"]: c for c in doc["verification"]["checks"]}["tf-version"]
    assert check["status"] == "pass", check
    package = KERAS_MODULE[recipe.keras_package]
    assert check["data"]["tf.keras"]["package"] == package
    assert check["data"]["tf.keras"]["version"].startswith(f"{recipe.keras}."), check

    # The env's own python, no activation: tf.keras is that Keras (a .pth sets TF_USE_LEGACY_KERAS=1).
    script = "import tensorflow as tf; print(tf.keras.Model.__module__)"
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    out = subprocess.run([str(target / "bin" / "python"), "-c", script], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split(".")[0] == package, out.stdout
    # A console script of the env (NumPy's f2py: every TF stack has NumPy) runs at the env's final place.
    f2py = subprocess.run([str(target / "bin" / "f2py"), "-v"], capture_output=True, text=True, timeout=120)
    assert f2py.returncode == 0 and f2py.stdout.strip() == doc["plan"]["packages"]["numpy"], (f2py.stdout, f2py.stderr)
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert record["keras"] == recipe.keras and record["recipe"] == recipe.id
    assert leftovers(workdir) == []

    if recipe.keras_package == "tf-keras":  # `tfsetup verify` judges it from the record, the same way
        again = run_tfsetup("verify", str(target), "--json")
        assert again.returncode == 0, again.stderr
        check = {c["id"]: c for c in json_out(again)["checks"]}["tf-version"]
        assert check["status"] == "pass" and check["data"]["tf.keras"]["package"] == "tf_keras", check
        # The check has teeth: without the .pth that sets TF_USE_LEGACY_KERAS=1, tf.keras is Keras 3.
        for pth in target.glob("lib/python*/site-packages/_tfsetup_env.pth"):
            pth.unlink()
        broken = run_tfsetup("verify", str(target), "--json")
        assert broken.returncode == 1, broken.stderr
        check = {c["id"]: c for c in json_out(broken)["checks"]}["tf-version"]
        assert check["status"] == "fail", check
        assert check["message"].startswith("tf.keras is keras 3.") and "the recipe promises Keras 2" in check["message"]
    shutil.rmtree(target)  # one env of real wheels on disk at a time
    if own_cache:
        shutil.rmtree(own_cache)
