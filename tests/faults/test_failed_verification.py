"""A failed verification is never promoted, and a Ctrl-C that lands while the failure is being rolled
back waits for the rollback. Fast and offline: the fault harness's fake TensorFlow fails verification
for real (its import raises), installed from a local wheelhouse with hashes."""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.faults import harness as h
from tests.faults.harness import python_runs


def test_failed_verification_leaves_the_existing_env_exactly_as_before(fake, existing, tmp_path):
    before = h.manifest(existing)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = h.run(*fake.install_args(existing, "--force", "--json"), cwd=existing.parent, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "verification failed" in h.error_line(proc.stderr)
    doc = json.loads(proc.stdout)
    assert doc["target_unchanged"] is True
    failed = [c["id"] for c in doc["verification"]["checks"] if c["status"] == "fail"]
    assert failed[:1] == ["tf-import"], doc["verification"]  # the fake TensorFlow does not import
    assert h.manifest(existing) == before  # not the new env, not a mix: byte for byte the old one
    assert sorted(p.name for p in existing.parent.iterdir()) == ["env"], "a staging dir or backup was left"
    assert list(tmp.iterdir()) == []
    assert python_runs(existing)


def test_failed_verification_into_a_new_path_leaves_nothing(fake, work):
    target = work / "new env"
    proc = h.run(*fake.install_args(target, "--json"), cwd=work)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert not target.exists() and not target.is_symlink()
    assert list(work.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# a signal while rolling back (in-process: the transaction's real code, real signals to this process)

@pytest.fixture
def fresh_state(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))


def _fill(directory: Path, files: int = 50) -> None:
    for i in range(files):
        sub = directory / f"part{i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"m{i}.txt").write_text("x" * 64)


def _old_env(tmp_path: Path) -> Tuple[Path, Dict[str, str]]:
    """An env at <tmp_path>/env, and its manifest."""
    target = tmp_path / "env"
    target.mkdir()
    (target / "old.txt").write_text("the env that was there\n")
    return target, h.manifest(target)


def _sigint_when_the_stage_is_deleted(monkeypatch) -> List[str]:
    """Send this process SIGINT when the transaction begins deleting a staging dir (the controlled
    point); the list returned holds the path once it was sent."""
    import shutil

    from tfsetup import txn as txn_mod

    real_rmtree = shutil.rmtree
    sent: List[str] = []

    def rmtree_signalled(path, *args, **kwargs):
        if ".tfsetup-stage-" in os.fspath(path) and not sent:
            sent.append(os.fspath(path))
            os.kill(os.getpid(), signal.SIGINT)  # delivered now, unless the rollback defers it
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(txn_mod.shutil, "rmtree", rmtree_signalled)
    return sent


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signal masks")
def test_ctrl_c_during_the_rollback_of_a_failed_install_waits_for_it(fresh_state, tmp_path, monkeypatch):
    """A failure (say, verification) rolls back the staging dir; a Ctrl-C sent at the moment the rollback
    starts deleting it must wait until the rollback is complete."""
    from tfsetup import txn as txn_mod

    target, before = _old_env(tmp_path)
    sent = _sigint_when_the_stage_is_deleted(monkeypatch)
    with pytest.raises((KeyboardInterrupt, RuntimeError)) as raised:
        with txn_mod.Transaction(target) as txn:
            staging = txn.new_stage()
            staging.mkdir()
            _fill(staging)
            raise RuntimeError("verification failed")
    assert sent, "the rollback never deleted the staging dir"
    assert raised.type is KeyboardInterrupt  # the Ctrl-C was not lost: it arrived after the rollback
    assert h.manifest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "state"], "the rollback stopped half-way"


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signal masks")
def test_ctrl_c_during_the_restore_of_a_failed_repair_waits_for_it(fresh_state, tmp_path):
    """An in-place change that fails is restored from the backup; a Ctrl-C at the moment the restore
    starts (its progress line, the controlled point) lands after it: the env is exactly as before."""
    from tfsetup import txn as txn_mod

    target = tmp_path / "env"
    _fill(target)
    before = h.manifest(target)
    sent = []

    def progress(line: str) -> None:
        if line.startswith("restoring") and not sent:
            sent.append(line)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises((KeyboardInterrupt, RuntimeError)) as raised:
        with txn_mod.Transaction(target, progress) as txn:
            txn.backup()
            (target / "part0" / "m0.txt").unlink()  # engines replace files, never write into them
            (target / "part0" / "m0.txt").write_text("changed by the repair")
            (target / "new.txt").write_text("added by the repair")
            raise RuntimeError("the repaired env failed verification")
    assert sent and raised.type is KeyboardInterrupt
    assert h.manifest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "state"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_ctrl_c_during_the_rollback_of_an_interrupted_install(fresh_state, tmp_path, monkeypatch):
    """Ctrl-C (the first) interrupts; a second one, sent when the rollback starts deleting, changes nothing."""
    from tfsetup import txn as txn_mod

    target, before = _old_env(tmp_path)
    sent = _sigint_when_the_stage_is_deleted(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        with txn_mod.Transaction(target) as txn:
            staging = txn.new_stage()
            staging.mkdir()
            _fill(staging)
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C, inside the transaction
            raise AssertionError("the first Ctrl-C did not interrupt")
    assert sent
    assert h.manifest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "state"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers given back
