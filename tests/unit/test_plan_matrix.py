"""The pure planner over the bundled recipes table and the host-facts fixtures (DESIGN §4), with the
host's own Pythons only (--python-downloads never: exactly the planner before managed Pythons).

Each row states what a real user on that machine must get: recipe, TensorFlow, plug-in, the exact
interpreter, how it is launched, and which warnings they see. test_plan_managed.py has the default
(auto), where uv may download a native CPython.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, NamedTuple, Optional

import pytest

from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE
from tfsetup.plan import PlanError, PlanRequest, plan

from tests.conftest import FIXTURES, host_fixture

FRAMEWORK_312 = "/Library/Frameworks/Python.framework/Versions/3.12/bin/python3"


class Expected(NamedTuple):
    recipe: str
    tensorflow: str
    plugin: Optional[str]  # tensorflow-metal version, or None
    executable: str
    launch_prefix: List[str]  # launch == prefix + [executable]
    warnings: List[str]  # substrings, one per expected warning, in order; no other warnings


MATRIX: Dict[str, Expected] = {
    # Native Apple Silicon: Metal with the newest TF that loads metal 1.2.0 (2.19, not 2.20+).
    "m1-native-homebrew": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0",
                                   "/opt/homebrew/bin/python3.12", [], []),
    "m2-pythonorg-universal2": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0", FRAMEWORK_312, [], []),
    # uv's 3.11 is the only Python: still Metal, on 3.11.
    "m3-pro-uv-311": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0",
                              "/Users/dev/.local/share/uv/python/cpython-3.11.10-macos-aarch64-none/bin/python3",
                              [], []),
    # pyenv's 3.10 only: the Metal default on 3.10, with its 3.10 lock's advisory.
    "m2-pyenv-310": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0", "/Users/dev/.pyenv/versions/3.10.14/bin/python3.10",
                             [], ["keras 3.12.4"]),
    # An x86 Homebrew in /usr/local next to the arm64 one: the arm64 one is chosen.
    "m4-max-two-homebrews": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0",
                                     "/opt/homebrew/bin/python3.12", [], []),
    # tfsetup under Rosetta with a universal2 Python: the env must be built native.
    "m1-rosetta-universal2": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0", FRAMEWORK_312,
                                      ["arch", "-arm64"], ["runs under Rosetta"]),
    # Python 3.13 only: no tensorflow-metal wheel for cp313, so CPU TF 2.21, saying how to get Metal.
    "m2-python313-only": Expected("macos-arm64-cpu-tf2.21", "2.21.0", None, "/opt/homebrew/bin/python3.13", [],
                                  ["no Metal recipe fits (macos-arm64-metal-tf2.19: no usable Python for it"]),
    # macOS 11: metal 1.2.0 needs 12.1 (its dylib's LC_BUILD_VERSION); the old tensorflow-macos CPU set (11.3+).
    "m1-big-sur": Expected("macos11-arm64-cpu-tfmacos2.9", "2.9.2", None,
                           "/Library/Frameworks/Python.framework/Versions/3.10/bin/python3", [],
                           ["needs macOS 12.1", "legacy set", "advisory the lock cannot move past: protobuf 3.19.6",
                            "advisory the lock cannot move past: keras 2.9.0"]),
    # Intel Mac: 2.16.2 is the last TensorFlow with macOS x86_64 wheels.
    # Only Xcode's python3 (3.9, universal2): the Metal default supports 3.9 (its lock's advisories shown).
    "m1-xcode-python39-only": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0", "/usr/bin/python3", [],
                                       ["urllib3 2.6.3", "keras 3.10.0"]),
    # Fresh Macs of late 2026 (issue 21), host Pythons only: CPU-only, or nothing (NOTHING_FITS).
    "m3-max-homebrew-python313": Expected("macos-arm64-cpu-tf2.21", "2.21.0", None, "/opt/homebrew/bin/python3.13",
                                          [], ["no Metal recipe fits (macos-arm64-metal-tf2.19: no usable Python"]),
    "m2-homebrew-python311": Expected("macos-arm64-metal-tf2.19", "2.19.1", "1.2.0", "/opt/homebrew/bin/python3.11",
                                      [], []),
    "intel-mac-ventura": Expected("macos-x86_64-cpu-tf2.16", "2.16.2", None, "/usr/local/bin/python3.12", [],
                                  ["advisory the lock cannot move past: protobuf 4.25.9"]),
    "linux-x86_64-avx": Expected("linux-x86_64-cpu-tf2.21", "2.21.0", None,
                                 "/home/dev/.pyenv/versions/3.12.1/bin/python3", [], []),
    # Python 3.9 only: the default (2.21) needs 3.10+; the newest that fits is 2.20 (not 2.19, not 2.15).
    "linux-x86_64-python39-only": Expected("linux-x86_64-cpu-tf2.20", "2.20.0", None, "/usr/bin/python3", [],
                                           ["legacy set", "urllib3 2.6.3", "keras 3.10.0"]),
    "linux-x86_64-h100": Expected("linux-x86_64-cuda-tf2.21", "2.21.0", None, "/usr/bin/python3", [], []),
    # Driver 470 is below TensorFlow's CUDA 12 requirement: CPU, and the reason is shown.
    "linux-x86_64-old-nvidia-driver": Expected("linux-x86_64-cpu-tf2.21", "2.21.0", None, "/usr/bin/python3.11", [],
                                               ["needs NVIDIA driver 525.60.13 or newer; found 470.82.01"]),
    "linux-aarch64-graviton": Expected("linux-aarch64-cpu-tf2.21", "2.21.0", None, "/usr/bin/python3", [], []),
    "windows-cpu": Expected("windows-x86_64-cpu-tf2.21", "2.21.0", None,
                            r"C:\Users\dev\AppData\Local\Programs\Python\Python312\python.exe", [], []),
    "windows-nvidia": Expected("windows-x86_64-cpu-tf2.21", "2.21.0", None,
                               r"C:\Users\dev\AppData\Local\Programs\Python\Python311\python.exe", [], ["WSL2"]),
}

# Hosts where nothing fits without changing the machine (exit 3), and what the message must say.
NOTHING_FITS: Dict[str, List[str]] = {
    "m1-rosetta-x86-conda-only": ["x86_64 only; this macOS host is arm64", "install an arm64 Python 3.12"],
    "m3-python314-only": ["Python 3.14 is not supported", "nearest working choice: --pre"],
    "m4-homebrew-python314-only": ["Python 3.14 is not supported", "nearest working choice: --pre"],
    "m2-no-python": ["no Python interpreter was found on this host", "install an arm64 Python 3.12"],
    "linux-x86_64-no-avx": ["need AVX and this CPU lacks it", "use a machine whose CPU has AVX"],
    "linux-free-threaded-only": ["free-threaded build"],
}


NEVER = PlanRequest(python_downloads="never")


def test_matrix_covers_every_host_fixture():
    names = {p.stem for p in (FIXTURES / "hosts").glob("*.json")}
    assert names == set(MATRIX) | set(NOTHING_FITS)
    assert len(names) >= 15


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_plan_for_host(name, table):
    want = MATRIX[name]
    chosen = plan(host_fixture(name), table, NEVER)
    doc = chosen.to_json()
    assert doc["recipe"] == want.recipe
    tf_dist = chosen.recipe.distribution
    assert doc["packages"][tf_dist] == want.tensorflow
    assert doc["packages"].get("tensorflow-metal") == want.plugin
    assert doc["python"]["executable"] == want.executable
    assert doc["python"]["launch"] == want.launch_prefix + [want.executable]
    assert len(doc["warnings"]) == len(want.warnings), doc["warnings"]
    for text, warning in zip(want.warnings, doc["warnings"]):
        assert text in warning
    # every rejected row says why, in words
    assert all(r["reasons"] and all(len(reason) > 10 for reason in r["reasons"]) for r in doc["rejected"])


@pytest.mark.parametrize("name", sorted(NOTHING_FITS))
def test_nothing_fits(name, table):
    with pytest.raises(PlanError) as caught:
        plan(host_fixture(name), table, NEVER)
    assert caught.value.exit_code == EXIT_NO_RECIPE
    everything = " ".join([caught.value.message, caught.value.fix or ""] +
                          [r for rej in caught.value.rejected for r in rej.reasons])
    for text in NOTHING_FITS[name]:
        assert text in everything
    assert caught.value.rejected, "a refusal names each rejected recipe"


def test_metal_plan_pins_a_numpy_the_plugin_loads_with(table):
    chosen = plan(host_fixture("m1-native-homebrew"), table, PlanRequest())
    # tensorflow 2.19 supports NumPy 2 (TF 2.18+); the lock pins one exact version.
    assert chosen.packages["numpy"].startswith("2.")


def test_keras2_stack_on_request(table):
    chosen = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(tf="2.15"))
    assert chosen.recipe.id == "macos-arm64-metal-tf2.15"
    assert chosen.packages["tensorflow-metal"] == "1.1.0"
    assert chosen.packages["numpy"].startswith("1.")
    # 2.15 has no cp312 wheels: the newest fitting Python is 3.11, and this Mac has none
    assert chosen.python.minor in ("3.9", "3.10", "3.11")


def test_tf_2_21_with_metal_is_refused_with_the_nearest_choice(table):
    facts = host_fixture("m1-native-homebrew")
    with pytest.raises(PlanError) as caught:
        plan(facts, table, PlanRequest(tf="2.21", accelerator="metal"))
    assert caught.value.exit_code == EXIT_NO_RECIPE
    assert "nearest working choice: --tf 2.19" in caught.value.fix


def test_tf_2_21_without_accelerator_gives_cpu_and_says_how_to_get_metal(table):
    chosen = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(tf="2.21"))
    assert chosen.recipe.id == "macos-arm64-cpu-tf2.21"
    assert "tensorflow-metal" not in chosen.packages
    assert any("For Metal: --tf 2.19" in w for w in chosen.warnings)


def test_cpu_only_on_apple_silicon(table):
    chosen = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(accelerator="cpu"))
    assert chosen.recipe.id == "macos-arm64-cpu-tf2.21"
    assert chosen.warnings == []  # asked for: nothing to warn about


def test_older_versions_are_selectable(table):
    facts = host_fixture("linux-x86_64-avx")
    for tf, recipe in (("2.19", "linux-x86_64-cpu-tf2.19"), ("2.15", "linux-x86_64-cpu-tf2.15")):
        assert plan(facts, table, PlanRequest(tf=tf)).recipe.id == recipe
    gpu = host_fixture("linux-x86_64-h100")
    assert plan(gpu, table, PlanRequest(tf="2.18")).recipe.id == "linux-x86_64-cuda-tf2.18"
    assert plan(host_fixture("m1-native-homebrew"), table, PlanRequest(tf="2.18")).recipe.id \
        == "macos-arm64-metal-tf2.18"


def test_prerelease_only_with_pre(table):
    facts = host_fixture("linux-x86_64-avx")
    assert plan(facts, table, PlanRequest()).recipe.status != "prerelease"
    assert plan(facts, table, PlanRequest(tf="2.22", pre=True)).recipe.id == "linux-x86_64-cpu-tf2.22rc0"
    with pytest.raises(PlanError) as caught:
        plan(facts, table, PlanRequest(tf="2.22"))
    assert "--pre" in caught.value.fix


def test_python_request_picks_that_interpreter(table):
    facts = host_fixture("m2-pythonorg-universal2")  # python.org 3.12 (chosen by default), Homebrew 3.11
    chosen = plan(facts, table, PlanRequest(python="3.11"))
    assert chosen.recipe.id == "macos-arm64-metal-tf2.19"
    assert chosen.python.executable == "/opt/homebrew/opt/python@3.11/bin/python3.11"
    # 3.13 exists on this Mac but no Metal plug-in wheel does: CPU TF, and the warning says why
    on_313 = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(python="3.13"))
    assert on_313.recipe.id == "macos-arm64-cpu-tf2.21"
    assert any("Python 3.13" in w and "no Metal recipe fits" in w for w in on_313.warnings)
    # ... and names the Python that is already there rather than asking to install one
    assert any("For Metal: --python 3.12 (/opt/homebrew/bin/python3.12 is here)" in w for w in on_313.warnings)


def test_impossible_python_is_exit_3_with_reason(table):
    with pytest.raises(PlanError) as caught:
        plan(host_fixture("m1-native-homebrew"), table, replace(NEVER, python="3.8"))
    assert caught.value.exit_code == EXIT_NO_RECIPE
    reasons = [r for rej in caught.value.rejected for r in rej.reasons]
    # one short reason per recipe, not one per interpreter found
    assert all("3.8" in r and "/opt/homebrew" not in r for r in reasons
               if "pre-release" not in r and "chosen only with" not in r), reasons
    assert any(r.endswith("Python 3.8 was requested") for r in reasons)
    with pytest.raises(PlanError) as caught:
        plan(host_fixture("m1-native-homebrew"), table, replace(NEVER, python="3.10"))
    reasons = [r for rej in caught.value.rejected for r in rej.reasons]
    assert any("no Python 3.10 on this host (found 3.9, 3.12, 3.13)" in r for r in reasons), reasons


@pytest.mark.parametrize("request_", [PlanRequest(tf="2.99"), PlanRequest(tf="latest"), PlanRequest(python="3"),
                                      PlanRequest(recipe_id="nope"), PlanRequest(accelerator="rocm")])
def test_bad_requests_are_exit_2(request_, table):
    with pytest.raises(PlanError) as caught:
        plan(host_fixture("linux-x86_64-avx"), table, request_)
    assert caught.value.exit_code == EXIT_BAD_INPUT


def test_planning_is_pure(table):
    facts = host_fixture("m1-rosetta-universal2")
    first = plan(facts, table, PlanRequest()).to_json()
    again = plan(facts, table, PlanRequest()).to_json()
    assert first == again
    # another machine's facts plan differently from the same table: nothing is read from this host
    other = replace(facts, rosetta=False)
    assert plan(other, table, PlanRequest()).launch == [FRAMEWORK_312]


def test_plan_json_has_the_stable_keys(table):
    doc = plan(host_fixture("m1-native-homebrew"), table, PlanRequest()).to_json()
    assert {"recipe", "accelerator", "python", "packages", "warnings", "rejected"} <= set(doc)
    assert set(doc["python"]) >= {"executable", "version", "launch"}
    assert doc["accelerator"] == "metal"
