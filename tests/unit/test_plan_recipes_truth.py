"""Issue 13 through the pure planner and doctor: minimum macOS from the binaries (12.1, 11.3), the
Keras 2 stack, the TF 2.20 row for Python 3.9, the advisories a lock cannot move past."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import host_fixture
from tests.unit.test_doctor_rules import by_id, mac_stack
from tfsetup.doctor.rules import diagnose
from tfsetup.errors import EXIT_NO_RECIPE
from tfsetup.host.facts import PythonInfo
from tfsetup.plan import PlanError, PlanRequest, plan
from tfsetup.recipes import load_recipes

TABLE = load_recipes()


def mac(version: str):
    return replace(host_fixture("m1-native-homebrew"), os_version=version)


def test_metal_on_macos_12_0_is_refused_for_its_12_1_binaries():
    chosen = plan(mac("12.0"), TABLE)
    assert chosen.recipe.id == "macos-arm64-metal-tf2.15"  # metal 1.1.0's binaries need 11.3: it still loads
    metal = next(r for r in chosen.rejected if r.recipe == "macos-arm64-metal-tf2.19")
    assert any("needs macOS 12.1" in reason and "LC_BUILD_VERSION" in reason for reason in metal.reasons)
    with pytest.raises(PlanError) as info:
        plan(mac("12.0"), TABLE, PlanRequest(accelerator="metal", tf="2.19"))
    assert info.value.exit_code == EXIT_NO_RECIPE and info.value.fix
    assert plan(mac("12.1"), TABLE).recipe.id == "macos-arm64-metal-tf2.19"


def test_tensorflow_macos_29_needs_macos_11_3():
    big_sur = host_fixture("m1-big-sur")
    assert plan(replace(big_sur, os_version="11.3"), TABLE).recipe.id == "macos11-arm64-cpu-tfmacos2.9"
    with pytest.raises(PlanError) as info:
        plan(replace(big_sur, os_version="11.2"), TABLE)
    reasons = [r for rej in info.value.rejected if rej.recipe == "macos11-arm64-cpu-tfmacos2.9" for r in rej.reasons]
    assert any("needs macOS 11.3" in r for r in reasons), reasons


@pytest.mark.parametrize("host, recipe, version", [
    ("linux-x86_64-avx", "linux-x86_64-cpu-tf2.21-keras2", "2.21.0"),
    ("m2-pythonorg-universal2", "macos-arm64-metal-tf2.19-keras2", "2.19.1"),  # Metal: tf-keras 2.19.0
])
def test_keras_2_on_python_312_is_tf_with_tf_keras(host, recipe, version):
    chosen = plan(host_fixture(host), TABLE, PlanRequest(keras=2, python="3.12"))
    assert chosen.recipe.id == recipe and chosen.packages["tensorflow"] == version
    assert chosen.packages["tf-keras"] == version[:-1] + "0"  # tf-keras X.Y.0 goes with TF X.Y
    assert chosen.recipe.env == {"TF_USE_LEGACY_KERAS": "1"}
    assert chosen.to_json()["env"] == {"TF_USE_LEGACY_KERAS": "1"} and chosen.to_json()["keras"] == 2


KERAS2_METAL = "macos-arm64-metal-tf2.19-keras2"


@pytest.mark.parametrize("host, python", [("m1-xcode-python39-only", "3.9"), ("m2-pyenv-310", "3.10"),
                                          ("m3-pro-uv-311", "3.11"), ("m2-pythonorg-universal2", "3.12"),
                                          ("m1-native-homebrew", "3.12")])
def test_keras_2_on_apple_silicon_is_metal_with_tf_keras(host, python):
    """Not the 2.15 legacy set (metal 1.1.0, NumPy 1) nor CPU: TF 2.19.1 + tf-keras 2.19.0 + metal 1.2.0, on
    the host's own Python (with downloads allowed a Python past its end of life gives way to a managed one,
    on the same row: tests/unit/test_plan_managed.py)."""
    chosen = plan(host_fixture(host), TABLE, PlanRequest(keras=2, python_downloads="never"))
    assert chosen.recipe.id == KERAS2_METAL and chosen.python.minor == python
    assert chosen.recipe.accelerator == "metal" and chosen.recipe.keras == 2
    assert {k: chosen.packages[k] for k in ("tensorflow", "tf-keras", "tensorflow-metal")} == {
        "tensorflow": "2.19.1", "tf-keras": "2.19.0", "tensorflow-metal": "1.2.0"}
    assert chosen.to_json()["env"] == {"TF_USE_LEGACY_KERAS": "1"}
    assert plan(host_fixture(host), TABLE).recipe.id == "macos-arm64-metal-tf2.19"  # opt-in: never picked unasked
    assert plan(host_fixture(host), TABLE, PlanRequest(keras=2)).recipe.id == KERAS2_METAL  # downloads allowed


def test_keras_2_on_python_313_is_cpu_and_says_why_not_metal():
    chosen = plan(host_fixture("m2-python313-only"), TABLE, PlanRequest(keras=2, python_downloads="never"))
    assert chosen.recipe.id == "macos-arm64-cpu-tf2.21-keras2"
    (metal,) = [r for r in chosen.rejected if r.recipe == KERAS2_METAL]
    assert any("needs 3.9–3.12" in reason and "Python 3.13 is not supported" in reason for reason in metal.reasons)
    managed = plan(host_fixture("m2-python313-only"), TABLE, PlanRequest(keras=2))  # a Python uv downloads
    assert managed.recipe.id == KERAS2_METAL and managed.managed is not None


def test_keras_2_metal_needs_macos_12_1():
    chosen = plan(mac("12.0"), TABLE, PlanRequest(keras=2, python_downloads="never"))  # metal 1.1.0's need 11.3
    assert chosen.recipe.id == "macos-arm64-metal-tf2.15" and chosen.python.minor == "3.9"
    (metal,) = [r for r in chosen.rejected if r.recipe == KERAS2_METAL]
    assert any("needs macOS 12.1" in reason for reason in metal.reasons)
    assert plan(mac("12.1"), TABLE, PlanRequest(keras=2, python_downloads="never")).recipe.id == KERAS2_METAL


def test_keras_2_rows_are_never_chosen_unasked():
    for name in ("linux-x86_64-avx", "m2-pythonorg-universal2", "windows-cpu", "linux-aarch64-graviton"):
        assert plan(host_fixture(name), TABLE).recipe.keras_package != "tf-keras"


def test_a_python_39_host_gets_tf_2_20_the_newest_with_cp39_wheels():
    host = host_fixture("linux-x86_64-avx")
    py39 = PythonInfo(executable="/usr/bin/python3.9", version="3.9.18", implementation="cpython",
                      archs=["x86_64"], source="system")
    chosen = plan(replace(host, pythons=[py39]), TABLE, PlanRequest(python_downloads="never"))  # host's own only
    assert chosen.recipe.id == "linux-x86_64-cpu-tf2.20" and chosen.packages["tensorflow-cpu"] == "2.20.0"


def test_pre_release_rows_say_they_install_keras_nightly():
    chosen = plan(host_fixture("linux-x86_64-avx"), TABLE, PlanRequest(pre=True, tf="2.22"))
    assert "keras-nightly" in chosen.packages
    assert any("keras-nightly" in w for w in chosen.warnings)


def test_advisories_are_shown_for_the_chosen_pythons_lock_only():
    host = host_fixture("linux-x86_64-avx")
    py39 = PythonInfo(executable="/usr/bin/python3.9", version="3.9.18", implementation="cpython",
                      archs=["x86_64"], source="system")
    on39 = plan(replace(host, pythons=[py39]), TABLE, PlanRequest(python_downloads="never"))  # host's own only
    assert any("urllib3 2.6.3" in w for w in on39.warnings)
    assert not any("urllib3 2.6.3" in w for w in plan(host, TABLE).warnings)  # Python 3.12's lock moved on
    assert not any(" - http" in w for w in on39.warnings)  # sources stay in the table


def test_doctor_macos_too_old_names_the_binaries_minimum():
    env = mac_stack(tf="2.19.1", metal="1.2.0")
    finding = by_id(diagnose(env, mac("12.0"), TABLE), "macos-too-old")
    assert "macOS 12.1" in finding.message and "12.1 or newer" in finding.fix
    assert any("tensorflow-metal 1.2.0" in e and "12.1" in e for e in finding.evidence)
    assert "macos-too-old" not in {f.id for f in diagnose(env, mac("12.1"), TABLE)}


def test_doctor_on_demand_binaries_over_the_macos_are_a_warning_not_a_broken_env():
    from tfsetup.macho.dyld import Problem, Report

    # check_loads (prove.py) files a problem of an on-demand file under Report.on_demand, with when it loads
    # (macho/startup.py; tests/unit/test_prove_startup.py builds a real one): doctor reads that, no list of its own.
    gcs = Problem("macos-too-old", "tensorflow_io_gcs_filesystem/core/python/ops/libtensorflow_io_gcs_filesystem.so",
                  needs="14.0", have="13.6", when="loaded only with TF_USE_MODULAR_FILESYSTEM=1")
    core = Problem("macos-too-old", "tensorflow/python/_pywrap_tensorflow_internal.so", needs="14.0", have="13.6")
    env = mac_stack(tf="2.19.1", metal="1.2.0")
    only_gcs = replace(env, loader=Report(root="/env", arch="arm64", macos="13.6", on_demand=[gcs]))
    finding = by_id(diagnose(only_gcs, mac("13.6"), TABLE), "macos-too-old")
    assert finding.severity == "warning" and "`import tensorflow` works" in finding.message
    assert "TF_USE_MODULAR_FILESYSTEM=1" in finding.message
    both = replace(env, loader=Report(root="/env", arch="arm64", macos="13.6", problems=[core], on_demand=[gcs]))
    finding = by_id(diagnose(both, mac("13.6"), TABLE), "macos-too-old")
    assert finding.severity == "error" and any("_pywrap_tensorflow_internal" in e for e in finding.evidence)
