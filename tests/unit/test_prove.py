"""tfsetup prove (no network): input checks, the pure fix and ordering, doctor's loader rule over
loader facts, the export trie's empty edges, and the committed recipe proofs against the table."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tfsetup.env.facts import Distribution, EnvFacts
from tfsetup.doctor.rules import diagnose
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.macho.dyld import Problem, Report
from tfsetup.macho.reader import ExportTrie, version_tuple
from tfsetup.prove.loader import loader_for
from tfsetup.prove.macos import check_loads, check_macos, fix_for, ordered
from tfsetup.prove.result import ProveResult
from tfsetup.prove.subject import check_pins
from tfsetup.recipes import load_recipes

from tests.conftest import host_fixture
from tests.e2e.helpers import run_tfsetup

ROOT = Path(__file__).resolve().parents[2]
PROOFS = ROOT / "recipes" / "proofs"
PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"
CORE_LIB = "@rpath/_pywrap_tensorflow_internal.so"
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"
# tensorflow-io-gcs-filesystem 0.37.x (locked for Python <= 3.11) ships a .so built for macOS 14.0 under a
# macosx_12_0 tag; TF loads it only with TF_USE_MODULAR_FILESYSTEM=1. 0.34.0's is built for 11.0.
# tensorboard-data-server's bin/server (a program TensorBoard starts, never loaded by TF) is built for
# macOS 12.0 in its x86_64 wheel. The proofs list such files under "on_demand" (macho/startup.py says which,
# from TensorFlow's own rules), never in the verdict.


# --- the export trie (reader) --------------------------------------------------------------------

def test_trie_follows_an_empty_edge_to_a_terminal_like_dyld():
    # root -"_a"-> node{ -"_sub"-> T1, -""-> T2 }: the layout numpy's libgfortran has for
    # __gfortran_etime beside __gfortran_etime_sub (an exact match on a non-terminal node goes on).
    trie = ExportTrie(bytes([0, 1]) + b"_a\0" + bytes([6])
                      + bytes([0, 2]) + b"_sub\0" + bytes([16]) + b"\0" + bytes([20])
                      + bytes([2, 0, 0x10, 0]) + bytes([2, 0, 0x20, 0]))
    assert trie.lookup("_a") is not None and trie.lookup("_a").name == "_a"
    assert trie.lookup("_a_sub") is not None
    assert trie.lookup("_a_s") is None and trie.lookup("_b") is None and trie.lookup("") is None
    assert sorted(e.name for e in trie) == ["_a", "_a_sub"]


# --- input checks ----------------------------------------------------------------------------------

def test_pins_must_be_exact():
    assert check_pins(["tensorflow==2.20.0", "TensorFlow_Metal==1.2.0"]) == {
        "tensorflow": "2.20.0", "tensorflow-metal": "1.2.0"}
    for bad in ("tensorflow>=2.19", "tensorflow", "tensorflow==", "==2.1"):
        with pytest.raises(TfsetupError) as exc:
            check_pins([bad])
        assert exc.value.exit_code == EXIT_BAD_INPUT and "NAME==VERSION" in exc.value.fix_text()


def test_windows_is_said_to_be_not_proven_and_an_unknown_platform_is_refused():
    assert loader_for("macos-arm64").machine == "arm64" and loader_for("macos-x86_64").machine == "x86_64"
    assert (loader_for("linux-x86_64").format, loader_for("linux-aarch64").machine) == ("ELF", "aarch64")
    with pytest.raises(TfsetupError) as exc:
        loader_for("windows-x86_64")
    assert exc.value.exit_code == EXIT_BAD_INPUT and "not proven" in exc.value.message
    with pytest.raises(TfsetupError) as exc:
        loader_for("macos-ppc")
    assert "unknown --platform" in exc.value.message
    assert check_macos("12.1") == "12.1"
    with pytest.raises(TfsetupError):
        check_macos("twelve")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_tfsetup("prove", *args, timeout=120)


@pytest.mark.parametrize("args, says", [
    (("--platform", "windows-x86_64", "--python", "3.11", "tensorflow==2.20.0"), "not proven"),
    (("--platform", "linux-x86_64", "--python", "3.11", "--glibc", "2.x", "tensorflow==2.20.0"), "not a glibc version"),
    (("--python", "3.11", "tensorflow==2.20.0"), "needs --platform"),
    (("--platform", "macos-arm64", "tensorflow==2.20.0"), "needs --python"),
    (("--platform", "macos-arm64", "--python", "3.11", "tensorflow>=2"), "not an exact pin"),
    (("--platform", "macos-arm64", "--python", "3.11", "--macos", "x", "tensorflow==2.20.0"), "not a macOS version"),
])
def test_cli_bad_input_exits_2_with_one_error_and_a_fix(args, says):
    proc = _cli(*args, "--json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert says in doc["error"] and doc["fix"]
    assert proc.stderr.startswith("tfsetup: error: ") and "fix:" in proc.stderr


def test_a_windows_host_is_planned_then_said_to_be_not_proven():
    # Linux hosts are proven (prove/linux.py; tests/unit/test_elfcheck.py, the real lock in
    # tests/e2e/test_prove_linux.py); Windows's PE loader is not modelled.
    proc = _cli("--host-file", str(ROOT / "tests" / "fixtures" / "hosts" / "windows-cpu.json"), "--json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["error"].startswith("windows-x86_64 targets are not proven") and "linux-x86_64" in doc["fix"]


def test_env_mode_on_a_plain_dir_is_bad_input(tmp_path):
    proc = _cli("--env", str(tmp_path))
    assert proc.returncode == 2 and "no site-packages" in proc.stderr


def test_env_mode_on_an_env_without_binaries_loads(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "six-1.17.0.dist-info").mkdir(parents=True)
    (site / "six.py").write_text("")
    proc = _cli("--env", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["loads"] is True and doc["python"] == "3.11" and doc["packages"] == {"six": "1.17.0"}
    import platform  # nothing in a pure-Python env says where it runs: it is proven for this machine
    here = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    assert doc["checked"]["files"] == 0 and doc["platform"] in (f"linux-{here}", "macos-arm64", "macos-x86_64")


# --- pure: order, headline, fix --------------------------------------------------------------------

def _result(*problems: Problem, macos: str = "14.0") -> ProveResult:
    report = Report(root="/sp", arch="arm64", macos=macos, problems=list(problems))
    return ProveResult(loader_for("macos-arm64"), "macos-arm64", "3.11", macos, "--macos", {"tensorflow": "2.20.0", "tensorflow-metal": "1.2.0"},
                       report, 1.0, "pins")


def test_the_headline_is_what_dyld_meets_first_and_the_fix_names_the_working_pair():
    flat = Problem("symbol-not-found-flat", PLUGIN, symbol="_TF_AssignUpdateVariable", expected_in="flat namespace",
                   count=33)
    lib = Problem("library-not-loaded", PLUGIN, library=CORE_LIB, tried=[("x/_pywrap_tensorflow_internal.so",
                                                                         "no such file")])
    result = _result(flat, lib)
    assert [p.kind for p in result.problems] == ["library-not-loaded", "symbol-not-found-flat"]
    assert result.headline().startswith(f"Library not loaded: {CORE_LIB}\n  Referenced from: {PLUGIN}")
    table = load_recipes(None)
    assert fix_for(result, table) == \
        "use tensorflow 2.19.1 with tensorflow-metal 1.2.0: `tfsetup install --tf 2.19`"
    doc = result.to_json()
    assert doc["loads"] is False and doc["problems"][0] == {"kind": "library-not-loaded", "file": PLUGIN,
                                                            "library": CORE_LIB, "count": 1}
    assert set(doc) >= {"platform", "python", "macos", "packages", "loads", "problems", "checked", "seconds"}


def test_fix_for_a_refused_image_comes_first():
    old = Problem("macos-too-old", PLUGIN, needs="12.1", have="12.0")
    wrong = Problem("wrong-arch", "numpy/_core/_multiarray_umath.cpython-311-darwin.so", needs="arm64", have="x86_64")
    assert [p.kind for p in ordered([old, wrong])] == ["wrong-arch", "macos-too-old"]
    assert "has no arm64 slice" in fix_for(_result(old, wrong), None)
    assert "macOS 12.1 or newer" in fix_for(_result(old, macos="12.0"), None)


def test_check_loads_on_files_that_are_not_mach_o(tmp_path):
    (tmp_path / "a.so").write_bytes(b"\x7fELF" + bytes(60))  # an ELF .so is not a Mac binary: ignored
    report = check_loads(tmp_path, "arm64", "12.0")
    assert report.ok and report.files_checked == 0


# --- doctor: loader facts -> findings (pure) -------------------------------------------------------

def _env(loader: Report, *dists: Distribution) -> EnvFacts:
    return EnvFacts(path="/envs/mac", python="/envs/mac/bin/python", version="3.11.7", machine="x86_64",
                    sys_platform="linux", distributions={d.key: d for d in dists}, loader=loader)


TF_2191 = Distribution("tensorflow", "2.19.1", wheel_tags=("cp311-cp311-macosx_12_0_arm64",))
TF_2200 = Distribution("tensorflow", "2.20.0", wheel_tags=("cp311-cp311-macosx_12_0_arm64",))
METAL_120 = Distribution("tensorflow-metal", "1.2.0", wheel_tags=("cp311-cp311-macosx_12_0_arm64",))


def test_a_plugin_that_would_not_load_is_metal_plugin_abi_mismatch_naming_the_symbol():
    # the dist-info says metal 1.2.0 (loads with 2.19.1 by the table), the file is 1.1.0's: the bytes decide
    loader = Report("/sp", "arm64", "14.4.1", problems=[Problem(
        "symbol-not-found", PLUGIN, library=CORE_LIB, symbol=LOG_MESSAGE,
        expected_in="tensorflow/python/_pywrap_tensorflow_internal.so")],
        loaded=["tensorflow/python/_pywrap_tensorflow_internal.so", PLUGIN])
    findings = diagnose(_env(loader, TF_2191, METAL_120), host_fixture("m1-native-homebrew"), load_recipes(None))
    abi = [f for f in findings if f.id == "metal-plugin-abi-mismatch"]
    assert len(abi) == 1 and abi[0].severity == "error"
    assert LOG_MESSAGE in abi[0].message and "tensorflow-metal 1.2.0" in abi[0].message
    assert "tensorflow 2.19.1 with tensorflow-metal 1.2.0" in abi[0].fix
    assert not [f for f in findings if f.id == "rosetta-python"]  # a Linux python is not a translated one


def test_plugin_files_that_load_override_the_table_by_metadata():
    ok = Report("/sp", "arm64", "14.4.1", loaded=["tensorflow/python/_pywrap_tensorflow_internal.so", PLUGIN])
    table = load_recipes(None)
    host = host_fixture("m1-native-homebrew")
    assert "metal-plugin-abi-mismatch" in {f.id for f in diagnose(_env(None, TF_2200, METAL_120), host, table)}
    assert "metal-plugin-abi-mismatch" not in {f.id for f in diagnose(_env(ok, TF_2200, METAL_120), host, table)}


def test_x86_only_files_on_arm64_are_named():
    files = [f"numpy/.dylibs/lib{i}.dylib" for i in range(7)]
    loader = Report("/sp", "arm64", "14.4.1", problems=[Problem("wrong-arch", f, needs="arm64", have="x86_64")
                                                        for f in files])
    findings = diagnose(_env(loader, TF_2191), host_fixture("m1-native-homebrew"), load_recipes(None))
    x86 = next(f for f in findings if f.id == "x86-wheel-on-arm64")
    assert files[0] in x86.message and f"{files[0]}: x86_64 only, no arm64 slice" in x86.evidence
    assert "and 2 more files" in x86.evidence


def test_minos_over_the_hosts_macos_is_macos_too_old():
    loader = Report("/sp", "arm64", "12.0", problems=[Problem("macos-too-old", PLUGIN, needs="12.1", have="12.0")])
    findings = diagnose(_env(loader, TF_2191, METAL_120), host_fixture("m1-native-homebrew"), load_recipes(None))
    old = next(f for f in findings if f.id == "macos-too-old")
    assert "12.1" in old.message and any(PLUGIN in e for e in old.evidence)


# --- the committed proofs against the table ----------------------------------------------------------

def _mac_pairs():
    return [(r, py) for r in load_recipes(None).recipes if r.os == "macos" for py in sorted(r.locks)]


def _proof(recipe_id: str, python: str) -> dict:
    return json.loads((PROOFS / recipe_id / f"py{python}.json").read_text(encoding="utf-8"))


def test_every_macos_recipe_and_python_has_a_proof_of_its_current_lock():
    missing, stale = [], []
    for recipe, python in _mac_pairs():
        path = PROOFS / recipe.id / f"py{python}.json"
        if not path.is_file():
            missing.append(f"{recipe.id} py{python}")
            continue
        doc = _proof(recipe.id, python)
        if doc["lock_sha256"] != recipe.locks[python].digest:
            stale.append(f"{recipe.id} py{python}")
    assert not missing, f"no proof (run scripts/prove_recipes.py): {missing}"
    assert not stale, f"proof of another lock (rerun scripts/prove_recipes.py --recipe ID): {stale}"


def _documented(recipe, entry: dict) -> bool:
    """An on-demand file over min_os is named in the row's notes, with the macOS it needs."""
    return entry["file"].split("/")[0].replace("_", "-") in recipe.notes and entry["minos"] in recipe.notes


