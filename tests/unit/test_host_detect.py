"""host/detect.py: this machine's facts, gathered through the runner (the OS-command boundary), here a
RecordedRunner answering from recorded output; the Pythons found are added without detecting the rest
again."""
from __future__ import annotations

import dataclasses
import json
import platform
import sys

import pytest

from tfsetup.host import detect
from tfsetup.host.interpreters import PROBE_SCRIPT
from tfsetup.host.nvidia import QUERY_FIELDS
from tfsetup.host.runner import RecordedRunner
from tfsetup.platforms import normalize_arch

from tests.conftest import FIXTURES, host_fixture

H100 = FIXTURES / "linux-x86_64-h100"
QUERY = ("nvidia-smi", f"--query-gpu={QUERY_FIELDS}", "--format=csv")
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="detects this Linux host")


def test_current_os_names_this_platform():
    expected = {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")
    assert detect.current_os() == expected


@LINUX
def test_detect_host_on_linux_reads_its_files_and_nvidia_smi_through_the_runner():
    runner = RecordedRunner(
        commands={QUERY: (H100 / "nvidia-smi-query.csv").read_text()},
        files={"/proc/cpuinfo": (H100 / "cpuinfo.txt").read_text(), "/etc/os-release": 'ID=debian\nVERSION_ID="12"\n'})
    facts = detect.detect_host(runner, with_pythons=False)
    assert (facts.os, facts.os_version) == ("linux", "debian-12")
    assert facts.machine == normalize_arch(platform.machine(), "linux")
    assert [g.name for g in facts.gpus] == ["NVIDIA H100 80GB HBM3"]
    assert facts.pythons == [] and facts.cpu == "Intel(R) Xeon(R) Processor"
    assert QUERY in runner.calls


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX interpreter names")
def test_add_pythons_keeps_the_facts_and_adds_what_answers_the_probe(tmp_path):
    """Two interpreters on PATH: one answers the probe (recorded), one does not run; both are accounted for."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    good, broken = bin_dir / "python3.12", bin_dir / "python3.13"
    for exe in (good, broken):
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    answer = {"version": "3.12.8", "implementation": "cpython", "machine": "x86_64", "platform": "linux-x86_64",
              "pointer_bits": 64, "free_threaded": False, "executable": str(good), "prefix": "/opt/py",
              "base_prefix": "/opt/py", "mac_ver": ""}
    runner = RecordedRunner(commands={(str(good), "-I", PROBE_SCRIPT): json.dumps(answer) + "\n"})
    env = {"PATH": str(bin_dir), "PYENV_ROOT": str(tmp_path / "pyenv"), "TFSETUP_NO_CACHE": "1",
           "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv")}
    host = host_fixture("linux-x86_64-avx")
    facts = detect.add_pythons(host, runner, env)
    assert dataclasses.replace(facts, pythons=host.pythons, skipped_pythons=host.skipped_pythons) == host
    mine = [p for p in facts.pythons if p.executable.startswith(str(tmp_path))]
    assert [(p.executable, p.version) for p in mine] == [(str(good), "3.12.8")]
    skipped = {s["executable"]: s["reason"] for s in facts.skipped_pythons}
    assert "command not found" in skipped[str(broken)]


def test_the_probe_cache_is_in_the_private_state_dir_unless_caches_are_off(isolated_state, monkeypatch):
    monkeypatch.delenv("TFSETUP_NO_CACHE", raising=False)
    assert detect._probe_cache_path({"TFSETUP_NO_CACHE": "1"}) is None
    assert detect._probe_cache_path({}) == str(isolated_state / "state" / "interpreters.json")
