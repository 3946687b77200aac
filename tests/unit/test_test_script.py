"""scripts/test.sh finds Python 3.9 where `tfsetup detect` would (not only under $HOME/.pyenv), and
says so loudly when it cannot run the 3.9 tests (issue 14 item 12)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = (REPO / "scripts" / "test.sh").read_text()


def find_py39(tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    functions = "\n".join(re.findall(r"^(?:is_py39|find_py39)\(\) \{.*?^\}", SCRIPT, re.S | re.M))
    (tmp_path / "find.sh").write_text(functions + "\nfind_py39\n")
    return subprocess.run(["bash", str(tmp_path / "find.sh")], capture_output=True, text=True, env=env,
                          cwd=tmp_path)  # cwd: no .test-venv here, so uv is not asked


def a_python39():
    for root in (os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")):
        for found in sorted(Path(root or "/nonexistent").glob("versions/3.9*/bin/python3.9")):
            return found
    return shutil.which("python3.9")


def test_pyenv_outside_home_is_found_through_pyenv_root(tmp_path):
    real = a_python39()
    if real is None:
        pytest.skip("no Python 3.9 on this machine")
    root = tmp_path / "elsewhere" / "pyenv"
    (root / "versions" / "3.9.99" / "bin").mkdir(parents=True)
    os.symlink(real, root / "versions" / "3.9.99" / "bin" / "python3.9")
    env = {"HOME": str(tmp_path / "home"), "PYENV_ROOT": str(root), "PATH": "/usr/bin:/bin"}
    proc = find_py39(tmp_path, env)
    assert proc.stdout.strip() == str(root / "versions" / "3.9.99" / "bin" / "python3.9"), proc.stderr


def run_py39_step(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """test.sh's 3.9 step where nothing has 3.9 and `uv python install` fails (a .test-venv whose python
    fails every call); make_env and pytest are stubs."""
    functions = "\n".join(re.findall(r"^(?:is_py39|find_py39)\(\) \{.*?^\}", SCRIPT, re.S | re.M))
    step = re.search(r'^if \[ "\$\{TFSETUP_SKIP_PY39:-\}" = 1 \]; then.*?^fi$', SCRIPT, re.S | re.M).group(0)
    (tmp_path / ".test-venv" / "bin").mkdir(parents=True)
    fake = tmp_path / ".test-venv" / "bin" / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    (tmp_path / "step.sh").write_text("set -euo pipefail\nmake_env() { echo made; }\n" + functions + "\n" + step
                                      + "\necho reached-the-end\n")
    return subprocess.run(["bash", str(tmp_path / "step.sh")], capture_output=True, text=True, cwd=tmp_path,
                          env={"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", **env})


def test_no_python39_fails_loudly_unless_skipped_explicitly(tmp_path):
    if any(Path(d, "python3.9").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("this machine has a system python3.9")
    proc = run_py39_step(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "test.sh: error: no Python 3.9 for the fast tests" in proc.stderr
    assert "TFSETUP_SKIP_PY39=1" in proc.stderr and "reached-the-end" not in proc.stdout
    assert "installing one with uv" in proc.stdout  # it tried before giving up
    skipped = run_py39_step(tmp_path / "again", TFSETUP_SKIP_PY39="1")
    assert skipped.returncode == 0 and "skipped (TFSETUP_SKIP_PY39=1)" in skipped.stdout
