"""Issue 20 class 2: a child tfsetup starts never outlives the transaction that started it.

A real tfsetup is paused at each child start of each command (TFSETUP_TEST_PAUSE=child-start#N: right
after the fork, before the command goes on), the child's process group is frozen (SIGSTOP, so even a
child that would end on its own is still there to be leaked), and a real signal lands. After tfsetup
exits, the child must be gone (killed and reaped before the rollback), and the env must match the exit
code: as before on a failure, nothing beside it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import List, Optional

import pytest

from tests.faults import harness as h
from tests.faults.test_doctor_faults import bare_env, doctor, uv_offline
from tests.faults.test_lifecycle import Stack, stack, tfsetup, verified_env  # noqa: F401 (fixtures)


def alive(pid: int) -> bool:
    """A process that still runs (or is stopped); a zombie or nothing is not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def wait_gone(pid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_ready_or_exit(watch: h.Watch, ready: Path) -> bool:
    """True when tfsetup paused (ready written); False when it ended without reaching the pause."""
    deadline = time.monotonic() + 180
    while not ready.exists():
        if watch.proc.poll() is not None:
            return ready.exists()
        assert time.monotonic() < deadline, watch.stderr
        time.sleep(0.02)
    return True


def signal_at_child(args: List[str], n: int, ctl: Path, cwd: Path, env: dict, sig_name: str
                    ) -> Optional[tuple]:
    """(exit code, child pid, watch) with the signal delivered at the n-th child start; None when the
    command starts fewer than n children."""
    ctl.mkdir(exist_ok=True)
    for name in ("ready", "release"):
        (ctl / name).unlink(missing_ok=True)
    sig, group = h.SIGNALS[sig_name]
    # No PDEATHSIG (as on macOS): tfsetup itself must stop the child, not the kernel when tfsetup exits.
    watch = h.start(*args, env=dict(env, TFSETUP_TEST_PAUSE=f"child-start#{n}", TFSETUP_TEST_PAUSE_DIR=str(ctl),
                                    TFSETUP_TEST_NO_PDEATHSIG="1"), cwd=cwd)
    pid = None
    try:
        if not wait_ready_or_exit(watch, ctl / "ready"):
            watch.finish(60)
            return None
        pid = int((ctl / "ready").read_text().split()[2])
        os.killpg(pid, signal.SIGSTOP)  # frozen: it cannot end on its own before tfsetup deals with it
        watch.signal(sig, group=group)
    finally:
        (ctl / "release").touch()
    code = watch.finish(120)
    return code, pid, watch


def each_child_start(args, ctl, cwd, env, target: Path, before: dict, sig_name: str) -> int:
    """Every child start of one command, each with a signal; returns how many there were."""
    n = 0
    while True:
        outcome = signal_at_child(args, n + 1, ctl, cwd, env, sig_name)
        if outcome is None:
            return n
        n += 1
        code, pid, watch = outcome
        try:
            assert not alive(pid), f"child {n} (pid {pid}) outlived tfsetup (exit {code}); stderr:\n{watch.stderr}"
        finally:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        assert "Traceback" not in watch.stderr, watch.stderr
        assert h.leftovers(target.parent) == [], (n, watch.stderr)
        if code != 0:  # failed or interrupted: exactly as before
            assert h.manifest(target) == before, f"child {n}: exit {code} but the env changed; {watch.stderr}"


@pytest.mark.slow  # ~6 s: a signal at each of install's children in turn (the other commands' stay fast)
def test_a_signal_at_each_child_start_of_install(fake, existing, tmp_path):
    before = h.manifest(existing)
    n = each_child_start(fake.install_args(existing, "--force"), tmp_path / "ctl", existing.parent, {}, existing,
                         before, "SIGINT-to-job")
    assert n >= 3  # uv venv, uv pip install, the verification probe (at least)


def test_a_signal_at_each_child_start_of_doctor_fix(fake, work, tmp_path):
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    n = each_child_start(doctor(fake, env_dir), tmp_path / "ctl", work, uv_offline(fake), env_dir, before,
                         "SIGTERM-to-tfsetup")
    assert n >= 3  # the inspection probe, uv pip install, the verification probe (at least)


@pytest.fixture
def env20(stack, work) -> Path:  # noqa: F811
    env = work / "env"
    proc = h.run(*stack.install_args(env, "--tf", "2.20"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    return env


def test_a_signal_at_each_child_start_of_add(stack, env20, work, tmp_path):  # noqa: F811
    before = h.manifest(env20)
    n = each_child_start(["add", "tabulate", "--env", str(env20), "--json"], tmp_path / "ctl", work, stack.env(),
                         env20, before, "SIGTERM-to-tfsetup")
    assert n >= 2  # the resolve, the install, the quick verification


def test_a_signal_at_each_child_start_of_upgrade(stack, env20, work, tmp_path):  # noqa: F811
    before = h.manifest(env20)
    n = each_child_start(["upgrade", str(env20), "--yes", "--json", "--recipes-file", str(stack.table)],
                         tmp_path / "ctl", work, stack.env(), env20, before, "SIGINT-to-job")
    assert n >= 3


def test_sigkill_of_tfsetup_takes_its_engine_child_with_it(fake, work, tmp_path):
    """SIGKILL to tfsetup alone, its `uv pip install` still running: the child dies with it (Linux:
    PR_SET_PDEATHSIG), so the next command restores an env nothing changes afterwards."""
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    env = dict(uv_offline(fake), TFSETUP_UV=str(fake.uv_wrapper), FAULT_UV_ON="pip install", FAULT_UV_WHEN="before",
               FAULT_UV_READY=str(ctl / "ready"), FAULT_UV_RELEASE=str(ctl / "release"))
    fixing = h.start(*doctor(fake, env_dir), env=env, cwd=work)
    try:
        h.wait_for_file(ctl / "ready", watch=fixing)
        engine = int((ctl / "ready").read_text())
        fixing.signal(signal.SIGKILL)
        assert fixing.finish(60) == -signal.SIGKILL
        assert wait_gone(engine), "the engine child outlived tfsetup"
    finally:
        (ctl / "release").touch()  # an orphan would now run the real install into the env
    proc = h.run("doctor", str(env_dir), "--json", "--recipes-file", str(fake.table), cwd=work)
    assert "restored" in proc.stderr, proc.stderr
    assert h.manifest(env_dir) == before and sorted(p.name for p in work.iterdir()) == ["my env"]


def test_recovery_stops_an_engine_a_killed_tfsetup_left_running(work):
    """Where PDEATHSIG does not reach (macOS, or a child that outlived it): the journal names the child
    by pid and start time, and the next command on the env stops it before restoring anything."""
    from tfsetup import child, txn

    env_dir = bare_env(work / "my env")
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        txn.write_journal(env_dir, {"phase": "build", "children": [
            {"pid": orphan.pid, "start": child.start_time(orphan.pid)},
            {"pid": stranger.pid, "start": "not its start time"}]})  # the pid was reused: not ours
        assert txn.recover_if_idle(env_dir) == []
        assert orphan.wait(30) == -signal.SIGKILL
        assert stranger.poll() is None
        assert not txn.journal_path(env_dir).exists()
    finally:
        for proc in (orphan, stranger):
            proc.kill()
            proc.wait()
