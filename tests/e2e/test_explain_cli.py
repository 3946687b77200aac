"""tfsetup explain through the installed command, as a user runs it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.e2e.helpers import json_out, run_tfsetup

ERRORS = FIXTURES / "errors"
RECIPES = """\
schema = 1

[[recipe]]
id = "linux-x86_64-cpu-tf2.19"
os = "linux"
machine = "x86_64"
accelerator = "cpu"
distribution = "tensorflow-cpu"
tensorflow = "2.19.0"
pythons = ["3.11"]
sources = ["https://pypi.org/simple/tensorflow-cpu/"]

[[incompatible]]
id = "frobnicator-too-new"
finding = "frobnicator-mismatch"
when = { frobnicator = ">=2" }
signatures = ["FrobnicatorError: widget 7 is gone"]
message = "frobnicator 2 removed widget 7."
fix = "pip install 'frobnicator<2'"
sources = ["https://example.org/frobnicator/2"]
"""


@pytest.fixture
def recipes(tmp_path: Path) -> str:
    path = tmp_path / "recipes.toml"
    path.write_text(RECIPES)
    return str(path)


def test_fixture_file_json(recipes):
    path = ERRORS / "numpy-abi-mismatch--array-api-not-found-linux.txt"
    proc = run_tfsetup("explain", str(path), "--recipes-file", recipes, "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert [f["id"] for f in doc["findings"]] == ["numpy-abi-mismatch"]
    finding = doc["findings"][0]
    assert set(finding) == {"id", "severity", "message", "fix", "evidence", "sources"}
    assert "AttributeError: _ARRAY_API not found" in finding["evidence"]


def test_human_output(recipes):
    path = ERRORS / "protobuf-mismatch--tf271-import-protobuf-421.txt"
    proc = run_tfsetup("explain", str(path), "--recipes-file", recipes, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "protobuf-mismatch" in proc.stdout and "fix:" in proc.stdout
    assert "Descriptors cannot not be created directly." in proc.stdout


def test_stdin_dash(recipes):
    text = (ERRORS / "illegal-instruction--zsh-m1-illegal-hardware-instruction.txt").read_text()
    proc = run_tfsetup("explain", "-", "--recipes-file", recipes, "--json", input=text, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [f["id"] for f in json_out(proc)["findings"]] == ["illegal-instruction"]


def test_stdin_without_argument_and_table_signature(recipes):
    proc = run_tfsetup("explain", "--recipes-file", recipes, "--json",
                       input="Traceback (most recent call last):\nFrobnicatorError: widget 7 is gone\n", timeout=120)
    assert proc.returncode == 0, proc.stderr
    (finding,) = json_out(proc)["findings"]
    assert finding["id"] == "frobnicator-mismatch" and finding["fix"] == "pip install 'frobnicator<2'"
    assert finding["evidence"] == ["FrobnicatorError: widget 7 is gone"]


def test_unmatched_text_exits_1(recipes):
    path = ERRORS / "none--keras-input-incompatible-shape.txt"
    proc = run_tfsetup("explain", str(path), "--recipes-file", recipes, timeout=120)
    assert proc.returncode == 1
    assert "no known problem matched" in proc.stderr
    proc = run_tfsetup("explain", "-", "--recipes-file", recipes, "--json", input="all good\n", timeout=120)
    assert proc.returncode == 1
    assert json_out(proc) == {"findings": []}
    assert "no known problem matched" in proc.stderr


def test_missing_file_exits_2(recipes, tmp_path):
    missing = tmp_path / "no such log.txt"
    proc = run_tfsetup("explain", str(missing), "--recipes-file", recipes, timeout=120)
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr and str(missing) in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    proc = run_tfsetup("explain", str(tmp_path), "--recipes-file", recipes, "--json", timeout=120)  # a directory
    assert proc.returncode == 2
    assert json_out(proc)["exit_code"] == 2 and "Traceback" not in proc.stderr


def test_binary_file_does_not_crash(recipes, tmp_path):
    blob = tmp_path / "core.bin"
    blob.write_bytes(bytes(range(256)) * 100 + b"\nIllegal instruction (core dumped)\n\xff\xfe")
    proc = run_tfsetup("explain", str(blob), "--recipes-file", recipes, "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [f["id"] for f in json_out(proc)["findings"]] == ["illegal-instruction"]


def test_no_argument_on_a_terminal_reads_the_pasted_log_until_ctrl_d(recipes):
    """Like `cat`: on a terminal, `tfsetup explain` says to paste, reads until end of input and explains
    (it used to refuse, exit 2, while saying it reads stdin)."""
    from tests.e2e.helpers import tfsetup_exe
    from tests.e2e.terminal import run_in_pty

    text = "Traceback (most recent call last):\nFrobnicatorError: widget 7 is gone\n"
    code, screen = run_in_pty([tfsetup_exe(), "explain", "--recipes-file", recipes], cols=120,
                              reply=("Ctrl-D", text.encode() + b"\x04"))
    assert code == 0, screen
    assert "paste the log, then press Ctrl-D on a line of its own" in screen
    assert "frobnicator-mismatch" in screen and "tfsetup: error" not in screen
