"""The planner's reasons, refusals and warnings, one branch at a time (each exact enough that a dropped
reason, a flipped condition or an emptied message fails here; found by scripts/mutation.py)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE
from tfsetup.host.facts import PythonInfo
from tfsetup.plan import PlanError, PlanRequest, host_reasons, plan

from tests.conftest import host_fixture

LINUX = host_fixture("linux-x86_64-avx")
MAC = host_fixture("m1-native-homebrew")


def py(version: str, executable: str = "/usr/bin/python3", **kw) -> PythonInfo:
    return PythonInfo(executable, version, archs=kw.pop("archs", ["x86_64"]), source=kw.pop("source", "system"), **kw)


# The host's own Pythons only (a managed CPython from uv would fill every gap these tests make).
HOST_ONLY = PlanRequest(python_downloads="never")


def refusal(facts, table, request=HOST_ONLY) -> PlanError:
    with pytest.raises(PlanError) as caught:
        plan(facts, table, request)
    return caught.value


def reasons_of(error: PlanError, recipe_id: str):
    return next(r.reasons for r in error.rejected if r.recipe == recipe_id)


def test_interpreter_reasons_name_what_is_wrong(table):
    only = lambda *p: replace(LINUX, pythons=list(p))  # noqa: E731
    err = refusal(only(py("3.12.1", implementation="pypy")), table)
    assert reasons_of(err, "linux-x86_64-cpu-tf2.21") == [
        "no usable Python for it (needs 3.10–3.13, x86_64): /usr/bin/python3: pypy, not CPython"]
    err = refusal(only(py("3.13.0rc1")), table)
    assert "/usr/bin/python3: Python 3.13.0rc1 is a pre-release; pass --pre to allow it" in \
        reasons_of(err, "linux-x86_64-cpu-tf2.21")[0]
    assert plan(only(py("3.13.0rc1")), table, replace(HOST_ONLY, pre=True)).recipe.id == "linux-x86_64-cpu-tf2.21"
    err = refusal(replace(LINUX, pythons=[]), table)
    assert reasons_of(err, "linux-x86_64-cpu-tf2.21") == [
        "no usable Python for it (needs 3.10–3.13, x86_64): no Python interpreter was found on this host"]
    assert err.fix == "install Python 3.13 (`uv python install 3.13`)"


def test_a_recipe_without_a_lock_for_the_python_is_refused_with_the_script_to_run(table):
    recipes = tuple(replace(r, locks={k: v for k, v in r.locks.items() if k != "3.12"})
                    if r.id == "linux-x86_64-cpu-tf2.21" else r for r in table.recipes)
    facts = replace(LINUX, pythons=[py("3.12.1")])
    chosen = plan(facts, replace(table, recipes=recipes), HOST_ONLY)
    assert chosen.recipe.id == "linux-x86_64-cpu-tf2.20"
    assert reasons_of(chosen, "linux-x86_64-cpu-tf2.21") == [
        "no usable Python for it (needs 3.10–3.13, x86_64): /usr/bin/python3: no lock for Python 3.12 "
        "(run scripts/lock_recipes.py)"]


def test_one_python_span_is_named_alone(table):
    recipes = tuple(replace(r, pythons=("3.12",)) if r.id == "linux-x86_64-cpu-tf2.21" else r for r in table.recipes)
    chosen = plan(replace(LINUX, pythons=[py("3.11.2")]), replace(table, recipes=recipes), HOST_ONLY)
    assert reasons_of(chosen, "linux-x86_64-cpu-tf2.21") == [
        "no usable Python for it (needs 3.12, x86_64): /usr/bin/python3: Python 3.11 is not supported (needs 3.12)"]


def test_same_version_interpreters_prefer_the_builds_made_for_this(table):
    facts = replace(LINUX, pythons=[py("3.12.3", "/opt/conda/bin/python3", source="conda"),
                                    py("3.12.3", "/x/weird/python3", source="something-else"),
                                    py("3.12.3", "/home/u/.pyenv/versions/3.12.3/bin/python3", source="pyenv")])
    assert plan(facts, table).python.executable == "/home/u/.pyenv/versions/3.12.3/bin/python3"
    unknown_vs_conda = replace(facts, pythons=facts.pythons[1::-1])
    assert plan(unknown_vs_conda, table).python.executable == "/opt/conda/bin/python3"  # an unknown source last


def test_host_reasons(table):
    old_glibc = refusal(replace(LINUX, glibc="2.17"), table)
    assert reasons_of(old_glibc, "linux-x86_64-cpu-tf2.21") == ["needs glibc 2.28 or newer; this host has 2.17"]
    no_gpu = refusal(LINUX, table, PlanRequest(accelerator="cuda"))
    assert reasons_of(no_gpu, "linux-x86_64-cuda-tf2.21") == ["needs an NVIDIA GPU; none found (no nvidia-smi "
                                                              "or no device)"]
    intel = host_fixture("intel-mac-ventura")
    assert refusal(intel, table, PlanRequest(accelerator="metal")).message.startswith("no recipe fits")
    other = refusal(LINUX, table, PlanRequest(recipe_id="macos-arm64-metal-tf2.19"))
    assert other.message == "recipe macos-arm64-metal-tf2.19 is built for macOS arm64; this host is Linux x86_64"


def test_macos_minimum_is_inclusive(table):
    assert plan(replace(MAC, os_version="12.1"), table).recipe.id == "macos-arm64-metal-tf2.19"
    on_12_0 = plan(replace(MAC, os_version="12.0.1", pythons=[p for p in MAC.pythons if p.minor == "3.9"]), table)
    assert on_12_0.recipe.id == "macos-arm64-metal-tf2.15"
    assert plan(replace(MAC, os_version="not a version"), table).recipe.id == "macos-arm64-metal-tf2.19"


def test_request_reasons(table):
    err = refusal(MAC, table, PlanRequest(tf="2.21", accelerator="metal"))
    assert reasons_of(err, "macos-arm64-cpu-tf2.21") == ["CPU-only recipe; Metal was requested"]
    err = refusal(MAC, table, PlanRequest(tf="2.18", accelerator="cpu"))
    assert reasons_of(err, "macos-arm64-metal-tf2.18") == ["Metal recipe; CPU-only was requested"]
    keras2 = plan(LINUX, table, PlanRequest(keras=2))
    assert keras2.recipe.id == "linux-x86_64-cpu-tf2.21-keras2"
    assert "tf.keras is Keras 3 here; Keras 2 was requested" in reasons_of(keras2, "linux-x86_64-cpu-tf2.21")
    default = plan(LINUX, table, PlanRequest(tf="2.21"))
    assert default.recipe.id == "linux-x86_64-cpu-tf2.21"
    by_id = plan(LINUX, table, PlanRequest(recipe_id="linux-x86_64-cpu-tf2.21-keras2"))
    assert by_id.recipe.id == "linux-x86_64-cpu-tf2.21-keras2"  # asked by id: no --keras 2 needed
    err = refusal(LINUX, table, PlanRequest(tf="2.21", keras=2, accelerator="cuda"))
    assert "a Keras 2 stack" not in " ".join(reasons_of(err, "linux-x86_64-cpu-tf2.21-keras2"))


def test_keras2_rows_need_keras_2(table):
    err = refusal(LINUX, table, PlanRequest(recipe_id="linux-x86_64-cpu-tf2.21", keras=2))
    assert reasons_of(err, "linux-x86_64-cpu-tf2.21-keras2")[0] == \
        "not the requested recipe linux-x86_64-cpu-tf2.21"
    chosen = plan(LINUX, table, PlanRequest())
    rows = {r.recipe: r.reasons for r in chosen.rejected}
    # listed, not hidden: the flag it needs, and the one change that picks it (checked by planning it)
    assert rows["linux-x86_64-cpu-tf2.21-keras2"] == ["a Keras 2 stack (tf-keras), chosen only with --keras 2"]
    select = next(r.select for r in chosen.rejected if r.recipe == "linux-x86_64-cpu-tf2.21-keras2")
    assert select is not None and select.flags == ("--recipe linux-x86_64-cpu-tf2.21-keras2",)
    assert plan(LINUX, table, select.request).recipe.id == "linux-x86_64-cpu-tf2.21-keras2"


def test_unknown_tf_versions(table):
    err = refusal(LINUX, table, PlanRequest(tf="2.19.0"))
    assert err.exit_code == EXIT_BAD_INPUT
    assert err.message == ("no recipe pins TensorFlow 2.19.0; 2.19 is pinned at 2.19.1 (the tested patch release): "
                           "pass --tf 2.19")
    err = refusal(LINUX, table, PlanRequest(tf="2.99"))
    assert err.message.startswith("no recipe for TensorFlow 2.99; the recipe")
    assert "2.21, 2.20, 2.19, " in err.message  # the known versions, newest first
    assert err.message.endswith(", 2.22 (pre-release, with --pre)")  # pre-releases last, said as such
    assert err.to_json().get("rejected") is None  # exit 2: no rejections in the document
    three = refusal(host_fixture("linux-x86_64-no-avx"), table)
    assert three.to_json()["rejected"] and three.to_json()["error"]


def test_no_recipe_for_this_platform(table):
    err = refusal(replace(host_fixture("windows-cpu"), machine="arm64"), table)
    platforms = sorted({r.platform for r in table.recipes})
    assert err.message == f"no recipe exists for windows arm64; tfsetup has recipes for {', '.join(platforms)}"
    assert err.rejected == [] and err.fix is None


def test_no_avx_names_the_check_on_linux(table):
    err = refusal(host_fixture("linux-x86_64-no-avx"), table)
    assert err.fix == "use a machine whose CPU has AVX (check: `grep -o -w avx /proc/cpuinfo`), " \
                      "or build TensorFlow from source without it"
    assert err.message.endswith("; every x86_64 TensorFlow wheel on PyPI is built with AVX")


def test_warnings_for_unknown_cpu_flags_conda_and_recipe_notes(table):
    chosen = plan(replace(LINUX, cpu_flags=[]), table)
    assert chosen.warnings == ["could not read the CPU's flags; assuming AVX (without it the import dies with "
                               "SIGILL)"]
    assert plan(replace(host_fixture("linux-aarch64-graviton"), cpu_flags=[]), table).warnings == []
    conda = plan(replace(LINUX, pythons=[py("3.12.3", "/opt/conda/bin/python3", source="conda")]), table)
    assert conda.warnings == ["the chosen Python is a conda interpreter (/opt/conda/bin/python3); a Homebrew or "
                              "python.org build is a better base for a venv"]
    pre = plan(LINUX, table, PlanRequest(tf="2.22", pre=True))
    assert pre.warnings == list(pre.recipe.warnings) and pre.warnings


def test_python_request_that_only_cpu_fits_names_the_python_that_would_give_the_accelerator(table):
    gpu = replace(host_fixture("linux-x86_64-h100"), pythons=[py("3.9.2"), py("3.12.3", "/usr/bin/python3.12")])
    chosen = plan(gpu, table, PlanRequest(python="3.9", tf="2.20"))
    assert chosen.recipe.id == "linux-x86_64-cpu-tf2.20"
    (warning,) = [w for w in chosen.warnings if "CUDA" in w]
    assert warning.startswith("CPU-only TensorFlow: no CUDA recipe fits (linux-x86_64-cuda-tf2.21: ")
    # not --tf 2.21: CUDA 2.21 needs Python 3.10+, and --python 3.9 was given; 2.18 plans CUDA on 3.9
    assert warning.endswith("For CUDA: --tf 2.18 (linux-x86_64-cuda-tf2.18: TensorFlow 2.18.1, Python 3.9)."), warning
    (hint,) = chosen.hints
    assert plan(gpu, table, hint.request).recipe.id == "linux-x86_64-cuda-tf2.18"
    assert chosen.to_json()["rejected"][0]["recipe"] == "linux-x86_64-cuda-tf2.21"
    assert PlanError("x").to_json()["rejected"] == [] and PlanError("x").exit_code == EXIT_NO_RECIPE


def test_a_metal_row_on_a_host_without_an_apple_gpu_says_so(table):
    """Reachable through `--recipes-file` (a team's table with a Metal row for another platform): the
    reason must be given, so the mutant that drops it is not equivalent (it was once listed as such)."""
    linux_cpu = next(r for r in table.recipes if r.platform == LINUX.platform and r.accelerator == "cpu")
    metal_on_linux = replace(linux_cpu, accelerator="metal")
    assert host_reasons(metal_on_linux, LINUX) == ["needs an Apple Silicon GPU"]
    assert host_reasons(linux_cpu, LINUX) == []
