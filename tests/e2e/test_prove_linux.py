"""`tfsetup prove` for Linux on the real linux-x86_64-cpu-tf2.21 Python 3.11 lock (issue 12): its wheels
load together on the recipe's glibc 2.28, and a claim of glibc 2.17 fails naming files and GLIBC
versions they really need (read back from the files with readelf when it is installed).

The wheels come from uv's cache (UV_CACHE_DIR, set by scripts/test.sh): about 1.5 GB unpacked by hard
links, fetched from the index only on a cold cache."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import json_out, run_tfsetup

pytestmark = [pytest.mark.network, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOST = str(ROOT / "tests" / "fixtures" / "hosts" / "linux-x86_64-avx.json")
LOCK = ROOT / "recipes" / "locks" / "linux-x86_64-cpu-tf2.21" / "py3.11.txt"


def test_the_cpu_lock_loads_on_the_recipes_glibc():
    proc = run_tfsetup("prove", "--host-file", HOST, "--python", "3.11", "--tf", "2.21", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert (doc["platform"], doc["python"], doc["glibc"]) == ("linux-x86_64", "3.11", "2.28")
    assert doc["glibc_from"] == "recipe linux-x86_64-cpu-tf2.21 min_glibc"
    assert doc["loads"] is True and doc["problems"] == []
    assert doc["packages"]["tensorflow-cpu"] == "2.21.0"
    assert doc["subject"] == "lock locks/linux-x86_64-cpu-tf2.21/py3.11.txt"
    assert doc["checked"]["files"] > 100 and doc["checked"]["dependencies"] > 500
    newest = tuple(int(x) for x in doc["highest_glibc"]["glibc"].split("."))
    assert (2, 17) < newest <= (2, 28)


def test_claiming_glibc_2_17_fails_naming_files_and_versions_they_need(tmp_path):
    from tfsetup.backends import get_backend
    from tfsetup.backends.base import PackageSource
    from tfsetup.prove.proof import fetch_and_prove
    from tfsetup.recipes import load_recipes

    recipe = next(r for r in load_recipes(None).recipes if r.id == "linux-x86_64-cpu-tf2.21")  # manylinux 2.28
    keep = tmp_path / "site"
    result = fetch_and_prove(get_backend("uv"), "linux-x86_64", "3.11", "2.17", "--glibc", "lock", PackageSource(),
                             None, lock=LOCK, recipe=recipe, keep=keep)
    assert not result.loads
    kinds = {p.kind for p in result.problems}
    assert kinds == {"glibc-too-old"}, [p.to_json() for p in result.problems]
    files = [p.file for p in result.problems]
    assert "tensorflow/libtensorflow_cc.so.2" in files
    first = result.problems[0]
    assert first.have == "2.17" and tuple(map(int, first.needs.split("."))) > (2, 17)
    assert result.headline() == f"ImportError: libc.so.6: version `GLIBC_{first.needs}' not found " \
                                f"(required by {first.file})"
    if shutil.which("readelf"):  # what the files really need, read by binutils
        for p in result.problems[:3]:
            out = subprocess.run(["readelf", "-V", str(keep / p.file)], capture_output=True, text=True).stdout
            assert set(p.examples) <= set(re.findall(r"Name: (GLIBC_[0-9.]+)", out))
            assert f"GLIBC_{p.needs}" in out
    # the CLI says the same, exit 1
    proc = run_tfsetup("prove", "--host-file", HOST, "--python", "3.11", "--tf", "2.21", "--glibc", "2.17", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json_out(proc)
    assert doc["loads"] is False and doc["glibc"] == "2.17" and doc["glibc_from"] == "--glibc"
    assert {p["file"] for p in doc["problems"]} == set(files)
