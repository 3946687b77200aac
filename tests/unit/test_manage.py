"""envs/manage.py: `remove` deletes only envs tfsetup made, never a plain venv, a directory without the
record, or an env that also holds the user's files; a declined prompt changes nothing."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tfsetup.envs.manage import forget_env, remove_env
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.env.registry import register_env, registered_envs
from tfsetup.env.record import write_record


@pytest.fixture(autouse=True)
def _state(isolated_state):
    """Every test here gets its own registry (tfsetup's state dir)."""


def venv(path: Path) -> Path:
    """The shape of a venv: pyvenv.cfg and a python (a link to this interpreter), nothing installed."""
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\nversion = 3.11.7\n")
    os.symlink(sys.executable, path / "bin" / "python")
    return path


def tfsetup_made(path: Path) -> Path:
    venv(path)
    write_record(path, {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21", "packages": {"tensorflow": "2.21.0"}})
    register_env(path)
    return path


def refused(path: Path, says: str) -> TfsetupError:
    with pytest.raises(TfsetupError) as caught:
        remove_env(path, confirm=lambda question: True)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert says in str(caught.value), str(caught.value)
    return caught.value


def test_a_venv_without_tfsetups_record_is_not_removed(tmp_path):
    env = venv(tmp_path / "env")
    refused(env, "is not an env tfsetup made (no tfsetup-env.json)")
    assert (env / "pyvenv.cfg").is_file() and (env / "bin" / "python").exists()


def test_a_directory_that_is_not_a_venv_is_not_removed(tmp_path):
    plain = tmp_path / "data"
    plain.mkdir()
    (plain / "tfsetup-env.json").write_text("{}")
    refused(plain, "is not an env tfsetup made (no pyvenv.cfg)")
    assert (plain / "tfsetup-env.json").is_file()


def test_an_env_holding_the_users_files_is_not_removed(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    (env / "notebooks").mkdir()
    (env / "notebooks" / "analysis.ipynb").write_text("{}")
    refused(env, "notebooks")
    assert (env / "notebooks" / "analysis.ipynb").is_file()


def test_no_answer_and_a_no_change_nothing(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    with pytest.raises(TfsetupError) as caught:
        remove_env(env, confirm=None)
    assert caught.value.exit_code == EXIT_BAD_INPUT and "--yes" in (caught.value.fix or "")
    result = remove_env(env, confirm=lambda question: False)
    assert not result.removed and env.is_dir() and str(env.resolve()) in registered_envs()


def test_a_tfsetup_env_is_removed_and_forgotten(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    result = remove_env(env, confirm=lambda question: True)
    assert result.removed and result.forgotten
    assert not env.exists() and [p.name for p in tmp_path.iterdir()] == ["state"]  # no hidden sibling left
    assert str(env.resolve()) not in registered_envs()


def test_forget_drops_only_a_registered_env(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    with pytest.raises(TfsetupError) as caught:
        forget_env(tmp_path / "never registered")
    assert caught.value.exit_code == EXIT_BAD_INPUT and "is not in tfsetup's list of envs" in str(caught.value)
    result = forget_env(env)
    assert result.forgotten and not result.removed and env.is_dir()  # forgotten, not deleted
    assert str(env.resolve()) not in registered_envs()


def test_remove_refuses_a_symlink_to_an_env_and_keeps_both(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    link = tmp_path / "link"
    link.symlink_to(env)
    refused(link, "symlink")
    assert link.is_symlink() and env.is_dir() and str(env.resolve()) in registered_envs()


def test_an_env_changed_while_waiting_for_its_lock_is_not_removed(tmp_path):
    """Between the question and the lock, the env was moved away (another remove, the user): nothing is
    deleted, neither the moved env nor whatever is at the path now."""
    env = tfsetup_made(tmp_path / "env")
    moved = tmp_path / "moved"

    def answer_then_move(question: str) -> bool:
        env.rename(moved)
        return True

    with pytest.raises(TfsetupError) as caught:
        remove_env(env, confirm=answer_then_move)
    assert str(caught.value) == f"{env} changed while waiting; nothing was removed"
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert (moved / "tfsetup-env.json").is_file() and (moved / "pyvenv.cfg").is_file()


@pytest.mark.parametrize("count,shown", [
    (8, "(f0, f1, f2, f3, f4, f5, f6, f7)"),
    (11, "(f0, f1, f10, f2, f3, f4, f5, f6 and 3 more)"),
])
def test_the_users_files_are_named_up_to_eight(tmp_path, count, shown):
    env = tfsetup_made(tmp_path / "env")
    for i in range(count):
        (env / f"f{i}").write_text("")
    error = refused(env, "also holds files")
    assert f"also holds files that are not part of the env {shown}; refusing" in str(error)


def test_the_json_of_remove_and_forget(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    removed = remove_env(env, confirm=lambda question: True).to_json()
    assert removed["ok"] is True and removed["removed"] is True and removed["forgotten"] is True
    assert removed["path"] == str(env) and removed["env"] and "2.21.0" in removed["env"]
    other = tfsetup_made(tmp_path / "other")
    assert forget_env(other).to_json() == {"ok": True, "path": str(other), "removed": False, "forgotten": True,
                                           "env": None}


def test_list_reports_each_env_from_its_record_and_prune_forgets_only_the_missing(tmp_path):
    from tests.conftest import host_fixture
    from tests.unit.test_doctor_rules import TABLE
    from tfsetup.envs.manage import list_envs

    host = host_fixture("linux-x86_64-avx")
    env = tfsetup_made(tmp_path / "env")
    gone = tfsetup_made(tmp_path / "gone")
    shutil.rmtree(gone)

    listed = list_envs(False, host, TABLE).to_json()
    assert listed["pruned"] == []
    by_path = {e["path"]: e for e in listed["envs"]}
    assert set(by_path) == {str(env.resolve()), str(gone.resolve())}
    mine = by_path[str(env.resolve())]
    assert (mine["status"], mine["recipe"], mine["distribution"], mine["tensorflow"], mine["verified_at"]) == \
        ("not-verified", "linux-x86_64-cpu-tf2.21", "tensorflow", "2.21.0", None)
    assert by_path[str(gone.resolve())]["status"] == "missing"
    assert by_path[str(gone.resolve())]["distribution"] is None
    assert listed["summary"] == {"ok": 0, "not-verified": 1, "broken": 0, "missing": 1}

    pruned = list_envs(True, host, TABLE).to_json()
    assert pruned["pruned"] == [str(gone.resolve())]
    assert [e["path"] for e in pruned["envs"]] == [str(env.resolve())]
    assert registered_envs() == [str(env.resolve())]


def test_nine_files_of_the_user_are_all_named(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    for i in range(9):
        (env / f"f{i}").write_text("")
    assert "(f0, f1, f2, f3, f4, f5, f6, f7 and 1 more)" in str(refused(env, "also holds files"))


def test_an_env_deleted_outside_tfsetup_is_named_with_the_forget_fix(tmp_path):
    env = tfsetup_made(tmp_path / "env")
    shutil.rmtree(env)
    error = refused(env, f"{env} does not exist (it was removed outside tfsetup)")
    assert f"tfsetup remove --forget {env}" in (error.fix or "")
    never = tmp_path / "never-registered"
    assert "removed outside tfsetup" not in str(refused(never, str(never)))


def test_the_users_files_are_refused_before_the_record_is_described(tmp_path):
    """A damaged record (`packages` not a table) and the user's files: the refusal that protects the
    files comes first."""
    env = tfsetup_made(tmp_path / "env")
    write_record(env, {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21", "packages": ["tensorflow"]})
    (env / "data.csv").write_text("1,2\n")
    refused(env, "(data.csv)")
    assert (env / "data.csv").is_file()


def test_an_env_that_cannot_be_moved_aside_stays_listed(tmp_path, monkeypatch):
    """The rename aside is the commit point (EBUSY: the env is a mount point): until it happens, the env
    is neither deleted nor forgotten."""
    import errno

    env = tfsetup_made(tmp_path / "env")
    real_rename = os.rename

    def rename(source, destination, *args, **kwargs):
        if Path(source) == env.resolve():
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(source))
        return real_rename(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError):
        remove_env(env, confirm=lambda question: True)
    assert env.is_dir() and str(env.resolve()) in registered_envs()


def test_prune_that_cannot_rewrite_the_registry_is_one_error_and_forgets_nothing(tmp_path, monkeypatch):
    """Forgetting is what --prune asks for: a registry that cannot be written is an error, not a quiet
    list that still holds the missing env (unlike register_env's best effort)."""
    from tests.conftest import host_fixture
    from tests.unit.test_doctor_rules import TABLE
    from tfsetup.envs import manage

    gone = tfsetup_made(tmp_path / "gone")
    shutil.rmtree(gone)

    def refuse(paths):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(manage, "unregister_env", refuse)
    with pytest.raises(TfsetupError) as caught:
        manage.list_envs(True, host_fixture("linux-x86_64-avx"), TABLE)
    assert "cannot update the list of envs: Permission denied" in caught.value.message
    assert registered_envs() == [str(gone.resolve())]
