"""Issue 20 class 1: an env has one identity, whatever the spelling. Real symlinks, real processes: PATH
is resolved once as the kernel resolves it (the real parent + the name; a link as the last component is
followed to its directory, except by `remove`, which refuses it), and the journal, the lock and the
backup key on the directory, never on the string the user typed."""
from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

from tests.faults import harness as h
from tests.faults.harness import python_runs
from tests.faults.test_doctor_faults import bare_env, doctor, uv_offline


def test_a_repair_killed_between_steps_is_restored_through_a_symlinked_parent(fake, work, tmp_path):
    """doctor --fix is SIGKILLed after its engine changed the env (the lock installed, the rest not done);
    the next command reaches the env through a link to its parent (on a Mac, /tmp is /private/tmp): the
    journal's backup is this env's, so it is put back, exactly."""
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    env = dict(uv_offline(fake), TFSETUP_UV=str(fake.uv_wrapper), FAULT_UV_ON="pip install",
               FAULT_UV_READY=str(ctl / "ready"), FAULT_UV_RELEASE=str(ctl / "release"))
    fixing = h.start(*doctor(fake, env_dir), env=env, cwd=work)
    try:
        h.wait_for_file(ctl / "ready", watch=fixing)  # the real install into the env is done, the step open
        assert h.manifest(env_dir) != before
        fixing.signal(signal.SIGKILL)
        assert fixing.finish(60) == -signal.SIGKILL
    finally:
        (ctl / "release").touch()
    link = tmp_path / "link to work"
    link.symlink_to(work)
    proc = h.run("doctor", str(link / "my env"), "--json", "--recipes-file", str(fake.table), cwd=tmp_path)
    assert "restored" in proc.stderr, proc.stderr
    assert h.manifest(env_dir) == before
    assert sorted(p.name for p in work.iterdir()) == ["my env"], "the backup or journal was left"


def test_remove_through_link_dotdot_removes_what_the_kernel_means(fake, made_env, work):
    """`x/link/../env` with x/link -> y/sub is y/env for the kernel (the link first, then `..`), not x/env."""
    x, sub = work / "x", work / "y" / "sub"
    x.mkdir()
    sub.mkdir(parents=True)
    (x / "link").symlink_to(sub)
    for env in (x / "env", work / "y" / "env"):
        shutil.copytree(made_env, env, symlinks=True)
        (env / "lib" / "my notes.txt").unlink()
    proc = h.run("remove", str(x / "link" / ".." / "env"), "--yes", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["path"] == str((work / "y" / "env").resolve())
    assert not (work / "y" / "env").exists() and (x / "env" / "pyvenv.cfg").exists()


def test_remove_refuses_a_symlink_as_the_last_component(made_env, work):
    real = work / "real env"
    shutil.copytree(made_env, real, symlinks=True)
    (work / "link").symlink_to(real)
    proc = h.run("remove", str(work / "link"), "--yes", "--json", cwd=work)
    assert proc.returncode == 2 and "symlink" in json.loads(proc.stdout)["error"]
    assert (real / "pyvenv.cfg").exists() and (work / "link").is_symlink()


def test_install_force_through_a_symlink_to_an_env_replaces_the_env_it_names(fake, existing, work):
    link = work / "link"
    link.symlink_to(existing)
    proc = h.run(*fake.install_args(link, "--no-verify", "--force", "--json"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"] == str(existing.resolve())
    assert link.is_symlink() and link.resolve() == existing.resolve()  # the link still names the env
    assert not (existing / "lib" / "my notes.txt").exists() and python_runs(existing)
    assert sorted(p.name for p in work.iterdir()) == ["env", "link"]


def test_one_lock_for_every_spelling_of_an_env(fake, work, tmp_path):
    """A doctor --fix holding the env through one spelling refuses an install through another."""
    from tests.faults.test_concurrency import held

    env_dir = bare_env(work / "my env")
    link = tmp_path / "link"
    link.symlink_to(work)
    ctl = tmp_path / "ctl"
    fixing = h.start(*doctor(fake, link / "my env"), env=dict(uv_offline(fake), **held(fake, ctl)), cwd=work)
    try:
        h.wait_for_file(ctl / "ready", watch=fixing)
        spelled = work / "." / "my env"
        second = h.run(*fake.install_args(spelled, "--no-verify", "--force", "--json"), cwd=work, timeout=60)
        assert second.returncode == 4 and "another tfsetup" in json.loads(second.stdout)["error"]
    finally:
        (ctl / "release").touch()
    fixing.finish(120)
