"""Issue 7.1: SIGINT (Ctrl-C to the whole job) and SIGTERM (`kill PID`) delivered while tfsetup is in
each stage of `install`: the target is exactly as before (absent stays absent; an existing env is
identical by a manifest of paths and hashes), no temporary directory is left, the exit code is
non-zero and there is one error line."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults import harness as h
from tests.faults.harness import SIGNALS, python_runs

# stage -> (its progress line, what holds it open so the signal lands inside it)
STAGES = {
    "venv": ("-> creating the venv", "uv", "venv"),  # real `uv venv` done, the step still open
    "install": ("-> installing the locked packages", "uv", "pip install"),  # real install done, step open
    "verify": ("-> verifying inside the new env", "tf", None),  # the probe is inside `import tensorflow`
}


def hold(stage: str, ctl: Path, fake) -> dict:
    _, kind, step = STAGES[stage]
    ctl.mkdir(exist_ok=True)
    if kind == "uv":
        return {"TFSETUP_UV": str(fake.uv_wrapper), "FAULT_UV_ON": step, "FAULT_UV_READY": str(ctl / "ready"),
                "FAULT_UV_RELEASE": str(ctl / "release")}
    return {"FAULT_TF_READY": str(ctl / "ready"), "FAULT_TF_RELEASE": str(ctl / "release")}


def interrupt(args, stage, sig_name, ctl, env, cwd) -> tuple:
    sig, group = SIGNALS[sig_name]
    watch = h.start(*args, env=env, cwd=cwd)
    try:
        watch.wait_line(STAGES[stage][0])
        h.wait_for_file(ctl / "ready", watch=watch)
        watch.signal(sig, group=group)
        code = watch.finish(60)
    finally:
        (ctl / "release").touch()  # never leave a held step behind
        if watch.proc.poll() is None:
            watch.signal(signal.SIGKILL, group=True)
    return code, watch


@pytest.mark.parametrize("sig_name", sorted(SIGNALS))
@pytest.mark.parametrize("stage", list(STAGES))
def test_interrupt_with_no_env_leaves_nothing(fake, work, tmp_path, stage, sig_name):
    target = work / "new env"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(hold(stage, tmp_path / "ctl", fake), TMPDIR=str(tmp))
    code, watch = interrupt(fake.install_args(target), stage, sig_name, tmp_path / "ctl", env, work)
    assert code != 0, watch.stderr
    assert "interrupted" in h.error_line(watch.stderr)
    assert not target.exists() and not target.is_symlink()
    assert sorted(p.name for p in work.iterdir()) == [], "a temporary directory was left beside the target"
    assert list(tmp.iterdir()) == [], "tfsetup left temporary files"


@pytest.mark.parametrize("sig_name", sorted(SIGNALS))
@pytest.mark.parametrize("stage", list(STAGES))
def test_interrupt_with_an_existing_env_keeps_it_byte_for_byte(fake, existing, tmp_path, stage, sig_name):
    before = h.manifest(existing)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(hold(stage, tmp_path / "ctl", fake), TMPDIR=str(tmp))
    code, watch = interrupt(fake.install_args(existing, "--force"), stage, sig_name, tmp_path / "ctl", env,
                            existing.parent)
    assert code != 0, watch.stderr
    assert "interrupted" in h.error_line(watch.stderr)
    assert h.manifest(existing) == before
    assert h.leftovers(existing.parent) == [] and sorted(p.name for p in existing.parent.iterdir()) == ["env"]
    assert list(tmp.iterdir()) == []
    assert python_runs(existing)  # and it still works where it is


def test_ctrl_c_hammered_during_the_rollback_still_restores(many_files, existing, tmp_path):
    """Ctrl-C, then Ctrl-C again and again while tfsetup rolls back a big staging dir: the rollback runs
    to the end (signals wait), the previous env is intact and nothing is left."""
    fake = many_files
    before = h.manifest(existing)
    ctl = tmp_path / "ctl"
    env = hold("verify", ctl, fake)
    watch = h.start(*fake.install_args(existing, "--force"), env=env, cwd=existing.parent)
    sent = 0
    try:
        watch.wait_line(STAGES["verify"][0])
        h.wait_for_file(ctl / "ready", watch=watch)
        deadline = time.monotonic() + 30
        while watch.proc.poll() is None and time.monotonic() < deadline:
            watch.signal(signal.SIGINT)
            sent += 1
            time.sleep(0.002)
        code = watch.finish(30)
    finally:
        (ctl / "release").touch()
        if watch.proc.poll() is None:
            watch.signal(signal.SIGKILL, group=True)
    assert sent > 1
    assert code != 0 and "Traceback" not in watch.stderr, watch.stderr
    assert h.manifest(existing) == before
    assert sorted(p.name for p in existing.parent.iterdir()) == ["env"], "the rollback stopped half-way"
