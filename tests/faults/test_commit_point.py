"""Issue 20 class 3: the commit point is the commit point, for every command. A real tfsetup is held at
each step of its swap (TFSETUP_TEST_PAUSE: it stops at the named point and waits for a release file, no
sleeps), a real Ctrl-C (SIGINT to the job) or SIGTERM lands there, and the outcome must match the disk:
the swap finishes, the command exits 0 and says so, nothing is left beside PATH, the list is right."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.faults import harness as h
from tests.faults.harness import SIGNALS, python_runs

SWAP_POINTS = ("swap-before-renames", "swap-between-renames", "swap-committed")


def paused_at(point: str, ctl: Path) -> dict:
    ctl.mkdir(exist_ok=True)
    return {"TFSETUP_TEST_PAUSE": point, "TFSETUP_TEST_PAUSE_DIR": str(ctl)}


def signal_at(args, point: str, sig_name: str, ctl: Path, cwd: Path, env=None, at_pause=None) -> h.Watch:
    sig, group = SIGNALS[sig_name]
    watch = h.start(*args, env=dict(paused_at(point, ctl), **(env or {})), cwd=cwd)
    try:
        h.wait_for_file(ctl / "ready", watch=watch)
        assert (ctl / "ready").read_text().split()[0] == point
        if at_pause is not None:
            at_pause()
        watch.signal(sig, group=group)
    finally:
        (ctl / "release").touch()
    watch.finish(120)
    return watch


def registered() -> list:
    state = Path(os.environ["TFSETUP_STATE_DIR"]) / "envs.json"
    return json.loads(state.read_text())["envs"] if state.exists() else []


@pytest.mark.parametrize("sig_name", sorted(SIGNALS))
@pytest.mark.parametrize("point", SWAP_POINTS)
def test_install_force_interrupted_at_each_step_of_the_swap_succeeds(fake, existing, tmp_path, point, sig_name):
    def journal_first() -> None:  # the journal is on disk before the first rename
        if point == "swap-before-renames":
            journals = [json.loads(p.read_text()) for p in existing.parent.glob(".env.tfsetup-journal-*.json")]
            assert [j["phase"] for j in journals] == ["swap"] and (existing / "lib" / "my notes.txt").exists()
            assert (existing.parent / journals[0]["stage"]).is_dir()

    watch = signal_at(fake.install_args(existing, "--no-verify", "--force", "--json"), point, sig_name,
                      tmp_path / "ctl", existing.parent, at_pause=journal_first)
    assert watch.proc.returncode == 0, watch.stderr
    assert json.loads(watch.stdout)["ok"] is True and "error" not in watch.stderr
    assert not (existing / "lib" / "my notes.txt").exists()  # wholly the new env
    assert python_runs(existing)
    assert sorted(p.name for p in existing.parent.iterdir()) == ["env"], "the old env was left beside it"
    assert str(existing.resolve()) in registered()


@pytest.mark.parametrize("point", ["discard-before-rename", "discard-committed"])
def test_remove_interrupted_at_its_commit_removes_and_forgets(fake, existing, tmp_path, point):
    installed = h.run(*fake.install_args(existing, "--no-verify", "--force"), cwd=existing.parent)
    assert installed.returncode == 0, installed.stderr
    assert str(existing.resolve()) in registered()
    watch = signal_at(["remove", str(existing), "--yes", "--json"], point, "SIGINT-to-job", tmp_path / "ctl",
                      existing.parent)
    assert watch.proc.returncode == 0, watch.stderr
    assert json.loads(watch.stdout)["removed"] is True
    assert list(existing.parent.iterdir()) == [] and str(existing.resolve()) not in registered()


def test_a_sigterm_right_after_the_backup_leaves_no_copy(fake, work, tmp_path):
    """doctor --fix: interrupted after the backup finished, before the repair: nothing changed, no copy."""
    from tests.faults.test_doctor_faults import bare_env, doctor, uv_offline

    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    watch = signal_at(doctor(fake, env_dir), "backup-copied", "SIGTERM-to-tfsetup", tmp_path / "ctl", work,
                      env=uv_offline(fake))
    assert watch.proc.returncode == 4, watch.stderr
    assert "interrupted" in json.loads(watch.stdout)["error"]
    assert h.manifest(env_dir) == before
    assert sorted(p.name for p in work.iterdir()) == ["my env"], "a backup or journal temporary was left"
