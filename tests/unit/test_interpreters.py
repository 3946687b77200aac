"""Interpreter discovery, for real on this machine's Pythons, plus broken candidates."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tfsetup.host.interpreters import (PROBE_SCRIPT, Candidate, candidate_paths, classify_source, dedupe, discover,
                                       normalize_arch, probe_interpreter)
from tfsetup.probes.interpreter_info import FIELDS
from tfsetup.host.runner import SystemRunner


def _write_exe(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_probe_real_interpreter():
    info = probe_interpreter(SystemRunner(), Candidate(sys.executable, "path"), os.path.realpath(sys.executable),
                             "linux")
    assert info.version == ".".join(map(str, sys.version_info[:3]))
    assert info.implementation == "cpython"
    assert info.archs == [normalize_arch(os.uname().machine, "linux")]


def test_the_probe_answers_exactly_the_fields_its_schema_names():
    out = subprocess.run([sys.executable, "-I", PROBE_SCRIPT], capture_output=True, text=True, timeout=60)
    answer = json.loads(out.stdout)
    assert set(answer) == set(FIELDS)
    assert all(isinstance(answer[name], type(default)) for name, default in FIELDS.items())


def test_discovery_finds_path_pythons_skips_broken_and_dedupes_symlinks(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(os.path.realpath(sys.executable), bindir / "python3")
    os.symlink(os.path.realpath(sys.executable), bindir / f"python3.{sys.version_info[1]}")  # same binary
    _write_exe(bindir / "python3.99", "#!/bin/sh\necho 'broken interpreter' >&2\nexit 3\n")
    _write_exe(bindir / "python3.98", "#!/bin/sh\necho 'not json'\n")
    _write_exe(bindir / "python3.97", "#!/bin/sh\necho '{\"version\": \"3.11.0\", \"pointer_bits\": []}'\n")
    env = {"PATH": str(bindir), "PYENV_ROOT": str(tmp_path / "nopyenv")}
    pythons, skipped = discover(SystemRunner(), "linux", env, str(tmp_path))
    real = os.path.realpath(sys.executable)
    mine = [p for p in pythons if os.path.realpath(p.executable) == real]
    assert len(mine) == 1, "two names of one binary must count once"
    reasons = {Path(s["executable"]).name: s["reason"] for s in skipped}
    assert "broken interpreter" in reasons["python3.99"] and "exit 3" in reasons["python3.99"]
    assert "unreadable" in reasons["python3.98"]
    assert "pointer_bits" in reasons["python3.97"], "a lying interpreter is skipped, not a crash"


def test_hanging_candidate_times_out(tmp_path, monkeypatch):
    import tfsetup.host.interpreters as mod

    monkeypatch.setattr(mod, "PROBE_TIMEOUT_S", 0.5)
    hang = _write_exe(tmp_path / "python3", "#!/bin/sh\nsleep 5\n")
    try:
        probe_interpreter(SystemRunner(), Candidate(str(hang), "path"), str(hang), "linux")
    except ValueError as exc:
        assert "timed out" in str(exc)
    else:
        raise AssertionError("a hanging interpreter must be skipped")


def test_candidate_paths_cover_pyenv_uv_conda(tmp_path):
    for sub in ("pyenv/versions/3.12.1/bin", "share/uv/python/cpython-3.12.4-linux-x86_64-gnu/bin", "conda/bin"):
        (tmp_path / sub).mkdir(parents=True)
    env = {"PYENV_ROOT": str(tmp_path / "pyenv"), "XDG_DATA_HOME": str(tmp_path / "share"),
           "CONDA_PREFIX": str(tmp_path / "conda"), "PATH": ""}
    for exe in ("pyenv/versions/3.12.1/bin/python3", "share/uv/python/cpython-3.12.4-linux-x86_64-gnu/bin/python3",
                "conda/bin/python"):
        _write_exe(tmp_path / exe, "")
    found = {c.hint: c.path for c in candidate_paths("linux", env, str(tmp_path))}
    assert found["pyenv"].endswith("3.12.1/bin/python3")
    assert "/uv/python/" in found["uv"]
    assert found["conda"].endswith("conda/bin/python")


def test_dedupe_keeps_first_name():
    pairs = dedupe([Candidate("/a/python3", "homebrew"), Candidate("/b/python3", "path"), Candidate("/c", "x")],
                   realpath=lambda p: "/real" if p != "/c" else "/c", is_file=lambda p: p != "/c")
    assert [(c.path, real) for c, real in pairs] == [("/a/python3", "/real")]


def test_sources_from_paths():
    assert classify_source("/opt/homebrew/Cellar/python@3.12/3.12.4/bin/python3.12", "macos", False) == "homebrew"
    assert classify_source("/Library/Frameworks/Python.framework/Versions/3.12/bin/python3", "macos", False) == "python.org"
    assert classify_source("/usr/bin/python3", "macos", False) == "xcode"
    assert classify_source("/Library/Developer/CommandLineTools/usr/bin/python3", "macos", False) == "xcode"
    assert classify_source("/home/u/.pyenv/versions/3.11.7/bin/python3.11", "linux", False) == "pyenv"
    assert classify_source("/home/u/.local/share/uv/python/cpython-3.12/bin/python3", "linux", False) == "uv"
    assert classify_source("/usr/bin/python3.11", "linux", False) == "system"
    assert classify_source("/opt/miniconda3/bin/python3", "macos", True) == "conda"
    assert normalize_arch("AMD64", "windows") == "x86_64"
    assert normalize_arch("aarch64", "macos") == "arm64" and normalize_arch("arm64", "linux") == "aarch64"
