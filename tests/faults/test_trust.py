"""Issue 11 items 8-15: trust boundaries and inputs, proven on the installed command.

- 8: project files (tfsetup.toml, tfsetup.lock, [tool.tfsetup]) are obeyed only when they and their
  directory belong to the user (or root) and nobody else can write them; the search stops at the
  repository root or $HOME;
- 12: verification results travel on a channel only the probe writes: a .pth printing a fake "done",
  or writing into the channel before the probe, does not pass a crashing TensorFlow; every field of
  every event is validated (a malformed report is a clean failure).
Items 9, 10, 11, 13, 14, 15 have their own test files (test_cache_trust.py, test_credentials.py,
test_engine_env.py, test_bounded_inputs.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults import harness as h

OTHER_UID = 54321  # "another user": the tests run as root, so os.chown can hand a file to anyone


def project(root: Path, index: str = "http://127.0.0.1:9/attacker/simple") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tfsetup.toml").write_text(f'python = "{h.PY}"\nindex-url = "{index}"\n')
    return root


def plan_json(cwd: Path, *more: str) -> subprocess.CompletedProcess:
    return h.run("plan", "--python", h.PY, "--json", *more, cwd=cwd)


@pytest.mark.parametrize("how", ["file of another user", "directory of another user",
                                 "group-writable file", "world-writable directory", "lock of another user",
                                 "pyproject of another user", "file 0o602", "file 0o646", "file 0o666",
                                 "directory 0o757", "world-writable lock beside a pyproject"])
def test_a_planted_project_file_is_refused_with_the_fix(work, how):
    parent = work / "shared"
    deep = parent / "a" / "b"
    deep.mkdir(parents=True)
    project(parent)
    config = parent / "tfsetup.toml"
    if how == "file of another user":
        os.chown(config, OTHER_UID, OTHER_UID)
    elif how == "directory of another user":
        os.chown(parent, OTHER_UID, OTHER_UID)
    elif how == "group-writable file":
        config.chmod(0o664)
    elif how == "world-writable directory":
        parent.chmod(0o1777)  # like /tmp: sticky, but anyone can plant a file there
    elif how == "lock of another user":
        (parent / "tfsetup.lock").write_text("schema = 1\n")
        os.chown(parent / "tfsetup.lock", OTHER_UID, OTHER_UID)
    elif how.startswith("file 0o"):  # world-writable, group-writable or not: refused alike
        config.chmod(int(how.split()[-1], 8))
    elif how == "directory 0o757":
        parent.chmod(0o757)
    elif how == "world-writable lock beside a pyproject":
        config.unlink()
        (parent / "pyproject.toml").write_text(f'[tool.tfsetup]\npython = "{h.PY}"\n')
        (parent / "tfsetup.lock").write_text("version = 1\n")
        (parent / "tfsetup.lock").chmod(0o646)
    elif how == "pyproject of another user":
        config.unlink()
        (parent / "pyproject.toml").write_text(f'[tool.tfsetup]\npython = "{h.PY}"\n')
        os.chown(parent / "pyproject.toml", OTHER_UID, OTHER_UID)
    proc = plan_json(deep)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = h.error_line(proc.stderr)
    what = "team lock" if "lock" in how else "project file"
    assert f"refusing the {what} {parent}" in line, line
    assert "--no-project" in proc.stderr and "fix:" in proc.stderr
    doc = json.loads(proc.stdout)
    assert "refusing" in doc["error"] and "--no-project" in doc["fix"]
    ok = plan_json(deep, "--no-project")  # the fix works
    assert ok.returncode == 0, ok.stderr
    assert "using" not in ok.stderr


def test_own_project_file_is_used_and_named(work):
    root = project(work / "mine", index="https://example.org/simple")
    proc = h.run("plan", "--python", h.PY, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert f"using {root / 'tfsetup.toml'} (--no-project ignores it)" in proc.stdout + proc.stderr


@pytest.mark.parametrize("stop", [".git", "HOME"])
def test_the_search_stops_at_the_repository_root_or_home(work, stop):
    """A config above the repository root (or above $HOME) is never even looked at: planted there by
    another user, it neither applies nor blocks."""
    outer = project(work / "outer")
    os.chown(outer / "tfsetup.toml", OTHER_UID, OTHER_UID)  # would be refused if it were seen
    repo = outer / "repo"
    (repo / "src").mkdir(parents=True)
    env = {}
    if stop == ".git":
        (repo / ".git").mkdir()
    else:
        env["HOME"] = str(repo)
    proc = h.run("plan", "--python", h.PY, "--json", cwd=repo / "src", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "using" not in proc.stderr and "refusing" not in proc.stderr


def test_a_planted_index_url_never_reaches_the_engine(fake, work, traps):
    """The attack itself: a planted tfsetup.toml naming an attacker's index; install refuses before any
    engine starts (the audit hook sees no uv process)."""
    parent = project(work / "tmp-like")
    parent.chmod(0o1777)
    inner = parent / "victim"
    inner.mkdir()
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", cwd=inner)
    assert proc.returncode == 2 and "refusing the project file" in h.error_line(proc.stderr)
    assert not any("uv" in os.path.basename(str(r.get("executable"))) for r in h.audit_records(traps))
    assert not (inner / ".venv").exists()


# -- item 12: the verification channel ---------------------------------------------------------------

FAKE_DONE = """\
import sys
for line in ('{"event": "start", "id": "tf-import"}',
             '{"event": "result", "id": "tf-import", "status": "pass", "message": "ok", "seconds": 0.1}',
             '{"event": "done"}'):
    sys.stdout.write(line + "\\n")
