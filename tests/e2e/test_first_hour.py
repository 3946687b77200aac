"""A newcomer's first hour (issue 14): what the installed `tfsetup` shows in a real terminal at 80 and
120 columns (python's pty), progress while verify runs, hints, --help, -V and completion."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import run_tfsetup, tfsetup_exe
from tests.e2e.terminal import run_in_pty, whole_on_a_line

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

TF_VERSION = re.compile(r"\b(?:tensorflow(?:-cpu|-macos)?) \d+\.\d+\.\d+(?:rc\d+)?")


def fake_env(path: Path, tf_init: str = "", dists=()) -> Path:
    """A real venv (no pip) with a stand-in `tensorflow` module and dist-info records: fast and offline."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = next(path.glob("lib/python3*/site-packages"))
    if tf_init:
        (site / "tensorflow").mkdir()
        (site / "tensorflow" / "__init__.py").write_text(tf_init)
    for name, version in dists:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


@pytest.mark.parametrize("cols", [80, 120])
def test_recipes_cells_are_never_broken_mid_word(cols):
    code, screen = run_in_pty([tfsetup_exe(), "recipes", "--all"], cols=cols)
    assert code == 0, screen
    ids = json.loads(run_tfsetup("recipes", "--all", "--json").stdout)
    rows = ids["recipes"] if isinstance(ids, dict) and "recipes" in ids else ids
    names = [r["id"] for r in (rows if isinstance(rows, list) else rows.values())]
    assert len(names) > 10
    for recipe_id in names:  # copied into --recipe: whole, on one line
        assert re.search(rf"(?<![\w.-]){re.escape(recipe_id)}(?![\w.-])", screen), (recipe_id, screen)
    assert len(TF_VERSION.findall(screen)) >= len(names)  # every "tensorflow X.Y.Z" whole
    assert "tenso│" not in screen and "│rflow" not in screen
    assert max(len(line) for line in screen.splitlines()) <= cols


@pytest.mark.parametrize("cols", [80, 120])
def test_doctor_fix_commands_stay_whole_and_evidence_is_said_once(tmp_path, cols):
    env = fake_env(tmp_path / "broken env", dists=[("tensorflow", "2.15.1"), ("numpy", "2.1.3"),
                                                     ("tensorflow-cpu", "2.19.1")])
    code, screen = run_in_pty([tfsetup_exe(), "doctor", str(env)], cols=cols)
    assert code == 1, screen
    quoted = f"'{env}'"
    for command in (f"tfsetup doctor --fix {quoted}",
                    f"uv pip uninstall --python {quoted}/bin/python tensorflow tensorflow-cpu",
                    f"uv pip install --python {quoted}/bin/python \"numpy<2\""):
        assert whole_on_a_line(screen, command.replace(f"{quoted}/bin/python", f"'{env}/bin/python'")) or \
            whole_on_a_line(screen, command), (command, screen)
    for finding in ("conflicting-tf-distributions", "numpy-abi-mismatch"):
        assert whole_on_a_line(screen, finding)
    evidence = [ln.strip() for ln in screen.splitlines() if ln.strip().startswith("· ")]
    assert "· numpy 2.1.3 installed (matches numpy>=2)" in evidence
    assert "· numpy 2.1.3 installed" not in evidence  # said once, with its detail


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_verify_shows_each_check_as_it_runs(tmp_path):
    env = fake_env(tmp_path / "env", "import time\ntime.sleep(3)\n__version__ = '2.21.0'\n")
    stamps = []
    code, screen = run_in_pty([tfsetup_exe(), "verify", str(env)], cols=80, stamps=stamps, timeout=120)
    assert code == 1  # a stand-in TensorFlow: later checks fail, as they should
    seen = "".join(chunk for _, chunk in stamps)
    assert "importing TensorFlow ..." in seen and "tf-import: pass" in seen
    announced = next(t for t, chunk in stamps if "importing TensorFlow ..." in chunk)
    table = next(t for t, chunk in stamps if "Verification of" in chunk)
    assert table - announced >= 2.5  # shown while the (3 s) import ran, not with the table at the end
    assert screen.index("python-arch: pass") < screen.index("Verification of")


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_verify_timeout_says_raise_the_timeout(tmp_path):
    env = fake_env(tmp_path / "slow env", "import time\ntime.sleep(30)\n")
    started = time.monotonic()
    proc = run_tfsetup("verify", str(env), "--timeout", "2")
    assert time.monotonic() - started < 25
    assert proc.returncode == 1
    assert "tfsetup: verification timed out after 2s (tf-import)" in proc.stderr
    assert "fix: raise --timeout" in proc.stderr and "--timeout 600" in proc.stderr
    assert "tfsetup doctor" not in proc.stderr  # not bare "doctor": the temp path may hold the word
    doc = json.loads(run_tfsetup("verify", str(env), "--timeout", "2", "--json").stdout)
    assert doc["timed_out"] is True and doc["ok"] is False


