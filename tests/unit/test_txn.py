"""txn.py: the one transaction. Real directories; a killed run is reproduced by leaving exactly the
state the journal says it was in."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.helpers import manifest
from tfsetup import txn
from tfsetup.txn import Busy, Transaction, journal_path, path_lock, recover, sibling_prefix, write_journal


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))


def _env(path: Path, marker: str) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (path / "lib").mkdir()
    (path / "lib" / "marker").write_text(marker)
    return path


def _beside(work: Path) -> list:
    return sorted(p.name for p in work.iterdir())


def test_promote_swaps_and_leaves_nothing_beside(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    with Transaction(target) as t:
        stage = t.new_stage()
        _env(stage, "new")
        t.promote(stage)
    assert (target / "lib" / "marker").read_text() == "new"
    assert _beside(work) == ["env"]


def test_a_failure_before_the_commit_point_leaves_the_old_env_exactly(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    before = manifest(target)
    with pytest.raises(RuntimeError):
        with Transaction(target) as t:
            _env(t.new_stage(), "new")
            raise RuntimeError("verify failed")
    assert manifest(target) == before and _beside(work) == ["env"]


def test_an_in_place_change_is_undone_from_the_backup(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    os.chmod(target / "lib", 0o750)
    before = manifest(target)
    with pytest.raises(RuntimeError):
        with Transaction(target) as t:
            t.backup()
            (target / "lib" / "marker").unlink()
            (target / "junk").write_text("x")
            raise RuntimeError("repair failed")
    assert manifest(target) == before and _beside(work) == ["env"]
    assert (target / "lib").stat().st_mode & 0o777 == 0o750


def test_kept_changes_drop_the_backup(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    with Transaction(target) as t:
        t.backup()
        (target / "lib" / "marker").write_text("repaired")
        t.keep()
    assert (target / "lib" / "marker").read_text() == "repaired" and _beside(work) == ["env"]


def _killed_mid_swap(work: Path, renamed_new: bool) -> Path:
    """What a SIGKILL between (or after) the two renames of a promotion leaves."""
    target = work / "env"
    old = work / (sibling_prefix(target, txn.OLD) + "x")
    stage = work / (sibling_prefix(target, txn.STAGE) + "y")
    _env(old, "old")
    _env(target if renamed_new else stage, "new")
    write_journal(target, {"phase": "swap", "stage": str(stage), "old": str(old)})
    return target


def test_a_kill_between_the_renames_restores_the_old_env(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    target = _killed_mid_swap(work, renamed_new=False)
    assert not target.exists()
    notes = recover(target)
    assert (target / "lib" / "marker").read_text() == "old"
    assert _beside(work) == ["env"] and any("restored" in n for n in notes)


def test_a_kill_after_the_commit_point_keeps_the_new_env(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    target = _killed_mid_swap(work, renamed_new=True)
    recover(target)
    assert (target / "lib" / "marker").read_text() == "new" and _beside(work) == ["env"]


def test_a_kill_during_an_in_place_repair_restores_the_backup(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    before = manifest(target)
    backup = work / (sibling_prefix(target, txn.BACKUP) + "z")
    txn.copy_tree(target, backup)
    write_journal(target, {"phase": "repair", "backup": str(backup)})
    (target / "lib" / "marker").unlink()  # engines replace files, never write into them (the backup links them)
    (target / "lib" / "marker").write_text("half-repaired")
    with Transaction(target):  # the next command on the env recovers it first
        pass
    assert manifest(target) == before and _beside(work) == ["env"]


def test_a_kill_while_backing_up_drops_the_partial_backup(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    before = manifest(target)
    backup = work / (sibling_prefix(target, txn.BACKUP) + "z")
    (backup / "lib").mkdir(parents=True)
    write_journal(target, {"phase": "backup", "backup": str(backup)})
    recover(target)
    assert manifest(target) == before and _beside(work) == ["env"]


def test_leftovers_of_another_env_are_never_taken(tmp_path):
    work = tmp_path / "w"
    a = _env(work / "env", "a")
    b = work / "env.tfsetup-old-x"  # a name that starts like env's siblings once did
    other_old = work / (sibling_prefix(b, txn.OLD) + "q")
    _env(other_old, "b")
    recover(a)
    assert other_old.exists() and (a / "lib" / "marker").read_text() == "a"
    assert not sibling_prefix(a, txn.OLD) == sibling_prefix(b, txn.OLD)


def test_a_journal_cannot_point_outside_its_env(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "mine")
    victim = _env(tmp_path / "elsewhere", "not yours")
    write_journal(target, {"phase": "repair", "backup": str(victim)})
    recover(target)
    assert (target / "lib" / "marker").read_text() == "mine" and victim.exists()
    assert not journal_path(target).exists()


def test_the_lock_names_the_directory_not_a_spelling(tmp_path, monkeypatch):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    link = tmp_path / "link"
    link.symlink_to(work)
    monkeypatch.chdir(work)
    with path_lock(target):
        for spelling in (link / "env", Path("env"), work / "sub" / ".." / "env"):
            (work / "sub").mkdir(exist_ok=True)
            with pytest.raises(Busy):
                with path_lock(spelling):
                    pass
        with path_lock(work / "other"):  # another env is free
            pass


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can make files for another user")
def test_a_backup_keeps_owners(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    for root, dirs, files in os.walk(target):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(name, 12345, 12345)
    backup = work / "copy"
    txn.copy_tree(target, backup)
    for root, dirs, files in os.walk(backup):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            assert (os.lstat(name).st_uid, os.lstat(name).st_gid) == (12345, 12345), name
