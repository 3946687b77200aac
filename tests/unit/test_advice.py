"""Advice that works (issue 18, item 9): add's positional env, and the fix lines of add's refusals.
The commands end to end: tests/faults/test_lifecycle.py (test_every_fix_a_failure_prints_works ...)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tfsetup.commands.add import split_env
from tfsetup.envs.add import locked_needs, refusal_fix, stack_with
from tfsetup.envs.upgrade import choose_plan
from tfsetup.errors import TfsetupError
from tfsetup.packages import Conflict
from tfsetup.recipes import load_recipes

from tests.conftest import host_fixture

TABLE = load_recipes()
LINUX = host_fixture("linux-x86_64-avx")
RECIPE = TABLE.by_id("linux-x86_64-cpu-tf2.21")
PINS = dict(RECIPE.locks["3.12"].pins)
RECORD = {"recipe": RECIPE.id, "accelerator": "cpu", "python": {"version": "3.12.1"}, "lock": {"pins": PINS}}


def tfsetup_env(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (path / "tfsetup-env.json").write_text(json.dumps({"recipe": "r"}))
    return path


def test_the_last_argument_is_the_env_when_it_is_a_path_or_a_tfsetup_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tfsetup_env(tmp_path / "tf-env")
    (tmp_path / "pandas").mkdir()  # a folder named like a package, not an env: still the package
    assert split_env(["tabulate", "tf-env"], None) == (["tabulate"], Path("tf-env"))
    assert split_env(["tabulate", "./anything"], None) == (["tabulate"], Path("./anything"))
    assert split_env(["tabulate", "pandas"], None) == (["tabulate", "pandas"], None)
    assert split_env(["numpy<2"], None) == (["numpy<2"], None)
    assert split_env(["tabulate", "tf-env"], Path("/e")) == (["tabulate", "tf-env"], Path("/e"))  # --env: all packages
    with pytest.raises(TfsetupError) as info:
        split_env(["tf-env"], None)
    assert info.value.exit_code == 2 and info.value.fix == "name the packages before it: `tfsetup add pandas tf-env`"


def test_a_locked_package_gets_the_upgrade_whose_stack_has_it_and_that_upgrade_plans():
    conflict = Conflict("numpy<2", "numpy<2 needs numpy<2 but the verified set has numpy " + PINS["numpy"],
                        ["numpy"], nearest=PINS["numpy"], name="numpy")
    assert locked_needs([conflict], PINS) == {"numpy": SpecifierSet("<2")}
    fix = refusal_fix([conflict], Path("/e"), RECORD, PINS, PINS,
                      lambda needs: stack_with(needs, RECORD, LINUX, TABLE))
    assert fix is not None and f"numpy=={PINS['numpy']}" not in fix and "tfsetup add" not in fix, fix
    chosen = stack_with({"numpy": SpecifierSet("<2")}, RECORD, LINUX, TABLE)
    assert chosen is not None and f"`tfsetup upgrade /e --tf {chosen.recipe.tf_minor}`" in fix
    # what `tfsetup upgrade /e --tf X.Y` plans (the same planner) has a NumPy 1
    again = choose_plan(RECORD, LINUX, TABLE, chosen.recipe.tf_minor)
    assert again.recipe.id == chosen.recipe.id and again.lock.pins["numpy"].startswith("1.")


def test_the_nearest_version_is_offered_only_when_it_changes_something():
    pandas = Conflict("pandas==3.0.0", "pandas==3.0.0 needs numpy>=2.3 but the verified set has numpy 2.1.3",
                      ["numpy"], nearest="2.2.3", name="pandas")
    fix = refusal_fix([pandas], Path("/my env"), RECORD, {"numpy": "2.1.3"}, {}, lambda needs: None)
    assert fix == "the nearest version that fits: `tfsetup add pandas==2.2.3 '/my env'`"
    installed = refusal_fix([pandas], Path("/e"), RECORD, {"numpy": "2.1.3"}, {"pandas": "2.2.3"}, lambda n: None)
    assert installed is not None and "tfsetup add" not in installed  # 2.2.3 is there already: not a fix


def test_a_package_that_is_not_on_the_index_is_not_sent_to_upgrade():
    missing = Conflict("nope", "Because nope was not found in the package registry and you require nope, we can "
                       "conclude that your requirements are unsatisfiable.", [], name="nope")
    fix = refusal_fix([missing], Path("/e"), RECORD, PINS, PINS, lambda needs: pytest.fail("not an upgrade matter"))
    assert fix == "check the name: nope is not on the package index this env uses"
