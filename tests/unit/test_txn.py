"""txn.py: the one transaction. Real directories; a killed run is reproduced by leaving exactly the
state the journal says it was in."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
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


# ---------------------------------------------------------------------------------------------
# names beside PATH: shared with the leftovers of older runs (and versions), so they are pinned

def test_sibling_and_journal_names_start_with_the_env_name_cut_at_100_bytes(tmp_path):
    short = tmp_path / "env"
    key = txn._key(short)
    assert txn.journal_path(short).name == f".env.tfsetup-journal-{key}.json"
    assert sibling_prefix(short, txn.STAGE) == f".env.tfsetup-stage-{key}-"
    long = tmp_path / ("n" * 200)
    assert sibling_prefix(long, txn.OLD).startswith("." + "n" * 100 + ".tfsetup-old-")


def test_a_255_byte_env_name_is_staged_and_promoted(tmp_path):
    work = tmp_path / "w"
    target = _env(work / ("e" * 255), "old")
    with Transaction(target) as t:
        stage = t.new_stage()
        _env(stage, "new")
        t.promote(stage)
    assert (target / "lib" / "marker").read_text() == "new" and _beside(work) == [target.name]


def test_the_lock_files_are_the_identity_and_the_real_path_older_versions_take(tmp_path):
    import hashlib

    target = tmp_path / "env"
    digest = hashlib.sha256(os.fsencode(os.path.realpath(target))).hexdigest()[:24]
    assert txn.legacy_lock_file_for(target).name == f"{digest}.lock"  # an older tfsetup at once is excluded
    st = os.stat(tmp_path)
    identity = f"{st.st_dev}:{st.st_ino}:{os.fsencode('env').hex()}"
    assert txn.lock_file_for(target).name == hashlib.sha256(identity.encode()).hexdigest()[:24] + ".lock"
    with path_lock(target):
        for held in (txn.legacy_lock_file_for(target), txn.lock_file_for(target)):
            import fcntl

            with open(held) as handle, pytest.raises(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


# ---------------------------------------------------------------------------------------------
# the journal

def test_a_journal_over_a_mebibyte_is_not_read(tmp_path):
    target = tmp_path / "env"
    write_journal(target, {"phase": "swap", "pad": "x" * (1 << 20)})
    assert txn.read_journal(target) is None
    write_journal(target, {"phase": "swap", "pad": "x" * 1000})
    assert txn.read_journal(target)["phase"] == "swap"


def test_a_journal_cannot_name_a_directory_beside_the_env_that_is_not_its_own(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "mine")
    neighbour = _env(work / "neighbour", "not yours")  # same parent, not one of env's siblings
    write_journal(target, {"phase": "repair", "backup": str(neighbour)})
    recover(target)
    assert (target / "lib" / "marker").read_text() == "mine" and (neighbour / "lib" / "marker").exists()
    elsewhere = tmp_path / "other"
    far = _env(elsewhere / (sibling_prefix(target, txn.BACKUP) + "z"), "far")  # its name, another dir
    write_journal(target, {"phase": "repair", "backup": str(far)})
    recover(target)
    assert (target / "lib" / "marker").read_text() == "mine" and (far / "lib" / "marker").exists()


# ---------------------------------------------------------------------------------------------
# the lock

def test_busy_names_the_pid_that_holds_the_lock(tmp_path):
    target = tmp_path / "env"
    with path_lock(target):
        with pytest.raises(Busy) as raised:
            with path_lock(target):
                pass
    assert f"pid {os.getpid()}" in str(raised.value)


def test_the_lock_is_released_even_while_the_error_that_left_it_is_still_held(tmp_path):
    target = tmp_path / "env"
    with pytest.raises(RuntimeError) as raised:
        with path_lock(target):
            raise RuntimeError("failed inside")
    assert raised.value.__traceback__ is not None  # the traceback (and its frames) is still alive
    with path_lock(target):  # not Busy
        pass


# ---------------------------------------------------------------------------------------------
# signals

@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_interrupts_once_then_is_ignored_until_the_block_ends():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with txn.sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100):  # the handler runs between bytecodes
                time.sleep(0.01)
            raise AssertionError("SIGTERM did not interrupt")
    with txn.sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        for sig in (signal.SIGINT, signal.SIGTERM):  # a hammered Ctrl-C cannot cut the rollback
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # the handler runs (and ignores it) between bytecodes; nothing to wait for
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_signals_are_held_only_on_the_main_thread():
    with txn.signals_deferred():
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    seen = []

    def worker() -> None:
        with txn.signals_deferred(), txn.sigterm_as_interrupt():
            seen.append(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [False]  # a worker thread's children must not inherit a blocked mask


# ---------------------------------------------------------------------------------------------
# backups

def test_a_backup_keeps_symlinks_as_links_and_the_top_directory_mode(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    (target / "bin" / "python").symlink_to("/usr/bin/python3")
    (target / "lib64").symlink_to("lib")  # as in every Linux venv: a link to a directory stays a link
    os.chmod(target, 0o751)
    backup = work / "copy"
    txn.copy_tree(target, backup)
    assert os.readlink(backup / "bin" / "python") == "/usr/bin/python3"
    assert os.readlink(backup / "lib64") == "lib"
    assert backup.stat().st_mode & 0o777 == 0o751
    assert manifest(backup) == manifest(target)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can make files for another user")
def test_a_backup_keeps_a_group_that_differs_from_the_owners(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    os.lchown(target / "lib", 0, 12345)  # root's directory, another group
    backup = work / "copy"
    txn.copy_tree(target, backup)
    assert (os.lstat(backup / "lib").st_uid, os.lstat(backup / "lib").st_gid) == (0, 12345)


def test_the_journal_announces_a_backup_before_its_first_file_is_linked(tmp_path, monkeypatch):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    phases = []
    real_link = os.link

    def link(source, destination, *args, **kwargs):  # the OS boundary: note what a kill now would find
        phases.append((txn.read_journal(target) or {}).get("phase"))
        return real_link(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)
    with Transaction(target) as t:
        t.backup()
        t.keep()
    assert phases and set(phases) == {"backup"}


def test_a_backup_that_cannot_be_made_leaves_no_copy_and_no_journal(tmp_path, monkeypatch):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    before = manifest(target)

    def no_space(source, destination, *args, **kwargs):  # the OS boundary: the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", no_space)
    monkeypatch.setattr(txn.shutil, "copy2", no_space)
    with pytest.raises(OSError):
        with Transaction(target) as t:
            t.backup()
    assert manifest(target) == before and _beside(work) == ["env"]


# ---------------------------------------------------------------------------------------------
# promotion, keep and rollback details

def test_promote_onto_a_path_that_does_not_exist_yet(tmp_path):
    work = tmp_path / "w"
    target = work / "env"
    with Transaction(target) as t:
        _env(t.new_stage(), "new")
        t.promote(t._stage)
    assert (target / "lib" / "marker").read_text() == "new" and _beside(work) == ["env"]


def test_promote_reports_removing_the_old_env_while_the_journal_still_names_it(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    seen = []

    def progress(line: str) -> None:
        seen.append((line, (txn.read_journal(target) or {}).get("phase")))

    with Transaction(target, progress) as t:
        stage = t.new_stage()
        _env(stage, "new")
        t.promote(stage)
    assert seen == [("removing the old env ...", "swap")]
    assert not journal_path(target).exists()


def test_a_kill_while_a_kept_repair_drops_its_backup_keeps_the_repair(tmp_path, monkeypatch):
    """keep() is past the commit point: a kill while the backup is being deleted (here: the delete
    stops half-way) must not make the next run put the half-deleted backup back."""
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    real_rmtree = txn.shutil.rmtree

    def killed_half_way(path, *args, **kwargs):
        if ".tfsetup-backup-" in os.fspath(path):
            (Path(path) / "lib" / "marker").unlink()
            raise KeyboardInterrupt("killed")
        return real_rmtree(path, *args, **kwargs)

    with Transaction(target) as t:
        t.backup()
        (target / "lib" / "marker").unlink()
        (target / "lib" / "marker").write_text("repaired")
        monkeypatch.setattr(txn.shutil, "rmtree", killed_half_way)
        t.keep()
    monkeypatch.setattr(txn.shutil, "rmtree", real_rmtree)
    recover(target)
    assert (target / "lib" / "marker").read_text() == "repaired" and _beside(work) == ["env"]


def _undeletable(directory: Path) -> None:
    """A file under `directory` that rmtree cannot remove (until _release)."""
    blocked = directory / "blocked"
    blocked.mkdir()
    (blocked / "f").write_text("x")
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(blocked / "f")], capture_output=True).returncode != 0:
            pytest.skip("root, and no chattr +i here")
    else:
        os.chmod(blocked, 0o500)


def _release(root: Path) -> None:
    """Undo every _undeletable under root (wherever the transaction moved it), so pytest can clean up."""
    for path in root.rglob("blocked"):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path / "f")], check=True)
        else:
            os.chmod(path, 0o700)


@pytest.mark.skipif(os.name == "nt" or shutil.which("chattr") is None and os.geteuid() == 0,
                    reason="needs a file that cannot be deleted")
def test_an_old_env_that_cannot_be_fully_deleted_does_not_fail_a_committed_install(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    _undeletable(target)
    try:
        with Transaction(target) as t:
            stage = t.new_stage()
            _env(stage, "new")
            t.promote(stage)
        assert (target / "lib" / "marker").read_text() == "new"
    finally:
        _release(work)


@pytest.mark.skipif(os.name == "nt" or shutil.which("chattr") is None and os.geteuid() == 0,
                    reason="needs a file that cannot be deleted")
def test_a_stage_that_cannot_be_fully_deleted_does_not_hide_the_error(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    try:
        with pytest.raises(RuntimeError, match="verify failed"):
            with Transaction(target) as t:
                stage = t.new_stage()
                _env(stage, "new")
                _undeletable(stage)
                raise RuntimeError("verify failed")
        assert (target / "lib" / "marker").read_text() == "old"
    finally:
        _release(work)


@pytest.mark.skipif(os.name == "nt" or shutil.which("chattr") is None and os.geteuid() == 0,
                    reason="needs a file that cannot be deleted")
def test_a_partial_backup_that_cannot_be_fully_deleted_does_not_hide_the_error(tmp_path, monkeypatch):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    real_copy_tree = txn.copy_tree

    def copy_then_fail(source, destination):  # the copy stops (disk full) after a blocked file
        real_copy_tree(source, destination)
        _undeletable(destination)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(txn, "copy_tree", copy_then_fail)
    try:
        with pytest.raises(OSError, match="No space"):
            with Transaction(target) as t:
                t.backup()
        assert (target / "lib" / "marker").read_text() == "x"
    finally:
        _release(work)


# ---------------------------------------------------------------------------------------------
# recovery details

def test_recover_without_a_journal_puts_an_old_env_back_and_says_so(tmp_path):
    work = tmp_path / "w"
    target = work / "env"
    old = _env(work / (sibling_prefix(target, txn.OLD) + "x"), "old")
    notes = recover(target)
    assert (target / "lib" / "marker").read_text() == "old" and not old.exists()
    assert notes == [f"restored {target} from an interrupted run"]


def test_recover_notes_each_kind_of_leftover_for_what_it_is(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    _env(work / (sibling_prefix(target, txn.FAILED) + "f"), "failed")
    notes = recover(target)
    assert notes == [] and _beside(work) == ["env"]  # a failed swap's leftover: removed quietly
    backup = _env(work / (sibling_prefix(target, txn.BACKUP) + "b"), "b")
    notes = recover(target)
    assert notes == [f"removed the backup of a finished repair ({backup.name})"] and _beside(work) == ["env"]


def test_recover_a_swap_into_a_new_path_killed_before_the_rename(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    target = work / "env"
    stage = _env(work / (sibling_prefix(target, txn.STAGE) + "s"), "new")
    write_journal(target, {"phase": "swap", "stage": str(stage), "old": None})
    notes = recover(target)
    assert not target.exists() and _beside(work) == []
    assert notes == [f"removed a staging directory left by an interrupted run ({stage.name})"]


def test_recover_a_swap_puts_the_old_env_back_over_whatever_is_at_path(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "half")
    old = _env(work / (sibling_prefix(target, txn.OLD) + "o"), "old")
    stage = _env(work / (sibling_prefix(target, txn.STAGE) + "s"), "new")
    write_journal(target, {"phase": "swap", "stage": str(stage), "old": str(old)})
    recover(target)
    assert (target / "lib" / "marker").read_text() == "old" and _beside(work) == ["env"]


def test_recover_if_idle_does_nothing_without_leftovers(tmp_path):
    target = _env(tmp_path / "w" / "env", "x")
    assert txn.recover_if_idle(target) == []
    assert not txn.lock_file_for(target).exists()  # not even the lock is taken


def test_recover_if_idle_recovers_a_journal_alone_and_a_sibling_alone(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    write_journal(target, {"phase": "cleanup"})
    assert txn.recover_if_idle(target) == [] and _beside(work) == ["env"]
    stage = _env(work / (sibling_prefix(target, txn.STAGE) + "s"), "new")
    assert txn.recover_if_idle(target) == [
        f"removed a staging directory left by an interrupted run ({stage.name})"]
    assert _beside(work) == ["env"]


def test_recover_if_idle_leaves_a_running_tfsetup_alone(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "x")
    stage = _env(work / (sibling_prefix(target, txn.STAGE) + "s"), "new")
    with path_lock(target):
        assert txn.recover_if_idle(target) == []
    assert stage.exists()


# ---------------------------------------------------------------------------------------------
# issue 20 class 3 / issue 23: the commit point, driven through the real promote with a signal at each
# step (child.pause_hook is called at each named point of the swap; the signal is real, to this process)

SWAP_POINTS = ("swap-before-renames", "swap-between-renames", "swap-committed")
POSIX_SIGNALS = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals")


@pytest.fixture
def at_point(monkeypatch):
    """at_point(point, action): run `action()` when tfsetup passes `point`."""
    from tfsetup import child

    def install(point, action):
        monkeypatch.setattr(child, "pause_hook", lambda name: action() if name == point else None)
    return install


@POSIX_SIGNALS
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", SWAP_POINTS)
def test_a_signal_at_each_step_of_the_swap_ends_in_the_new_env(tmp_path, at_point, point, sig):
    """The swap is not interrupted: the signal waits for the commit rename, then changes nothing (no
    KeyboardInterrupt out of promote, so the command reports success); nothing is left beside PATH."""
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    at_point(point, lambda: os.kill(os.getpid(), sig))
    try:
        with Transaction(target) as t:
            stage = t.new_stage()
            _env(stage, "new")
            t.promote(stage)
            assert t.committed and t.late_signals == [sig]
    except KeyboardInterrupt:  # a test failure, not pytest's own Ctrl-C (which would end the session)
        pytest.fail(f"the signal at {point} interrupted the swap; beside PATH: {_beside(work)}")
    assert (target / "lib" / "marker").read_text() == "new"
    assert _beside(work) == ["env"]


def test_the_journal_is_on_disk_before_the_first_rename(tmp_path, at_point):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    seen = []

    def look() -> None:
        doc = txn.read_journal(target)
        seen.append((doc or {}).get("phase"))
        assert (target / "lib" / "marker").read_text() == "old"  # nothing renamed yet
        assert doc is not None and doc["stage"] and doc["old"]
        assert (work / doc["stage"]).is_dir() and not (work / doc["old"]).exists()

    at_point("swap-before-renames", look)
    with Transaction(target) as t:
        stage = t.new_stage()
        _env(stage, "new")
        t.promote(stage)
    assert seen == ["swap"]


def test_a_kill_between_the_renames_is_recovered_from_the_journal_promote_wrote(tmp_path, at_point):
    """The journal promote itself writes (not one built by hand) brings the old env back after a kill
    between the renames: the state on disk at that point, copied, is recovered."""
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    frozen = tmp_path / "frozen"

    at_point("swap-between-renames", lambda: shutil.copytree(work, frozen, symlinks=True))
    with Transaction(target) as t:
        stage = t.new_stage()
        _env(stage, "new")
        t.promote(stage)
    assert not (frozen / "env").exists()  # the moment between the renames
    recover(frozen / "env")
    assert (frozen / "env" / "lib" / "marker").read_text() == "old" and _beside(frozen) == ["env"]


@POSIX_SIGNALS
@pytest.mark.parametrize("point", ["discard-before-rename", "discard-committed"])
def test_a_signal_while_removing_still_removes(tmp_path, at_point, point):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    at_point(point, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        with Transaction(target) as t:
            t.discard()
    except KeyboardInterrupt:
        pytest.fail(f"the signal at {point} interrupted the removal; beside PATH: {_beside(work)}")
    assert _beside(work) == []


@POSIX_SIGNALS
def test_a_signal_right_after_the_backup_leaves_no_copy(tmp_path, at_point):
    """Interrupted after the copy finished but before the repair began: PATH untouched, no backup left."""
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    before = manifest(target)
    at_point("backup-copied", lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        with Transaction(target) as t:
            t.backup()
            time.sleep(5)  # not reached: the signal is delivered as backup() returns
    assert manifest(target) == before and _beside(work) == ["env"]


@POSIX_SIGNALS
def test_a_signal_while_a_journal_is_written_leaves_no_temporary(tmp_path, monkeypatch):
    """Issue 18.12: a SIGTERM during a journal write (here: while it is synced) waits for the write."""
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    real_fsync = os.fsync

    def interrupted_fsync(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        real_fsync(fd)

    monkeypatch.setattr(txn.os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        with txn.sigterm_as_interrupt():
            write_journal(target, {"phase": "backup"})
            time.sleep(5)  # not reached
    assert txn.read_journal(target)["phase"] == "backup"
    assert not journal_path(target).with_name(journal_path(target).name + ".tmp").exists()


def test_recovery_removes_a_journal_temporary_a_kill_left(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    tmp = journal_path(target).with_name(journal_path(target).name + ".tmp")
    tmp.write_text('{"phase": "ba')  # SIGKILL half-way through a journal write
    assert txn.needs_recovery(target)
    assert txn.recover_if_idle(target) == [] and _beside(work) == ["env"]


@POSIX_SIGNALS
def test_handlers_come_back_after_an_interrupted_command(monkeypatch):
    """Issue 18.12: cli.run_command ignores Ctrl-C while it writes "interrupted", then restores the
    handlers (it left SIG_IGN behind, and the next in-process Ctrl-C did nothing)."""
    import typer

    from tfsetup import cli

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def body() -> int:
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit) as info:
        cli.run_command(True, body)
    assert info.value.exit_code == 130
    assert {s: signal.getsignal(s) for s in before} == before


@POSIX_SIGNALS
def test_handlers_are_restored_even_when_a_signal_lands_while_the_block_ends():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with pytest.raises(KeyboardInterrupt):
        with txn.sigterm_as_interrupt():
            with txn.signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)  # pending: lands as the deferral ends
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # not reached
    assert {s: signal.getsignal(s) for s in before} == before


# ---------------------------------------------------------------------------------------------
# issue 20 class 1: one identity for every spelling of an env

def test_paths_resolve_like_the_kernel_does(tmp_path, monkeypatch):
    from tfsetup.env.paths import resolve_env_path

    (tmp_path / "x").mkdir()
    (tmp_path / "y" / "sub").mkdir(parents=True)
    (tmp_path / "x" / "link").symlink_to(tmp_path / "y" / "sub")
    real = tmp_path.resolve()
    assert resolve_env_path(tmp_path / "x" / "link" / ".." / "env") == real / "y" / "env"  # link first, then ..
    _env(tmp_path / "y" / "env", "e")
    (tmp_path / "to-env").symlink_to(tmp_path / "y" / "env")
    assert resolve_env_path(tmp_path / "to-env") == real / "y" / "env"  # a link to a directory: followed
    assert resolve_env_path(tmp_path / "to-env", follow=False) == real / "to-env"  # remove: refused by name
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert resolve_env_path(tmp_path / "dangling") == real / "dangling"  # kept, for the caller's error
    monkeypatch.chdir(tmp_path / "x" / "link")
    assert resolve_env_path("../env") == real / "y" / "env" and resolve_env_path(".") == real / "y" / "sub"


def test_a_backup_journaled_under_one_spelling_is_restored_under_another(tmp_path):
    """The journal an interrupted repair wrote through the real path is honoured when the next command
    reaches the env through a symlinked parent (it was rejected, and the backup deleted)."""
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    before = manifest(target)
    link = tmp_path / "link"
    link.symlink_to(work)
    backup = work / (sibling_prefix(target, txn.BACKUP) + "z")
    txn.copy_tree(target, backup)
    write_journal(target, {"phase": "repair", "backup": str(backup)})  # an older journal: a full path
    (target / "lib" / "marker").unlink()
    (target / "lib" / "marker").write_text("half-repaired")
    recover(Path(os.path.abspath(link / "env")))  # as a command given the other spelling, unresolved
    assert manifest(target) == before and _beside(work) == ["env"]


def test_a_transaction_resolves_its_path_once(tmp_path):
    work = tmp_path / "w"
    _env(work / "env", "old")
    link = tmp_path / "link"
    link.symlink_to(work)
    with Transaction(link / "sub" / ".." / "env") as t:
        assert t.target == work.resolve() / "env"
        t.backup()
        t.keep()
    assert _beside(work) == ["env"]


# ---------------------------------------------------------------------------------------------
# issue 20 class 5: nothing written in place into a file the backup shares

def test_a_rolled_back_recipe_env_leaves_activate_exactly_as_it_was(tmp_path):
    from tfsetup.build import apply_recipe_env

    work = tmp_path / "w"
    target = _env(work / "env", "old")
    (target / "bin" / "activate").write_text("# activate\nexport VIRTUAL_ENV=x\n")
    site = target / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    before = manifest(target)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            with Transaction(target) as t:
                t.backup()
                apply_recipe_env(target, {"TF_USE_LEGACY_KERAS": "1"})
                assert "TF_USE_LEGACY_KERAS" in (target / "bin" / "activate").read_text()
                raise RuntimeError("verification failed")
        assert manifest(target) == before and _beside(work) == ["env"]


def test_promote_refuses_what_the_replace_check_refuses_and_changes_nothing(tmp_path):
    from tfsetup.errors import TfsetupError
    from tfsetup.build import check_replaceable

    work = tmp_path / "w"
    target = _env(work / "env", "old")
    with Transaction(target) as t:
        stage = t.new_stage()
        _env(stage, "new")
        (target / "notebooks").mkdir()  # the user's, made while the new env was being built
        before = manifest(target)
        with pytest.raises(TfsetupError, match="notebooks"):
            t.promote(stage, check_replaceable)
    assert manifest(target) == before and _beside(work) == ["env"]


def test_a_journal_path_in_another_directory_never_claims_the_sibling_of_the_same_name(tmp_path):
    """An old-style journal's full path whose directory is not PATH's parent: the backup it names is not
    this env's, even when a sibling of that very name lies beside the env (it is a stray, dropped)."""
    work = tmp_path / "w"
    target = _env(work / "env", "mine")
    name = sibling_prefix(target, txn.BACKUP) + "z"
    _env(work / name, "a stray backup")
    far = _env(tmp_path / "other" / name, "far")
    write_journal(target, {"phase": "repair", "backup": str(far)})
    recover(target)
    assert (target / "lib" / "marker").read_text() == "mine"
    assert (far / "lib" / "marker").read_text() == "far" and not (work / name).exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="start times from /proc (Linux)")
def test_recovery_stops_the_child_a_killed_run_left_running_in_the_env(tmp_path):
    from tfsetup import child

    target = _env(tmp_path / "w" / "env", "mine")
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        write_journal(target, {"phase": "swap", "children": [
            {"pid": orphan.pid, "start": child.start_time(orphan.pid)}]})
        recover(target)
        assert orphan.wait(20) == -signal.SIGKILL
    finally:
        orphan.kill()
        orphan.wait()


def test_a_backup_that_cannot_be_fully_deleted_does_not_fail_a_kept_repair(tmp_path):
    work = tmp_path / "w"
    target = _env(work / "env", "old")
    try:
        with Transaction(target) as t:
            backup = t.backup()
            _undeletable(backup)
            (target / "lib" / "marker").unlink()  # an in-place change (the backup holds the old file)
            (target / "lib" / "marker").write_text("repaired")
            t.keep()
        assert (target / "lib" / "marker").read_text() == "repaired"
        assert not journal_path(target).exists()
    finally:
        _release(work)
