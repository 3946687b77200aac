"""`prove --env` proves an env as the platform its own files say (its wheels' tags, its interpreter, its
binaries), and a proof of TensorFlow that read none of its binaries is never "loads" (issue 18)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfsetup.commands.prove import env_platform, tag_platform
from tfsetup.elfcheck.reader import read_elf

from tests.e2e.helpers import run_tfsetup
from tests.unit.test_macho_reader import macho, write

# The interpreter tests link the env's bin/python to the Python running them: an ELF file on Linux.
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs an ELF interpreter")


def _machine() -> str:
    return read_elf(os.path.realpath(sys.executable)).machine


def _env(root: Path, tags: dict, interpreter: bool = True) -> Path:
    """A venv: pyvenv.cfg, bin/python (-> the running Python), and dist-infos whose WHEEL has `tags`."""
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    if interpreter:
        (root / "bin").mkdir()
        (root / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
        (root / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\nversion_info = 3.11.7\n")
    for dist, tag in tags.items():
        info = site / f"{dist}.dist-info"
        info.mkdir()
        (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
    return root


def test_wheel_tags_name_os_and_arch():
    assert tag_platform("cp311-cp311-macosx_12_0_arm64") == ("macos", "arm64")
    assert tag_platform("cp311-cp311-macosx_10_9_universal2") == ("macos", "universal2")
    assert tag_platform("cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64") == ("linux", "aarch64")
    assert tag_platform("cp311-cp311-musllinux_1_2_x86_64") == ("linux", "x86_64")
    assert tag_platform("py3-none-any") is None and tag_platform("cp311-cp311-win_amd64") is None


@linux_only
def test_an_envs_interpreter_decides_the_arch_of_its_own_os(tmp_path):
    other = "aarch64" if _machine() == "x86_64" else "x86_64"
    env = _env(tmp_path / "env", {"numpy-2.1.3": f"cp311-cp311-manylinux_2_17_{other}.manylinux2014_{other}"})
    platform, evidence = env_platform(env, env / "lib" / "python3.11" / "site-packages")
    assert platform == f"linux-{_machine()}"  # the process is the interpreter's: the other-arch wheel is the problem
    assert any("interpreter" in e for e in evidence) and any(f"linux-{other}" in e for e in evidence)


@linux_only
def test_a_mac_shaped_env_is_a_mac_env_whatever_runs_it_here(tmp_path):
    env = _env(tmp_path / "env", {"tensorflow-2.19.1": "cp311-cp311-macosx_12_0_arm64",
                                  "numpy-2.1.3": "cp311-cp311-macosx_14_0_x86_64"})
    assert env_platform(env, env / "lib" / "python3.11" / "site-packages")[0] == "macos-arm64"  # TF's wheel first


def test_without_an_interpreter_the_wheels_then_the_binaries_say(tmp_path):
    env = _env(tmp_path / "a", {"numpy-2.1.3": "cp311-cp311-macosx_10_9_universal2"}, interpreter=False)
    assert env_platform(env, env / "lib" / "python3.11" / "site-packages")[0] == "macos-arm64"
    bare = _env(tmp_path / "b", {}, interpreter=False)
    site = bare / "lib" / "python3.11" / "site-packages"
    write(site / "pkg" / "x.so", macho(cpu=(0x01000007, 3), minos="10.15"))  # an x86_64 Mach-O file
    assert env_platform(bare, site)[0] == "macos-x86_64"
    empty = _env(tmp_path / "c", {}, interpreter=False)
    assert env_platform(empty, empty / "lib" / "python3.11" / "site-packages")[0] is None  # nothing says


def _prove(*args: str) -> subprocess.CompletedProcess:
    return run_tfsetup("prove", *args, timeout=120)


def test_an_env_holding_tensorflow_without_its_binaries_is_never_loads(tmp_path):
    env = _env(tmp_path / "env", {"tensorflow-2.19.1": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"},
               interpreter=False)
    write(env / "lib" / "python3.11" / "site-packages" / "tensorflow" / "__init__.py", b"")
    proc = _prove("--env", str(env), "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert "holds tensorflow 2.19.1 but no ELF file for linux-x86_64" in doc["error"]
    assert proc.stderr.count("tfsetup: error:") == 1 and "fix:" in proc.stderr