sys.stdout.flush()
"""
# Writes a fake report into the channel itself, before the probe runs (it reads the probe's argv).
INTO_CHANNEL = """\
import json
args = open("/proc/self/cmdline", "rb").read().split(b"\\0")
config = json.loads(args[-2])
with open(config["events"], "w") as fh:
    fh.write('{"event": "done"}\\n')
"""


def crashing_env(root: Path, payload: str) -> Path:
    """A real venv whose `import tensorflow` segfaults, with a hostile .pth file (and its module)."""
    env = root / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next((env / "lib").glob("python3*/site-packages"))
    (site / "tensorflow").mkdir()
    (site / "tensorflow" / "__init__.py").write_text("import ctypes\nctypes.string_at(0)\n")  # SIGSEGV
    (site / "zz_fake_report.py").write_text(payload)
    (site / "zz_fake_report.pth").write_text("import zz_fake_report\n")
    return env


@pytest.mark.parametrize("pth", [FAKE_DONE, INTO_CHANNEL], ids=["fake done on stdout", "write into the channel"])
def test_a_pth_file_cannot_fake_a_passing_verification(work, pth):
    env = crashing_env(work, pth)
    proc = h.run("verify", str(env), "--json", cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    failed = {c["id"]: c for c in doc["checks"] if c["status"] == "fail"}
    assert failed, doc
    if pth is FAKE_DONE:
        assert "SIGSEGV" in failed["tf-import"]["message"]  # the real cause, not the printed pass
    else:  # the probe refuses a channel someone else created first
        assert "probe exited early" in next(iter(failed.values()))["message"]
        assert "FileExistsError" in proc.stdout


MALFORMED = [
    "not json at all",
    "[1, 2]",
    '{"event": "result", "id": "tf-import", "status": "great", "message": "x", "seconds": 1}',
    '{"event": "result", "id": "no-such-check", "status": "pass", "message": "x", "seconds": 1}',
    '{"event": "result", "id": "tf-import", "status": "pass", "message": ["x"], "seconds": 1}',
    '{"event": "result", "id": "tf-import", "status": "pass", "message": "x", "seconds": "soon"}',
    '{"event": "result", "id": "tf-import", "status": "pass", "message": "x", "seconds": NaN}',
    '{"event": "result", "id": "tf-import", "status": "pass", "message": "x", "seconds": 1, "data": 7}',
    '{"event": "result"}',
    '{"event": "start", "id": {"a": 1}}',
    '{"event": "launch", "id": "tf-import"}',
    "[" * 100000 + "]" * 100000,
]


@pytest.mark.parametrize("line", MALFORMED, ids=range(len(MALFORMED)))
def test_a_malformed_report_is_a_clean_failure(line):
    from tfsetup.verify import parse_events

    good = '{"event": "result", "id": "python-arch", "status": "pass", "message": "ok", "seconds": 0.1}'
    result = parse_events("\n".join([good, line, '{"event": "done"}']), 0, "")
    assert not result.ok
    failed = result.failed()
    assert len(failed) == 1 and "report is malformed (line 2" in failed[0].message, failed
    assert result.check("python-arch").status == "pass"


def test_done_with_a_crash_exit_is_a_failure():
    from tfsetup.verify import parse_events

    result = parse_events('{"event": "done"}', -11, "Segmentation fault")
    assert not result.ok and "SIGSEGV" in result.failed()[0].message