def test_help_lists_every_command_whole_at_80_columns():
    code, screen = run_in_pty([tfsetup_exe(), "--help"], cols=80)
    assert code == 0
    commands = screen.split("Commands:", 1)[1]
    listed = [ln.split()[0] for ln in commands.splitlines() if ln.startswith("  ") and ln.strip()]
    for name in ("detect", "recipes", "plan", "install", "verify", "doctor", "explain", "lock", "wheelhouse",
                 "report"):
        assert name in listed
    assert "…" not in commands and "..." not in commands
    assert "-V, --version" in screen and "--install-completion" in screen


def test_short_version_flag_and_completion():
    from tfsetup import __version__

    assert run_tfsetup("-V").stdout == f"tfsetup {__version__}\n"
    assert run_tfsetup("--version").stdout == f"tfsetup {__version__}\n"
    script = run_tfsetup("--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert script.returncode == 0 and "_tfsetup_completion" in script.stdout
    offered = run_tfsetup(env={"_TFSETUP_COMPLETE": "complete_bash", "COMP_WORDS": "tfsetup ver",
                               "COMP_CWORD": "1"})
    assert offered.stdout.split() == ["verify"]


def test_lock_check_reports_on_stdout(tmp_path):
    from tfsetup.recipes import load_recipes
    from tfsetup.team.config import load_config
    from tfsetup.team.lockfile import render_lock, section_specs

    (tmp_path / "tfsetup.toml").write_text('python = "3.11"\nplatforms = ["linux-x86_64"]\n')
    config = load_config(tmp_path / "tfsetup.toml")
    specs = section_specs(load_recipes(), config, ["linux-x86_64"], ["3.11"], [])
    (tmp_path / "tfsetup.lock").write_text(render_lock(config, specs, ["six==1.17.0 \\\n    --hash=sha256:"
                                                                        + "a" * 64 + "\n"]))
    proc = run_tfsetup("lock", "--check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "tfsetup.lock is up to date (1 section)\n"
    doc = json.loads(run_tfsetup("lock", "--check", "--json", cwd=tmp_path).stdout)
    assert doc["up_to_date"] is True


def test_explain_sigill_on_this_host_with_avx():
    from tfsetup.host.detect import detect_host

    host = detect_host(with_pythons=False)
    if not (host.os == "linux" and host.machine == "x86_64" and "avx" in host.cpu_flags):
        pytest.skip("needs a Linux x86_64 host with AVX")
    proc = run_tfsetup("explain", "-", input="Illegal instruction (core dumped)\n")
    assert proc.returncode == 0
    assert "This machine's CPU has AVX" in proc.stdout and "probably lacks AVX" not in proc.stdout


@pytest.mark.network
def test_lock_with_flags_adds_a_section_and_keeps_the_configs(tmp_path):
    (tmp_path / "tfsetup.toml").write_text('python = "3.11"\nplatforms = ["linux-x86_64", "macos-arm64"]\n')
    assert run_tfsetup("lock", cwd=tmp_path).returncode == 0
    before = (tmp_path / "tfsetup.lock").read_text()
    proc = run_tfsetup("lock", "--platform", "windows-x86_64", "--python", "3.12", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(s["platform"], s["python"]) for s in doc["sections"]] == [
        ("linux-x86_64", "3.11"), ("macos-arm64", "3.11"), ("windows-x86_64", "3.12")]
    after = (tmp_path / "tfsetup.lock").read_text()
    for section in before.split("[[section]]")[1:]:  # the config's sections kept byte for byte
        assert section.strip() in after
    assert run_tfsetup("lock", "--check", cwd=tmp_path).returncode == 0
    plain = run_tfsetup("lock", cwd=tmp_path)  # without flags the config decides, and says what went
    assert "dropped windows-x86_64 py3.12 from tfsetup.lock" in plain.stderr
