"""`tfsetup prove` and doctor's loader check on real macOS arm64 wheels from PyPI, on Linux.

Downloads are kept to what tests/e2e/test_macho_real.py already fetches (TensorFlow 2.19.1 / 2.20.0
cp311, tensorflow-metal 1.1.0 / 1.2.0) plus numpy and the two recipe locks' small wheels: uv's cache
(UV_CACHE_DIR, set by scripts/test.sh) holds each wheel once for every test.

uv installs by hard-linking files from its cache: a test that changes an installed file must unlink it
first (writing through the link would change the cache, and every env made from it)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

from tests.e2e.helpers import json_out, run_tfsetup, uv

pytestmark = [pytest.mark.network, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
M1 = str(ROOT / "tests" / "fixtures" / "hosts" / "m1-native-homebrew.json")
PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"
CORE_LIB = "@rpath/_pywrap_tensorflow_internal.so"
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"
NUMPY = "numpy==2.1.3"


def mac_env(path: Path, *specs: str, platform: str = "aarch64-apple-darwin", replace: Sequence[str] = ()) -> Path:
    """A Mac-shaped venv: a Linux python, macOS wheels (--no-deps); `replace`: installed packages to put in
    again for this platform (--reinstall-package; a plain --reinstall would download TensorFlow again)."""
    if not path.exists():
        uv("venv", "--quiet", "--python", "3.11", str(path))
    uv("pip", "install", "--quiet", "--python", str(path / "bin" / "python"), "--python-platform", platform,
       "--no-deps", *(a for name in replace for a in ("--reinstall-package", name)), *specs)
    return path


def site(env: Path) -> Path:
    return env / "lib" / "python3.11" / "site-packages"


def doctor(env: Path) -> dict:
    proc = run_tfsetup("doctor", "--host-file", M1, str(env), "--json")
    assert proc.returncode == 1, proc.stderr
    return json_out(proc)


def finding(doc: dict, finding_id: str) -> dict:
    found = [f for f in doc["findings"] if f["id"] == finding_id]
    assert found, [f["id"] for f in doc["findings"]]
    return found[0]


def test_prove_pins_tf_220_metal_120_does_not_load():
    proc = run_tfsetup("prove", "--platform", "macos-arm64", "--python", "3.11", "tensorflow==2.20.0",
                       "tensorflow-metal==1.2.0")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Library not loaded: {CORE_LIB}" and lines[1] == f"  Referenced from: {PLUGIN}"
    assert "fix: use tensorflow 2.19.1 with tensorflow-metal 1.2.0: `tfsetup install --tf 2.19`" in lines
    assert len(lines) < 25  # grouped: a count and a few examples, never every symbol
    doc = json_out(run_tfsetup("prove", "--platform", "macos-arm64", "--python", "3.11", "--macos", "12.1",
                               "tensorflow==2.20.0", "tensorflow-metal==1.2.0", "--json"))
    assert doc["loads"] is False and doc["macos"] == "12.1"
    assert doc["packages"] == {"tensorflow": "2.20.0", "tensorflow-metal": "1.2.0"}
    assert [(p["kind"], p["file"]) for p in doc["problems"]] == [
        ("library-not-loaded", PLUGIN), ("symbol-not-found-flat", PLUGIN)]
    assert doc["problems"][1]["count"] > 30 and doc["checked"]["bindings"] > 10_000


def test_prove_pins_tf_2191_metal_120_loads_and_judges_minos():
    pins = ("tensorflow==2.19.1", "tensorflow-metal==1.2.0")
    doc = json_out(run_tfsetup("prove", "--platform", "macos-arm64", "--python", "3.11", *pins, "--json"))
    assert doc["loads"] is True and doc["problems"] == [] and doc["macos"] == "12.1"  # the recipe's min_os
    proc = run_tfsetup("prove", "--platform", "macos-arm64", "--python", "3.11", "--macos", "12.0", *pins, "--json")
    assert proc.returncode == 1
    assert [(p["kind"], p["file"], p["needs"]) for p in json_out(proc)["problems"]] == [
        ("macos-too-old", PLUGIN, "12.1")]


def test_prove_a_pin_that_does_not_exist_cannot_fetch():
    proc = run_tfsetup("prove", "--platform", "macos-arm64", "--python", "3.11", "tensorflow-metal==0.0.1",
                       "--json")
    assert proc.returncode == 4, proc.stderr
    assert "cannot fetch" in json_out(proc)["error"] and "fix:" in proc.stderr


def test_doctor_on_a_mac_shaped_tf_220_env_names_the_library(tmp_path):
    env = mac_env(tmp_path / "mac220", "tensorflow==2.20.0", "tensorflow-metal==1.2.0", NUMPY)
    abi = finding(doctor(env), "metal-plugin-abi-mismatch")
    assert CORE_LIB in abi["message"] and abi["severity"] == "error"
    assert "tensorflow 2.19.1 with tensorflow-metal 1.2.0" in abi["fix"]
    proc = run_tfsetup("prove", "--env", str(env), "--host-file", M1, "--json")
    assert proc.returncode == 1 and json_out(proc)["macos"] == "14.4.1"


def test_doctor_judges_the_plugin_by_its_bytes_not_its_dist_info(tmp_path):
    env = mac_env(tmp_path / "mac219", "tensorflow==2.19.1", "tensorflow-metal==1.2.0", NUMPY)
    ok = doctor(env)  # requirement findings (--no-deps) make it exit 1; the plug-in loads
    assert "metal-plugin-abi-mismatch" not in [f["id"] for f in ok["findings"]]
    assert ok["env"]["loader"]["loads"] is True
    other = tmp_path / "metal110"
    uv("pip", "install", "--quiet", "--target", str(other), "--python-platform", "aarch64-apple-darwin",
       "--python-version", "3.11", "--no-deps", "tensorflow-metal==1.1.0")
    installed = site(env) / PLUGIN
    installed.unlink()  # a hard link into uv's cache: never write through it
    shutil.copyfile(other / PLUGIN, installed)
    assert (site(env) / "tensorflow_metal-1.2.0.dist-info").is_dir()  # the metadata still says 1.2.0
    abi = finding(doctor(env), "metal-plugin-abi-mismatch")
    assert LOG_MESSAGE in abi["message"]


def test_doctor_names_an_x86_64_numpy_in_an_arm64_env(tmp_path):
    env = mac_env(tmp_path / "mixed", "tensorflow==2.19.1", "tensorflow-metal==1.2.0", NUMPY)
    mac_env(env, NUMPY, platform="x86_64-apple-darwin", replace=["numpy"])
    x86 = finding(doctor(env), "x86-wheel-on-arm64")
    assert "numpy/" in x86["message"] and any(e.startswith("numpy/") and "x86_64 only" in e for e in x86["evidence"])


@pytest.mark.parametrize("recipe", ["macos-arm64-metal-tf2.19", "macos-arm64-cpu-tf2.20"])
def test_recipe_proof_is_reproduced(recipe):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "prove_recipes.py"), "--check", "--recipe", recipe,
                           "--python", "3.11"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"{recipe} py3.11: same")
    doc = json.loads((ROOT / "recipes" / "proofs" / recipe / "py3.11.json").read_text())
    assert doc["wheels"]["tensorflow"]["sha256"] and doc["checked"]["files"] > 60


def test_the_readme_transcript_is_what_prove_prints():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    command = "tfsetup prove --platform macos-arm64 --python 3.11 tensorflow==2.20.0 tensorflow-metal==1.2.0"
    start = lines.index(f"$ {command}") + 1
    shown = lines[start:lines.index("```", start)]
    proc = run_tfsetup(*command.split()[1:])
    assert proc.returncode == 1
    printed = proc.stdout.splitlines()
    assert printed[:-1] == shown[:-1]  # all but the timing line, word for word
    assert re.sub(r"in [0-9.]+ s", "", printed[-1]) == re.sub(r"in [0-9.]+ s", "", shown[-1])


# --- issue 18: what loads decides; an env is proven as the platform its files say --------------------

GCS = "tensorflow_io_gcs_filesystem/core/python/ops/libtensorflow_io_gcs_filesystem.so"


@pytest.mark.parametrize("macos", ["12.1", "13.6"])
def test_the_default_metal_lock_loads_on_macos_12_1_and_13_6(macos):
    """tensorflow-io-gcs-filesystem 0.37 (in the Python 3.9-3.11 locks) needs macOS 14.0, and TF loads it only
    with TF_USE_MODULAR_FILESYSTEM=1: a note, not a failure. Python 3.11, whose TensorFlow wheel the other
    tests here read too (a 3.9 one would be another 1.1 GB unpacked in the test cache)."""
    proc = run_tfsetup("prove", "--host-file", M1, "--python", "3.11", "--macos", macos)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("loads: tensorflow 2.19.1 + tensorflow-metal 1.2.0")
    assert f"note: {GCS} is loaded only with TF_USE_MODULAR_FILESYSTEM=1, needs macOS 14.0" in proc.stdout


def _here() -> str:
    import platform

    return {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


def test_prove_env_proves_a_linux_env_as_linux_and_names_the_wrong_arch_wheel(tmp_path):
    other = "aarch64" if _here() == "x86_64" else "x86_64"
    env = tmp_path / "linux"
    uv("venv", "--quiet", "--python", "3.11", str(env))
    uv("pip", "install", "--quiet", "--python", str(env / "bin" / "python"), "--python-platform",
       f"{other}-unknown-linux-gnu", "--no-deps", NUMPY)
    proc = run_tfsetup("prove", "--env", str(env), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json_out(proc)
    assert doc["platform"] == f"linux-{_here()}" and doc["loads"] is False and doc["checked"]["files"] > 0
    assert doc["problems"] and all(p["kind"] == "wrong-arch" and p["file"].startswith("numpy") for p in doc["problems"])


def test_prove_env_reads_a_mac_shaped_envs_platform_and_refuses_a_proof_of_nothing(tmp_path):
    env = mac_env(tmp_path / "mac219", "tensorflow==2.19.1", "tensorflow-metal==1.2.0", NUMPY)
    doc = json_out(run_tfsetup("prove", "--env", str(env), "--macos", "14.4", "--json"))
    assert doc["platform"] == "macos-arm64" and doc["loads"] is True and doc["checked"]["files"] > 60
    proc = run_tfsetup("prove", "--env", str(env), "--platform", "linux-x86_64", "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "holds tensorflow 2.19.1 but no ELF file for linux-x86_64" in json_out(proc)["error"]
