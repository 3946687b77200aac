"""Issues 10 and 11.1-11.7: one transaction for install and doctor --fix. Real processes held at
controlled points (the fake uv waits for a release file), real signals, on-disk states exactly as a
SIGKILL leaves them (a journal and the sibling directories of the interrupted phase)."""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.faults import harness as h
from tests.faults.harness import python_runs
from tests.faults.test_concurrency import held, start_held
from tests.faults.test_doctor_faults import bare_env, doctor, uv_offline


def test_install_force_and_doctor_fix_race_one_waits_env_is_never_a_mix(fake, work, tmp_path):
    """install --force holds the env; doctor --fix refuses without copying, moving or deleting a byte."""
    existing = bare_env(work / "env")  # no TensorFlow: doctor has a repair to make
    before = h.manifest(existing)
    ctl = tmp_path / "ctl"
    first = start_held(fake, ctl, existing, "--no-verify", "--force", "--json")
    try:
        fix = h.run(*doctor(fake, existing), env=uv_offline(fake), cwd=existing.parent, timeout=120)
        assert fix.returncode == 4, fix.stdout + fix.stderr
        doc = json.loads(fix.stdout)
        assert "another tfsetup" in doc["error"] and doc["repaired"] is False and doc["restored"] is False
        assert h.manifest(existing) == before  # doctor touched nothing while install held the path
        assert [x for x in h.leftovers(existing.parent) if "backup" in x] == [], "doctor backed up without the lock"
    finally:
        (ctl / "release").touch()
    assert first.finish(60) == 0, first.stderr
    assert not (existing / "lib" / "my notes.txt").exists()  # wholly the new env
    assert python_runs(existing) and h.leftovers(existing.parent) == []


def test_doctor_fix_holds_the_env_and_install_force_refuses(fake, work, tmp_path):
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    ctl = tmp_path / "ctl"
    env = dict(uv_offline(fake), **held(fake, ctl))
    fixing = h.start(*doctor(fake, env_dir), env=env, cwd=work)
    try:
        h.wait_for_file(ctl / "ready", watch=fixing)
        second = h.run(*fake.install_args(env_dir, "--no-verify", "--force", "--json"), cwd=work, timeout=60)
        assert second.returncode == 4 and "another tfsetup" in json.loads(second.stdout)["error"]
    finally:
        (ctl / "release").touch()
    assert fixing.finish(120) == 4  # the fake TensorFlow fails verification: the repair is undone
    assert json.loads(fixing.stdout)["restored"] is True
    assert h.manifest(env_dir) == before and sorted(p.name for p in work.iterdir()) == ["my env"]


def test_a_failed_rebuild_leaves_the_env_exactly_as_before(fake, work, monkeypatch):
    """A rebuild (wrong-arch interpreter) goes through the same staged swap as install: the fresh env
    fails verification beside PATH and PATH is never touched."""
    from tfsetup.commands._common import load_table
    from tfsetup.doctor.apply import RepairFailed, apply_repair
    from tfsetup.env.facts import inspect_env
    from tfsetup.doctor.repair import RepairAction, RepairPlan
    from tfsetup.host.detect import detect_host
    from tfsetup.plan import PlanRequest, plan

    for key, value in uv_offline(fake).items():
        monkeypatch.setenv(key, value)
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    host = detect_host()
    chosen = plan(host, load_table(fake.table), PlanRequest(python=h.PY.rsplit("python", 1)[-1] or None))
    rp = RepairPlan(env=str(env_dir), actions=(RepairAction("rebuild", "rebuild it"),), addresses=("rosetta-python",),
                    plan=chosen, rebuild=True, engine="uv")
    lines = []
    with pytest.raises(RepairFailed) as info:
        apply_repair(rp, inspect_env(env_dir), host, [], lines.append)
    assert info.value.exit_code == 4 and info.value.restored and "verification" in info.value.message
    assert any("verifying the rebuilt env" in line for line in lines)  # it got that far, for real
    assert h.manifest(env_dir) == before
    assert sorted(p.name for p in work.iterdir()) == ["my env"]


