"""`tfsetup prove` shows what it is doing on a terminal (issue 18: 20-35 s of silence on a cold cache):
fetching N wheels, reading N files, on stderr, in a real pseudo-terminal; nothing with --json or when
stderr is not a terminal."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import run_tfsetup, tfsetup_exe
from tests.e2e.terminal import run_in_pty
from tests.unit.test_macho_reader import macho, write

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def mac_site(root: Path) -> Path:
    site = root / "lib" / "python3.11" / "site-packages"
    info = site / "numpy-2.1.3.dist-info"
    info.mkdir(parents=True)
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-macosx_14_0_arm64\n")
    (info / "RECORD").write_text("numpy/x.so,,\nnumpy/__init__.py,,\nnumpy-2.1.3.dist-info/RECORD,,\n")
    write(site / "numpy" / "x.so", macho(minos="14.0"))
    (site / "numpy" / "__init__.py").write_text("")
    return root


def test_prove_env_says_what_it_reads_on_a_terminal_only(tmp_path):
    env = mac_site(tmp_path / "env")
    code, screen = run_in_pty([tfsetup_exe(), "prove", "--env", str(env)], cols=80)
    assert code == 0, screen
    assert "reading 3 files of 1 distribution ..." in screen and "loads: numpy 2.1.3 on macos-arm64" in screen
    code, screen = run_in_pty([tfsetup_exe(), "prove", "--env", str(env), "--json"], cols=80)
    assert code == 0 and "reading" not in screen  # --json: one document, no progress
    piped = run_tfsetup("prove", "--env", str(env))
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: nothing


@pytest.mark.network
def test_prove_pins_says_it_is_fetching(tmp_path):
    argv = [tfsetup_exe(), "prove", "--platform", "macos-arm64", "--python", "3.11", "numpy==2.1.3"]
    fresh = {"TFSETUP_STATE_DIR": str(tmp_path / "state")}  # no tree kept from an earlier proof
    code, screen = run_in_pty(argv, cols=100, timeout=600, env=fresh)
    assert code == 0, screen
    assert "fetching 1 wheel for macos-arm64, Python 3.11" in screen and "reading " in screen
    code, screen = run_in_pty(argv, cols=100, timeout=600, env=fresh)  # the tree kept: no fetch
    assert code == 0 and "reading 953 files of 1 distribution" in screen, screen
    assert "fetching" not in screen  # its "using the wheels fetched before" line is replaced at once
    piped = run_tfsetup("prove", "--platform", "macos-arm64", "--python", "3.11", "numpy==2.1.3")
    assert piped.returncode == 0 and "fetching" not in piped.stderr