def test_stable_metal_recipes_have_a_passing_proof():
    failing = [f"{recipe.id} py{python}: {_proof(recipe.id, python)['dyld']}" for recipe, python in _mac_pairs()
               if recipe.accelerator == "metal" and recipe.status == "stable"
               and _proof(recipe.id, python)["verdict"] != "loads"]
    assert not failing


def test_every_proof_judges_what_import_tensorflow_loads():
    """A problem of a file loaded only on demand never decides the verdict (issue 18: 24 of 46 proofs said
    does-not-load for tensorflow-io-gcs-filesystem, which TF loads only with TF_USE_MODULAR_FILESYSTEM=1)."""
    for recipe, python in _mac_pairs():
        doc = _proof(recipe.id, python)
        assert doc["schema"] == 2 and "on_demand" in doc, f"{recipe.id} py{python}: rerun scripts/prove_recipes.py"
        assert doc["verdict"] == ("loads" if not doc["problems"] else "does-not-load")
        assert all(p["when"] for p in doc["on_demand_problems"])


def test_min_os_is_the_highest_minos_of_what_import_tensorflow_loads():
    """min_os is the highest minos over the binaries `import tensorflow` loads (TF's images, the extension
    modules of the lock, the tensorflow-plugins/ libraries); a binary loaded only on demand may need more,
    and then the row's notes say which and what (never silently)."""
    failing = []
    for recipe, python in _mac_pairs():
        doc = _proof(recipe.id, python)
        assert doc["macos"] == recipe.min_os, f"{recipe.id} py{python} was proven for another macOS: rerun"
        if doc["highest_minos"]["minos"] != recipe.min_os:
            failing.append(f"{recipe.id} py{python}: min_os {recipe.min_os} != {doc['highest_minos']}")
        for entry in doc["on_demand"]:
            if entry["minos"] and version_tuple(entry["minos"]) > version_tuple(recipe.min_os) \
                    and not _documented(recipe, entry):
                failing.append(f"{recipe.id} py{python}: {entry['file']} needs {entry['minos']}, not in the notes")
    assert not failing


def test_the_default_metal_recipe_loads_on_macos_12_1_and_13_6():
    """Its proofs are made at min_os 12.1; what loads needs nothing newer, so 13.6 (and every macOS between)
    loads too: only the on-demand tensorflow-io-gcs-filesystem (Python <= 3.11) needs 14.0."""
    table = load_recipes(None)
    row = next(r for r in table.recipes if r.os == "macos" and r.machine == "arm64" and r.accelerator == "metal"
               and r.default)
    for python in sorted(row.locks):
        doc = _proof(row.id, python)
        assert doc["verdict"] == "loads" and doc["macos"] == "12.1", python
        assert version_tuple(doc["highest_minos"]["minos"]) <= version_tuple("12.1") <= version_tuple("13.6")
