"""env/paths.py: what is an env, which path names it, and how a file inside it is replaced; on real
directories, files and links in tmp_path."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tfsetup.env.paths import (bin_dir, check_env_dir, dir_identity, env_python, foreign_files, is_conda_env,
                               is_tfsetup_env, is_venv, name_some, replace_file, resolve_env_path, running_env)
from tfsetup.env.record import write_record
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError


def _venv(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "lib").mkdir()
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return path


def test_what_kind_of_env_a_directory_is(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    venv = _venv(tmp_path / "venv")
    ours = _venv(tmp_path / "ours")
    write_record(ours, {"schema": 1})
    conda = tmp_path / "conda"
    (conda / "conda-meta").mkdir(parents=True)
    assert [is_venv(p) for p in (plain, venv, ours, conda)] == [False, True, True, False]
    assert [is_tfsetup_env(p) for p in (plain, venv, ours, conda)] == [False, False, True, False]
    assert [is_conda_env(p) for p in (plain, venv, ours, conda)] == [False, False, False, True]
    record_only = tmp_path / "record-only"  # a record without pyvenv.cfg is not a venv, so not ours
    record_only.mkdir()
    write_record(record_only, {"schema": 1})
    assert is_tfsetup_env(record_only) is False
    (tmp_path / "cfg-dir" / "pyvenv.cfg").mkdir(parents=True)  # a directory named pyvenv.cfg is no venv
    assert is_venv(tmp_path / "cfg-dir") is False


@pytest.mark.skipif(os.name == "nt", reason="POSIX layout")
def test_the_interpreter_and_scripts_of_an_env():
    assert bin_dir(Path("/e")) == Path("/e/bin") and env_python(Path("/e")) == Path("/e/bin/python")


def test_the_running_env_is_sys_prefix_resolved():
    assert running_env() == Path(os.path.realpath(sys.prefix))


def test_the_users_files_at_an_envs_root_are_named_sorted(tmp_path):
    env = _venv(tmp_path / "env")
    for name in ("share", "etc", ".gitignore", "CACHEDIR.TAG", "tfsetup-env.json", ".lock", "lib64"):
        (env / name).touch()
    assert foreign_files(env) == []
    (env / "train.py").touch()
    (env / "data").mkdir()
    (env / "Data.csv").touch()
    assert foreign_files(env) == ["Data.csv", "data", "train.py"]


def test_name_some_says_how_many_more():
    assert name_some([]) == ""
    assert name_some(["a", "b"]) == "a, b"
    eight = [str(i) for i in range(8)]
    assert name_some(eight) == "0, 1, 2, 3, 4, 5, 6, 7"
    assert name_some(eight + ["8", "9"]) == "0, 1, 2, 3, 4, 5, 6, 7 and 2 more"
    assert name_some(["a", "b", "c"], most=2) == "a, b and 1 more"


def test_one_identity_for_every_spelling_of_a_path(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    st = os.stat(tmp_path / "real")
    assert dir_identity(tmp_path / "real" / "env") == f"{st.st_dev}:{st.st_ino}:{b'env'.hex()}"
    assert dir_identity(tmp_path / "alias" / "env") == dir_identity(tmp_path / "real" / "env")
    assert dir_identity(tmp_path / "real" / "env2") != dir_identity(tmp_path / "real" / "env")
    missing = tmp_path / "alias" / "not-yet" / "env"  # the parent does not exist yet: the resolved text
    assert dir_identity(missing) == "path:" + str(tmp_path.resolve() / "real" / "not-yet" / "env")


def test_a_path_is_resolved_through_its_parent_and_a_final_link_to_a_directory(tmp_path, monkeypatch):
    real = tmp_path.resolve()
    (real / "envs" / "a").mkdir(parents=True)
    (real / "link").symlink_to(real / "envs")
    (real / "to-a").symlink_to(real / "envs" / "a")
    (real / "file").write_text("")
    (real / "to-file").symlink_to(real / "file")
    assert resolve_env_path(tmp_path / "link" / "a") == real / "envs" / "a"
    assert resolve_env_path(str(tmp_path / "link" / "a") + os.sep) == real / "envs" / "a"  # a trailing slash
    assert resolve_env_path(tmp_path / "to-a") == real / "envs" / "a"
    assert resolve_env_path(tmp_path / "to-a", follow=False) == real / "to-a"
    assert resolve_env_path(tmp_path / "to-file") == real / "to-file"  # a link to a file: kept, for the error
    assert resolve_env_path(tmp_path / "link" / "new") == real / "envs" / "new"  # not there yet
    monkeypatch.chdir(real / "envs" / "a")
    assert resolve_env_path("b") == real / "envs" / "a" / "b"  # relative, no directory part
    assert resolve_env_path(".") == real / "envs" / "a"
    assert resolve_env_path("..") == real / "envs"
    monkeypatch.setenv("HOME", str(real / "envs"))
    assert resolve_env_path("~/a") == real / "envs" / "a"


def test_check_env_dir_says_what_is_wrong_with_the_path(tmp_path):
    _venv(tmp_path / "env")
    check_env_dir(tmp_path / "env")  # a directory: fine
    with pytest.raises(TfsetupError) as missing:
        check_env_dir(tmp_path / "nowhere")
    assert missing.value.message == f"{tmp_path / 'nowhere'} does not exist"
    assert missing.value.exit_code == EXIT_BAD_INPUT and "tfsetup install" in (missing.value.fix or "")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(TfsetupError) as dangling:
        check_env_dir(tmp_path / "dangling")
    assert dangling.value.message == f"{tmp_path / 'dangling'} does not exist (a link to {tmp_path / 'gone'}, " \
                                     "which is missing)"
    (tmp_path / "f").write_text("")
    with pytest.raises(TfsetupError) as a_file:
        check_env_dir(tmp_path / "f")
    assert a_file.value.message == f"{tmp_path / 'f'} is a file, not an environment"
    assert a_file.value.exit_code == EXIT_BAD_INPUT


def test_replace_file_writes_a_new_inode_keeping_the_mode(tmp_path):
    path = tmp_path / "activate"
    path.write_bytes(b"old")
    os.chmod(path, 0o750)
    twin = tmp_path / "backup-link"  # a repair's hard-link backup shares the old inode
    os.link(path, twin)
    replace_file(path, b"new")
    assert path.read_bytes() == b"new" and twin.read_bytes() == b"old"
    assert path.stat().st_mode & 0o7777 == 0o750
    fresh = tmp_path / "fresh.pth"
    replace_file(fresh, b"x")
    assert fresh.read_bytes() == b"x" and fresh.stat().st_mode & 0o7777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["activate", "backup-link", "fresh.pth"]


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "bin"
    path.mkdir()  # os.replace of a file over a directory fails
    with pytest.raises(OSError):
        replace_file(path, b"new")
    assert path.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["bin"]