def _as_killed_mid_swap(target: Path, renamed_new: bool) -> None:
    """The state a SIGKILL between the renames (or just after them) of a promotion leaves."""
    from tfsetup import txn

    old = Path(str(txn.reserve(target, txn.OLD)))
    stage = Path(str(txn.reserve(target, txn.STAGE)))
    txn.write_journal(target, {"phase": "swap", "stage": str(stage), "old": str(old)})
    os.rename(target, old)
    if renamed_new:
        os.mkdir(target)
        (target / "pyvenv.cfg").write_text("home = /usr/bin\n")
    else:
        os.mkdir(stage)


@pytest.mark.parametrize("command", ["verify", "doctor", "install"])
def test_sigkill_at_the_swap_is_recovered_by_the_next_command(fake, existing, command, monkeypatch):
    before = h.manifest(existing)
    _as_killed_mid_swap(existing, renamed_new=False)
    assert not existing.exists()
    if command == "install":
        proc = h.run(*fake.install_args(existing, "--no-verify", "--force"), cwd=existing.parent)
        assert proc.returncode == 0, proc.stderr  # the first try succeeds
        assert "restored" in proc.stderr and python_runs(existing)
    else:
        args = [command, str(existing), "--json"] + (["--recipes-file", str(fake.table)] if command == "doctor" else [])
        proc = h.run(*args, cwd=existing.parent)
        assert "does not exist" not in proc.stderr
        # verify imports (pycs) and records what it found in the env's record: the rest is the old env, exactly
        changed = ("tfsetup-env.json",) if command == "verify" else ()
        after = {k: v for k, v in h.manifest(existing).items() if "__pycache__" not in k and k not in changed}
        assert after == {k: v for k, v in before.items() if k not in changed}
        if command == "verify":
            assert json.loads((existing / "tfsetup-env.json").read_text())["verification"]["ok"] is False
    assert h.leftovers(existing.parent) == []


def test_a_signal_after_the_commit_point_is_success(fake, made_env, work):
    """Ctrl-C while the old env is being removed: the new env is in place, so exit 0 and registered."""
    import shutil

    target = work / "env"
    shutil.copytree(made_env, target, symlinks=True)
    for i in range(4000):  # an old env that takes a while to delete
        package = target / "lib" / "old-data" / f"p{i // 100}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"m{i}.py").write_bytes(b"")
    run = h.start(*fake.install_args(target, "--no-verify", "--force", "--json"), cwd=work)
    run.wait_line("removing the old env")
    run.signal(signal.SIGINT, group=True)
    assert run.finish(120) == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["ok"] is True and python_runs(target) and not (target / "lib" / "old-data").exists()
    assert h.leftovers(work) == []
    state = Path(os.environ["TFSETUP_STATE_DIR"])
    assert str(target.resolve()) in json.loads((state / "envs.json").read_text())["envs"]  # registered


def test_install_force_refuses_the_env_tfsetup_runs_from(fake, work):
    proc = h.run(*fake.install_args(Path(sys.prefix), "--no-verify", "--force", "--json"), cwd=work)
    assert proc.returncode == 2 and "tfsetup itself is running from" in json.loads(proc.stdout)["error"]
    assert Path(sys.prefix, "bin", "tfsetup").exists()


def test_force_never_deletes_the_users_files_in_a_venv(fake, made_env, work):
    import shutil

    target = work / "project"
    shutil.copytree(made_env, target, symlinks=True)
    (target / "train.py").write_text("print('mine')\n")
    before = h.manifest(target)
    proc = h.run(*fake.install_args(target, "--no-verify", "--force", "--json"), cwd=work)
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert "train.py" in doc["error"] and doc["fix"]
    assert h.manifest(target) == before


def test_an_activated_tool_env_is_never_the_default_env(work):
    env = {"VIRTUAL_ENV": sys.prefix}
    proc = h.run("verify", "--json", env=env, cwd=work)
    assert proc.returncode == 2 and "no environment found" in json.loads(proc.stdout)["error"]
