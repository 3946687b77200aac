"""Issue 11 items 9 and 14: tfsetup's state dir and caches are trusted only as far as they are private.

- a cache entry edited in place (a correct header over another code body) is never used: the payload
  does not run in a new env (real venvs, the real bytecode probe);
- a .pyc an env wrote is never harvested (the cache compiles from the source), and envs never share a
  .pyc by hard link: writing one env's .pyc changes no other env and not the cache;
- a symbolic link planted in the state dir is never followed (the lock file, a cache entry, the
  interpreter cache);
- a world-writable or foreign state dir: commands that need it refuse with one clear error and the fix;
  caches are disabled with a warning;
- corrupt or old-format caches (interpreters, bytecode, env registry) are ignored and rebuilt;
- an unusable state dir (read-only, HOME=/nonexistent) is one clear error or a fallback, never a
  traceback, and no directory is created outside HOME.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import harness as h

SOURCE = "VALUE = 42\n"
PAYLOAD = "import pathlib, sys\npathlib.Path(sys.argv[1]).write_text('payload ran')\nVALUE = 42\n"


def venv_with_pkg(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = next((path / "lib").glob("python3*/site-packages"))
    (site / "shared_pkg").mkdir()
    (site / "shared_pkg" / "__init__.py").write_text("")
    (site / "shared_pkg" / "mod.py").write_text(SOURCE)
    return path


def env_import(env: Path, canary: Path) -> None:
    """Import the module in the env the way a user does (the env's python, its site-packages)."""
    subprocess.run([str(env / "bin" / "python"), "-I", "-c", "import shared_pkg.mod as m; assert m.VALUE == 42",
                    str(canary)], check=True)


def pyc_of(env: Path) -> Path:
    site = next((env / "lib").glob("python3*/site-packages"))
    return Path(importlib.util.cache_from_source(str(site / "shared_pkg" / "mod.py")))


def harvest_now(env: Path) -> None:
    from tfsetup import bytecode

    bytecode.harvest_later([str(env / "bin" / "python")], env)
    deadline = time.monotonic() + 60
    while not list(Path(os.environ["TFSETUP_STATE_DIR"], "bytecode").rglob("*.pyc")):
        assert time.monotonic() < deadline, "the harvest stored nothing"
        time.sleep(0.1)
    time.sleep(0.5)  # both modules


def payload_body() -> bytes:
    import marshal

    return marshal.dumps(compile(PAYLOAD, "mod.py", "exec"))


@pytest.fixture
def state(isolated_state) -> Path:
    return Path(os.environ["TFSETUP_STATE_DIR"])


def test_a_tampered_cache_entry_is_not_used(work, state, tmp_path):
    from tfsetup import bytecode

    first = venv_with_pkg(work / "first")
    env_import(first, tmp_path / "unused")
    harvest_now(first)
    entries = {p: p.read_bytes() for p in (state / "bytecode").rglob("*.pyc")}
    assert entries and all(oct(p.stat().st_mode)[-3:] in ("644", "600") for p in entries)
    assert oct((state / "bytecode" / "key").stat().st_mode)[-3:] == "600"
    assert oct(state.stat().st_mode)[-3:] == "700"
    for path, data in entries.items():  # the header (tag + 16 bytes) as it was, another code body
        path.write_bytes(data[:48] + payload_body())
    second = venv_with_pkg(work / "second")
    bytecode.restore([str(second / "bin" / "python")], second)
    assert not pyc_of(second).exists()  # nothing restored: every entry failed its check
    canary = tmp_path / "canary"
    env_import(second, canary)
    assert not canary.exists(), "the tampered cache entry ran in a new env"
    assert not list((state / "bytecode").rglob("*.pyc")), "rejected entries are dropped"


def test_an_env_written_pyc_is_never_harvested_and_envs_share_no_pyc(work, state, tmp_path):
    from tfsetup import bytecode

    first = venv_with_pkg(work / "first")
    env_import(first, tmp_path / "unused")
    pyc = pyc_of(first)
    data = pyc.read_bytes()
    pyc.write_bytes(data[:16] + payload_body())  # the env's own pyc: a valid timestamp header, a payload
    harvest_now(first)
    second = venv_with_pkg(work / "second")
    bytecode.restore([str(second / "bin" / "python")], second)
    restored = pyc_of(second)
    assert restored.exists()
    canary = tmp_path / "canary"
    env_import(second, canary)
    assert not canary.exists(), "a pyc written by one env ran in another"
    assert restored.stat().st_nlink == 1  # a copy, not a hard link into the cache
    entry = next((state / "bytecode").rglob(restored.name.split(".")[0] + "*.pyc"), None) or \
        next(p for p in (state / "bytecode").rglob("*.pyc") if p.read_bytes()[32:] == restored.read_bytes())
    before = entry.read_bytes()
    with open(restored, "r+b") as fh:  # an in-place write in one env
        fh.seek(20)
        fh.write(b"\xff\xff\xff\xff")
    assert entry.read_bytes() == before
    third = venv_with_pkg(work / "third")
    bytecode.restore([str(third / "bin" / "python")], third)
    env_import(third, canary)
    assert not canary.exists()


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_planted_symlinks_in_the_state_dir_are_not_followed(fake, work, state, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state.mkdir(mode=0o700, exist_ok=True)
    (state / "interpreters.json").symlink_to(victim)  # the interpreter cache
    from tfsetup.txn import lock_file_for

    target = work / "env"
    os.makedirs(state / "locks", mode=0o700, exist_ok=True)
    lock_file_for(target).symlink_to(victim)  # the path lock of the env about to be installed
    proc = h.run(*fake.install_args(target, "--no-verify"), cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert "cannot open the lock file" in h.error_line(proc.stderr) and "fix:" in proc.stderr
    assert victim.read_text() == "precious\n" and not target.exists()
    lock_file_for(target).unlink()
    first = venv_with_pkg(work / "first")
    env_import(first, tmp_path / "unused")
    source = next((first / "lib").glob("python3*/site-packages")) / "shared_pkg" / "mod.py"
    import hashlib

    key = hashlib.sha256(source.read_bytes()).hexdigest()
    planted = state / "bytecode" / sys.implementation.cache_tag / key[:2] / f"{key}.pyc"
    planted.parent.mkdir(parents=True, mode=0o700)
    os.chmod(state / "bytecode", 0o700)
    planted.symlink_to(victim)  # a cache entry: the harvest must not write through it
    from tfsetup import bytecode

    bytecode.harvest_later([str(first / "bin" / "python")], first)
    time.sleep(3)
    second = venv_with_pkg(work / "second")
    bytecode.restore([str(second / "bin" / "python")], second)  # nor read from it
    assert not pyc_of(second).exists()
    proc = h.run(*fake.install_args(target, "--no-verify"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("how", ["world-writable", "another user's"])
def test_a_state_dir_others_can_write_is_refused(fake, work, state, how):
    state.mkdir()
    if how == "world-writable":
        state.chmod(0o777)
    else:
        os.chown(state, 54321, 54321)
    proc = h.run(*fake.install_args(work / "env", "--no-verify", "--json"), cwd=work)
    assert proc.returncode == 2, proc.stderr
    line = h.error_line(proc.stderr)
    assert "refusing tfsetup's state directory" in line and "TFSETUP_STATE_DIR" in proc.stderr
    assert json.loads(proc.stdout)["fix"]
    assert not (work / "env").exists() and list(state.iterdir()) == []
    plan = h.run("plan", "--python", h.PY, "--json", "--recipes-file", str(fake.table), cwd=work)
    assert plan.returncode == 0, plan.stderr  # needs only caches: they are off, with one warning
    assert "caches disabled" in plan.stderr and "Traceback" not in plan.stderr
    json.loads(plan.stdout)
    assert list(state.iterdir()) == []


# -- item 14: damaged caches and unusable state dirs --------------------------------------------------

CORRUPT = {
    "garbage": b"\x00\xffnot json",
    "old format": json.dumps({"/usr/bin/python3": {"stamp": "1:2", "answer": {"ver": "3"}}}).encode(),
    "wrong shape": b"[1, 2, 3]",
    "deep": b"[" * 100000 + b"]" * 100000,
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_caches_are_ignored_and_rebuilt(fake, work, state, case):
    state.mkdir(mode=0o700)
    (state / "interpreters.json").write_bytes(CORRUPT[case])
    (state / "envs.json").write_bytes(CORRUPT[case])
    (state / "bytecode").mkdir(mode=0o700)
    (state / "bytecode" / "key").write_bytes(b"short")  # an old or damaged key: no cache, no failure
    os.chmod(state / "bytecode" / "key", 0o600)
    proc = h.run("detect", "--json", cwd=work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["pythons"]
    assert json.loads((state / "interpreters.json").read_text())  # rebuilt
    proc = h.run(*fake.install_args(work / "env", "--no-verify"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    report = h.run("report", "--json", cwd=work)
    assert report.returncode in (0, 1) and "Traceback" not in report.stderr, report.stderr
    assert str(work / "env") in json.dumps(json.loads(report.stdout), ensure_ascii=False)  # registry rewritten


def test_an_unusable_state_dir_is_one_clear_error(fake, work, tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    cases = [
        {"TFSETUP_STATE_DIR": str(tmp_path / "file-not-dir" / "state")},
        {"HOME": "/nonexistent", "TFSETUP_STATE_DIR": "", "XDG_CACHE_HOME": ""},
        {"TFSETUP_STATE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "file-not-dir")},
    ]
    (tmp_path / "file-not-dir").write_text("a file where a directory should be\n")
    for extra in cases:
        env = {k: v for k, v in extra.items()}
        proc = h.run(*fake.install_args(work / "env", "--no-verify", "--json"), cwd=work,
                     env=dict(env, **{k: "" for k in () if k}))
        assert proc.returncode == 2, (extra, proc.stderr)
        line = h.error_line(proc.stderr)
        assert "state directory" in line or "HOME" in line, line
        assert "fix:" in proc.stderr and json.loads(proc.stdout)["fix"]
        plan = h.run("plan", "--python", h.PY, "--recipes-file", str(fake.table), cwd=work, env=env)
        assert plan.returncode == 0 and "Traceback" not in plan.stderr, (extra, plan.stderr)
    assert not os.path.exists("/nonexistent")
    assert not (work / "env").exists()
