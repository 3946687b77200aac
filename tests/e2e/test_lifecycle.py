"""The env lifecycle for real (Linux x86_64, Python 3.11, the bundled CPU recipes, PyPI): `add pandas`
keeps the locked stack and the env verifies; `upgrade --tf 2.21` from the 2.15 recipe carries pandas,
and when the new env fails verification the old one is left byte for byte; `add` of a package that
needs NumPy 1 into the NumPy 2 env is refused naming the conflict.

One env serves every test, in file order (each real TensorFlow install costs CI minutes): the 2.15
env is made once, gets pandas, survives a failed upgrade, is upgraded, then refuses scipy 1.11.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import scratch
from tests.e2e.helpers import env_record, installed_versions, json_out, leftovers, manifest, run_tfsetup

pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the real pipeline runs on Linux"),
              pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the 2.15 -> 2.21 path needs Python 3.11")]

STACK = ("tensorflow-cpu", "tensorflow", "numpy", "keras", "protobuf", "ml-dtypes", "tensorboard")


@pytest.fixture(scope="module")
def env215(tmp_path_factory) -> Path:
    with scratch(tmp_path_factory, "lifecycle") as scratch_root:
        root = scratch_root / "envs ü"
        root.mkdir()
        target = root / "tf 2.15"
        proc = run_tfsetup("install", str(target), "--tf", "2.15", "--python", "3.11", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json_out(proc)["plan"]["recipe"] == "linux-x86_64-cpu-tf2.15"
        yield target


def test_add_pandas_keeps_the_stack_and_the_env_verifies(env215):
    before = {k: v for k, v in installed_versions(env215).items() if k in STACK}
    proc = run_tfsetup("add", "pandas", "--env", str(env215), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert "pandas" in doc["added"] and doc["verification"]["ok"] is True
    after = installed_versions(env215)
    assert {k: v for k, v in after.items() if k in STACK} == before and after["numpy"].startswith("1.")
    assert env_record(env215)["user_packages"] == {"pandas": after["pandas"]}
    verify = run_tfsetup("verify", str(env215), "--json")
    assert verify.returncode == 0, verify.stderr
    check = subprocess.run([str(env215 / "bin" / "python"), "-c", "import pandas, tensorflow"], capture_output=True)
    assert check.returncode == 0, check.stderr


def test_a_failed_upgrade_leaves_the_old_env_exactly(env215):
    before = manifest(env215)
    proc = run_tfsetup("upgrade", str(env215), "--tf", "2.21", "--yes", "--json",
                       env={"TFSETUP_TEST_FAIL_VERIFY": "1"})
    assert proc.returncode == 4, proc.stderr
    assert json_out(proc)["target_unchanged"] is True
    assert manifest(env215) == before and leftovers(env215.parent) == []


def test_upgrade_to_221_carries_pandas(env215):
    pandas = installed_versions(env215)["pandas"]
    proc = run_tfsetup("upgrade", str(env215), "--tf", "2.21", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert doc["upgraded"] is True and doc["recipe"] == "linux-x86_64-cpu-tf2.21"
    assert doc["verification"]["ok"] is True and "pandas" in doc["carried"]
    after = installed_versions(env215)
    assert after["tensorflow-cpu"] == "2.21.0" and after["numpy"].startswith("2.")
    assert after["pandas"] == doc["carried"]["pandas"]["to"] and doc["carried"]["pandas"]["from"] == pandas
    rec = env_record(env215)
    assert rec["recipe"] == "linux-x86_64-cpu-tf2.21" and rec["upgraded_from"]["recipe"] == "linux-x86_64-cpu-tf2.15"
    check = subprocess.run([str(env215 / "bin" / "python"), "-c", "import pandas, tensorflow"], capture_output=True)
    assert check.returncode == 0, check.stderr
    assert leftovers(env215.parent) == []


def test_add_of_a_numpy_1_package_into_the_numpy_2_env_is_refused(env215):
    before = installed_versions(env215)
    proc = run_tfsetup("add", "scipy==1.11.4", "--env", str(env215), "--json")
    assert proc.returncode == 4, proc.stderr
    doc = json_out(proc)
    conflict = doc["conflicts"][0]
    assert conflict["moves"] == ["numpy"] and "numpy" in doc["error"] and before["numpy"] in doc["error"]
    assert conflict["nearest"]  # some scipy fits NumPy 2
    assert f"scipy=={conflict['nearest']}" in doc["fix"]
    assert installed_versions(env215) == before
