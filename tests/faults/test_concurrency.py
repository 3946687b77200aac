"""Issue 7.2: two `tfsetup install` runs into the same PATH at once. The second fails fast with a clear
message naming the first; the env at PATH is never a mix of the two; a run killed outright (SIGKILL:
no cleanup at all) leaves no lock that blocks the next run, which also clears what it left."""
from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.faults import harness as h
from tests.faults.harness import python_runs


def held(fake, ctl: Path, step: str = "pip install") -> dict:
    ctl.mkdir(exist_ok=True)
    return {"TFSETUP_UV": str(fake.uv_wrapper), "FAULT_UV_ON": step, "FAULT_UV_READY": str(ctl / "ready"),
            "FAULT_UV_RELEASE": str(ctl / "release")}


def start_held(fake, ctl: Path, target: Path, *args: str):
    """An install paused inside `uv pip install` (the fake uv waits for ctl/release), once it is there."""
    run = h.start(*fake.install_args(target, *args), env=held(fake, ctl), cwd=target.parent)
    try:
        h.wait_for_file(ctl / "ready", watch=run)
    except BaseException:
        (ctl / "release").touch()
        raise
    return run


def test_second_install_fails_fast_while_the_first_runs(fake, work, tmp_path):
    target = work / "shared env"
    ctl = tmp_path / "ctl"
    first = start_held(fake, ctl, target, "--no-verify", "--json")
    try:
        # The first holds the lock until this test releases it: a second run that waited for the lock
        # would never return (h.run's timeout), so returning at all is failing fast, on any machine.
        second = h.run(*fake.install_args(target, "--no-verify", "--force"), cwd=work, timeout=60)
        line = h.error_line(second.stderr)
        assert second.returncode == 4, second.stderr
        assert f"another tfsetup (pid {first.proc.pid}) is working on {target}" in line
        assert not target.exists()  # the second run touched nothing
    finally:
        (ctl / "release").touch()
    assert first.finish(60) == 0, first.stderr
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert record["recipe"] == "faults-fake-tf"
    assert python_runs(target) and h.leftovers(work) == []


def test_a_second_run_cannot_replace_an_env_being_replaced(fake, existing, tmp_path):
    ctl = tmp_path / "ctl"
    before = h.manifest(existing)
    first = start_held(fake, ctl, existing, "--no-verify", "--force")
    try:
        second = h.run(*fake.install_args(existing, "--no-verify", "--force", "--json"), cwd=existing.parent,
                       timeout=60)
        assert second.returncode == 4 and "another tfsetup" in json.loads(second.stdout)["error"]
        assert h.manifest(existing) == before  # still the old env, untouched by either run so far
    finally:
        (ctl / "release").touch()
    assert first.finish(60) == 0, first.stderr
    assert not (existing / "lib" / "my notes.txt").exists()  # replaced as a whole by the first run's env
    assert python_runs(existing) and h.leftovers(existing.parent) == []


def test_three_runs_racing_into_one_path_give_one_whole_env(fake, work, tmp_path):
    """The runs overlap for sure: the first is held inside `uv pip install` (lock taken, env half built)
    while the other two start, run and finish; then it is let go."""
    target = work / "raced"
    ctl = tmp_path / "ctl"
    first = start_held(fake, ctl, target, "--no-verify", "--json")
    try:
        others = [h.start(*fake.install_args(target, "--no-verify", "--json", yes=False), cwd=work)
                  for _ in range(2)]
        other_codes = [r.finish(60) for r in others]
        assert first.proc.poll() is None, "the first run was not still holding the path: no overlap"
    finally:
        (ctl / "release").touch()
    runs, codes = [first] + others, [first.finish(120)] + other_codes
    assert codes == [0, 4, 4], [r.stderr for r in runs]  # without --force, only one may create it
    for run in others:  # lost the race to the lock: told who holds it, touched nothing
        assert f"another tfsetup (pid {first.proc.pid}) is working on {target}" in h.error_line(run.stderr)
    (winner,) = [json.loads(r.stdout) for r, c in zip(runs, codes) if c == 0]
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert winner["target"] == str(target) and record["lock"]["digest"] == winner["plan"]["lock"]["digest"]
    assert python_runs(target) and h.leftovers(work) == []


def test_a_run_killed_outright_does_not_block_the_next(fake, existing, tmp_path):
    ctl = tmp_path / "ctl"
    before = h.manifest(existing)
    killed = start_held(fake, ctl, existing, "--no-verify", "--force")
    killed.signal(signal.SIGKILL, group=True)  # tfsetup and its uv die with no cleanup at all
    assert killed.finish(30) == -signal.SIGKILL
    (ctl / "release").touch()
    assert any(".tfsetup-stage-" in name for name in h.leftovers(existing.parent))  # it did leave debris
    assert h.manifest(existing) == before  # the old env was not touched before the swap
    proc = h.run(*fake.install_args(existing, "--no-verify", "--force", "--json"), cwd=existing.parent, timeout=60)
    assert proc.returncode == 0, proc.stderr  # not "another tfsetup is working on it": the lock died with it
    assert "removed a staging directory left by an interrupted run" in proc.stderr
    assert h.leftovers(existing.parent) == [] and python_runs(existing)
