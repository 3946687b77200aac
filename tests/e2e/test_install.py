"""tfsetup install, for real: real TensorFlow CPU wheels, real venvs, real imports (Linux x86_64)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, scratch
from tests.e2e.helpers import PY, json_out, leftovers, manifest, run_tfsetup

pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the real pipeline runs on Linux")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    with scratch(tmp_path_factory, "install") as root:
        path = root / "my envs ü"  # spaces and non-ASCII on purpose: valid paths must work
        path.mkdir()
        yield path


@pytest.fixture(scope="module")
def uv_env(workdir):
    target = workdir / "tf env"
    proc = run_tfsetup("install", str(target), "--python", PY, "--json")
    assert proc.returncode == 0, proc.stderr
    return target, json_out(proc)


def test_install_verifies_and_records(uv_env):
    target, doc = uv_env
    assert doc["ok"] is True
    checks = {c["id"]: c["status"] for c in doc["verification"]["checks"]}
    for required in ("python-arch", "tf-import", "tf-version", "numpy-version", "build-info", "cpu-ops",
                     "train-step"):
        assert checks[required] == "pass", doc["verification"]
    assert checks["gpu-devices"] == checks["gpu-op"] == "skip"
    assert set(doc["timings"]) == {"venv", "install", "verify", "promote"}
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert record["recipe"] == doc["plan"]["recipe"] and record["verification"]["ok"] is True
    assert record["lock"]["digest"] == doc["plan"]["lock"]["digest"]
    assert record["host"]["machine"] == "x86_64"
    assert leftovers(target.parent) == []


def test_console_scripts_work_after_the_move(uv_env):
    target, _ = uv_env
    out = subprocess.run([str(target / "bin" / "pygmentize"), "-V"], capture_output=True, text=True)
    assert out.returncode == 0 and "Pygments version" in out.stdout
    activate = subprocess.run(["bash", "-c", f'source "{target}/bin/activate" && python -c '
                               '"import sys, numpy; print(sys.prefix)"'], capture_output=True, text=True)
    assert activate.returncode == 0, activate.stderr
    assert Path(activate.stdout.strip()).resolve() == target.resolve()


def test_verify_command_on_the_env(uv_env):
    target, _ = uv_env
    proc = run_tfsetup("verify", str(target), "--json")
    assert proc.returncode == 0, proc.stderr
    assert all(c["status"] in ("pass", "skip") for c in json_out(proc)["checks"])


def test_existing_env_is_kept_when_up_to_date_refused_when_different_then_replaced(uv_env):
    target, _ = uv_env
    before = manifest(target)
    first_created = json.loads((target / "tfsetup-env.json").read_text())["created_at"]
    again = run_tfsetup("install", str(target), "--python", PY, "--json")  # the same plan: nothing to do
    assert again.returncode == 0, again.stderr
    assert json_out(again)["unchanged"] is True and json_out(again)["replaced"] is False
    assert manifest(target) == before
    refused = run_tfsetup("install", str(target), "--python", PY, "--tf", "2.19")  # another stack
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert manifest(target) == before
    replaced = run_tfsetup("install", str(target), "--python", PY, "--force", "--json")
    assert replaced.returncode == 0, replaced.stderr
    doc = json_out(replaced)
    assert doc["replaced"] is True
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert record["created_at"] > first_created
    assert leftovers(target.parent) == []
    assert subprocess.run([str(target / "bin" / "pygmentize"), "-V"], capture_output=True).returncode == 0


def test_pip_backend_gives_the_same_result(workdir):
    target = workdir / "pip env"
    proc = run_tfsetup("install", str(target), "--python", PY, "--backend", "pip", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert doc["verification"]["ok"] is True
    # pip writes absolute shebangs (or, for paths with spaces, a /bin/sh trampoline that execs the
    # absolute python): they must point at the final place, not the staging dir.
    script = target / "bin" / "pygmentize"
    head = "\n".join(script.read_text().splitlines()[:3])
    assert f"{target}/bin/python" in head and ".tfsetup-stage-" not in head, head
    assert subprocess.run([str(script), "-V"], capture_output=True).returncode == 0
    assert ".tfsetup-stage-" not in (target / "bin" / "activate").read_text()
    assert leftovers(workdir) == []


def test_failed_verification_leaves_the_previous_env_byte_for_byte(workdir):
    target = workdir / "previous"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    (target / "lib" / "notes.txt").write_text("a file only the previous env has\n")
    before = manifest(target)
    proc = run_tfsetup("install", str(target), "--force", "--python", PY, "--json",
                       "--recipes-file", str(FIXTURES / "recipes-broken" / "recipes.toml"))
    assert proc.returncode == 4, proc.stderr
    doc = json_out(proc)
    assert doc["target_unchanged"] is True
    failed = {c["id"]: c for c in doc["verification"]["checks"] if c["status"] == "fail"}
    assert "tf-import" in failed, doc["verification"]
    assert "numpy" in (failed["tf-import"]["message"] + json.dumps(failed["tf-import"]["data"])).lower()
    assert manifest(target) == before
    assert leftovers(workdir) == []


def test_non_venv_directory_is_refused_and_untouched(workdir):
    target = workdir / "my project"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    proc = run_tfsetup("install", str(target), "--force", "--python", PY)
    assert proc.returncode == 2
    assert "not a virtual environment" in proc.stderr and "Traceback" not in proc.stderr
    assert (target / "thesis.tex").read_text() == "precious" and len(list(target.iterdir())) == 1


def test_path_that_is_a_file_and_unwritable_parent(workdir):
    afile = workdir / "a file"
    afile.write_text("x")
    proc = run_tfsetup("install", str(afile), "--python", PY)
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert afile.read_text() == "x"
    if os.geteuid() == 0:  # root can write nearly anywhere; /proc is refused before any attempt
        unwritable, expected = Path("/proc/sys/tfsetup-env"), "kernel interface"
    else:
        ro = workdir / "read-only"
        ro.mkdir(mode=0o555)
        unwritable, expected = ro / "env", "permission denied"
    proc = run_tfsetup("install", str(unwritable), "--python", PY, "--json")
    assert proc.returncode == 2
    assert expected in json_out(proc)["error"] and "Traceback" not in proc.stderr
