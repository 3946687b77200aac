"""Issue 20, class 6: `prove --env` (both readers), doctor's loader check (the same code, tested in
tests/unit/test_reader_limits.py) and `explain` on hostile inputs, as real tfsetup processes under a memory
and a CPU limit (resource.setrlimit in the child: RLIMIT_AS, RLIMIT_CPU).

Each hostile binary (tests/unit/hostile.py) once cost gigabytes, minutes, a hang or a traceback; now each
is one `tfsetup: error:` line naming the file, with a fix, exit 2, and one JSON document with --json.
The subprocess timeout only keeps a regression (a blocking open of a FIFO) from hanging the suite."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

import pytest

from tests.faults import harness as h
from tests.unit import hostile as H

MEMORY_LIMIT = 1 << 30  # address space: tfsetup needs ~150 MB here; the zlib bomb alone inflated to 3 GB
CPU_LIMIT_S = 30  # the 400 KB ULEB took 27 s of CPU, the version-need flood 37 s
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _limits() -> None:  # runs in the child, before exec
    import resource

    if sys.platform.startswith("linux"):  # macOS does not enforce RLIMIT_AS (setting it can fail there)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))


def run_limited(*args: str, cwd: Path, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return h.run(*args, cwd=cwd, timeout=240, stdin=stdin, preexec_fn=_limits)


def one_error(proc: subprocess.CompletedProcess, names: str) -> str:
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    line = h.error_line(proc.stderr)  # exactly one, no traceback
    assert names in line and "fix:" in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one document
    assert doc["exit_code"] == 2 and "\n" not in doc["error"] and doc["fix"], doc
    return line


def env_with(root: Path) -> Path:
    """A Mac- or Linux-shaped env: ENV/lib/pythonX.Y/site-packages, returned is site-packages."""
    site = root / "env" / "lib" / f"python{PY}" / "site-packages"
    (site / "tensorflow").mkdir(parents=True)
    return site


@pytest.mark.parametrize("kind", ["zlib-bomb", "400-kb-uleb", "fat-offset-2^62", "trie-edge-without-nul"])
def test_prove_env_refuses_a_hostile_mach_o_file(tmp_path, kind):
    site = env_with(tmp_path)
    H.write_all(site / "evil", H.MACHO[kind]())
    proc = run_limited("prove", "--env", str(tmp_path / "env"), "--platform", "macos-arm64", "--macos", "14.0",
                       "--json", cwd=tmp_path)
    assert "/evil/lib" in one_error(proc, "/evil/lib")


def test_prove_env_on_a_reexport_cycle_reports_the_missing_symbol(tmp_path):
    site = env_with(tmp_path)
    H.write_all(site / "evil", H.reexport_cycle())
    proc = run_limited("prove", "--env", str(tmp_path / "env"), "--platform", "macos-arm64", "--macos", "14.0",
                       "--json", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    problems = [(p["kind"], p["file"], p.get("symbol")) for p in json.loads(proc.stdout)["problems"]]
    assert ("symbol-not-found", "evil/libuser.dylib", "_x") in problems


def test_prove_env_refuses_an_elf_flooding_version_needs(tmp_path):
    site = env_with(tmp_path)
    (site / "evil").mkdir()
    (site / "evil" / "libflood.so").write_bytes(H.elf_verneed_flood())
    proc = run_limited("prove", "--env", str(tmp_path / "env"), "--platform", "linux-x86_64", "--glibc", "2.28",
                       "--json", cwd=tmp_path)
    assert "version needs" in one_error(proc, "libflood.so")


@pytest.mark.parametrize("platform", ["macos-arm64", "linux-x86_64"])
def test_a_fifo_in_site_packages_is_refused_by_both_readers(tmp_path, platform):
    site = env_with(tmp_path)
    H.fifo(site / "tensorflow" / "libnothing.so")
    proc = run_limited("prove", "--env", str(tmp_path / "env"), "--platform", platform, "--json", cwd=tmp_path)
    assert "not a regular file" in one_error(proc, "libnothing.so")


def test_explain_never_blocks_on_a_fifo_and_reads_a_pipe_to_its_end(tmp_path):
    fifo = H.fifo(tmp_path / "log")
    proc = run_limited("explain", str(fifo), "--json", cwd=tmp_path)  # nobody writes to it: empty, at once
    assert proc.returncode == 1 and json.loads(proc.stdout) == {"findings": []}, proc.stderr
    # A pipe with a writer (what `tfsetup explain <(cmd)` gets) is read to its end.
    read, write = os.pipe()
    text = "Illegal instruction (core dumped)\n"

    def writer() -> None:
        with os.fdopen(write, "w") as out:
            out.write(text)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        proc = h.run("explain", f"/dev/fd/{read}", "--json", cwd=tmp_path, timeout=240, pass_fds=(read,),
                     preexec_fn=_limits)
    finally:
        thread.join()
        os.close(read)
    ids: List[str] = [f["id"] for f in json.loads(proc.stdout)["findings"]]
    assert proc.returncode == 0 and ids == ["illegal-instruction"], proc.stderr


@pytest.mark.parametrize("plugin", ["400-kb-uleb", "fifo"])
def test_doctors_loader_check_refuses_a_hostile_plugin(tmp_path, plugin):
    """doctor judges a Mac-shaped env (a real venv holding macOS files) for the Mac of a host file: its
    loader check binds the plug-ins, so a hostile plug-in is what it reads."""
    from tests.unit.test_macho_reader import macho

    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = env / "lib" / f"python{PY}" / "site-packages"
    core = site / "tensorflow" / "python" / "_pywrap_tensorflow_internal.so"
    core.parent.mkdir(parents=True)
    core.write_bytes(macho(install_name="@rpath/_pywrap_tensorflow_internal.so", filetype=8))
    evil = site / "tensorflow-plugins" / "libevil.dylib"
    if plugin == "fifo":
        H.fifo(evil)
    else:
        H.write_all(evil.parent, {evil.name: H.long_uleb()})
    host = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "m1-native-homebrew.json"
    proc = run_limited("doctor", "--host-file", str(host), str(env), "--json", cwd=tmp_path)
    one_error(proc, "libevil.dylib")
