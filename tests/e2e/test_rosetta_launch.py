"""The one `arch -arm64` rule (platforms.native_launch) is what its callers really run, on a recorded
Rosetta host (tfsetup translated on an M1, a universal2 Python): doctor --deep's import, verify's probe,
the in-place repair's verification of the env's python, and plan's launch.

Only the OS-command boundary is faked: an `arch` executable first on PATH records its argv and runs the
rest (what `arch -arm64 CMD` does on a Mac), and the host facts come from the recorded Rosetta host.
Everything else (venvs, probes, the transaction) is real. Fast, offline.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from tests.conftest import FIXTURES, host_fixture
from tests.e2e.helpers import manifest, run_tfsetup

ROSETTA = FIXTURES / "hosts" / "m1-rosetta-universal2.json"
FAKE_ARCH = """#!/bin/sh
# Records its argv (one argument a line, then a blank line), then does what `arch -arm64 CMD` does.
for a in "$@"; do printf '%s\\n' "$a" >> "$FAKE_ARCH_LOG"; done
printf '\\n' >> "$FAKE_ARCH_LOG"
[ "$1" = "-arm64" ] && shift
exec "$@"
"""


class ArchLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def calls(self) -> List[List[str]]:
        if not self.path.exists():
            return []
        text = self.path.read_text()
        return [block.splitlines() for block in text.split("\n\n") if block.strip()]


@pytest.fixture
def arch(tmp_path, monkeypatch) -> ArchLog:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "arch"
    script.write_text(FAKE_ARCH)
    script.chmod(0o755)
    log = tmp_path / "arch.log"
    monkeypatch.setenv("FAKE_ARCH_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return ArchLog(log)


@pytest.fixture
def venv(tmp_path) -> Path:
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    return env


def test_doctor_deep_imports_tensorflow_under_arch_arm64(arch, venv, isolated_state):
    proc = run_tfsetup("doctor", str(venv), "--deep", "--json", "--host-file", str(ROSETTA))
    assert proc.returncode == 1, proc.stderr  # no TensorFlow: problems found
    (call,) = arch.calls()  # exactly the deep import went through `arch`
    assert call[:2] == ["-arm64", str(venv / "bin" / "python")], call
    assert "import tensorflow" in call[-1]
    doc = json.loads(proc.stdout)
    assert doc["deep"]["ok"] is False  # the import really ran (through the fake arch) and failed


def test_verify_existing_runs_the_probe_under_arch_arm64(arch, venv, monkeypatch):
    import tfsetup.host.detect as detect
    from tfsetup.verify import PROBE, verify_existing

    monkeypatch.setattr(detect, "detect_host", lambda **kw: host_fixture("m1-rosetta-universal2"))
    result = verify_existing(venv, timeout=60)
    assert not result.ok  # no TensorFlow in the env
    (call,) = arch.calls()
    assert call[:4] == ["-arm64", str(venv / "bin" / "python"), "-I", PROBE], call


def test_in_place_repair_verifies_the_env_python_under_arch_arm64(arch, venv, isolated_state):
    from tfsetup.doctor.apply import RepairFailed, apply_repair
    from tfsetup.env.facts import inspect_env
    from tfsetup.doctor.repair import RepairAction, RepairPlan
    from tfsetup.plan import plan
    from tfsetup.recipes import load_recipes
    from tfsetup.verify import PROBE

    host = host_fixture("m1-rosetta-universal2")
    chosen = plan(host, load_recipes())
    assert chosen.launch[:2] == ["arch", "-arm64"]  # the interpreter the repair would build from
    env = inspect_env(venv)
    before = manifest(venv)
    rp = RepairPlan(env=str(venv), actions=(RepairAction("install-lock", "a step that changes nothing",
                                                         argv=(sys.executable, "-c", "pass")),),
                    addresses=("tensorflow-missing",), plan=chosen, engine="uv")
    with pytest.raises(RepairFailed) as failed:  # no TensorFlow: the verification fails, the env is put back
        apply_repair(rp, env, host, [], lambda line: None)
    assert failed.value.restored
    calls = arch.calls()
    assert calls and all(c[:2] == ["-arm64", str(venv / "bin" / "python")] for c in calls), calls
    assert any(c[2:4] == ["-I", PROBE] for c in calls), calls  # the verification itself
    assert manifest(venv) == before


def test_plan_json_launches_the_universal2_python_under_arch_arm64():
    proc = run_tfsetup("plan", "--host-file", str(ROSETTA), "--json")
    assert proc.returncode == 0, proc.stderr
    launch = json.loads(proc.stdout)["python"]["launch"]
    assert launch == ["arch", "-arm64", "/Library/Frameworks/Python.framework/Versions/3.12/bin/python3"]
