"""state.py: tfsetup's private state dir (created 0700, refused when others can write it) and its file
I/O that never follows a planted link."""
from __future__ import annotations

import os
import stat

import pytest

from tfsetup import state
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError

POSIX = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def test_state_dir_is_the_variable_or_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "s"))
    assert state.state_dir() == tmp_path / "s" and not (tmp_path / "s").exists()  # only the path
    monkeypatch.delenv("TFSETUP_STATE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert state.state_dir().name == "tfsetup"


@POSIX
def test_private_state_dir_is_made_0700_with_its_folder(isolated_state):
    folder = state.private_state_dir("locks")
    assert folder == isolated_state / "state" / "locks"
    for made in (folder, folder.parent):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700


@POSIX
def test_a_state_dir_others_can_write_is_refused_with_the_chmod_fix(isolated_state):
    root = isolated_state / "state"
    root.mkdir(mode=0o700)
    root.chmod(0o777)
    with pytest.raises(TfsetupError) as caught:
        state.private_state_dir()
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert caught.value.message.startswith("refusing tfsetup's state directory")
    assert caught.value.fix.startswith(f"`chmod 700 {root}` if it is yours")


@POSIX
def test_no_home_and_no_explicit_dir_is_refused_and_nothing_is_created(monkeypatch, tmp_path):
    for name in ("TFSETUP_STATE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "gone"))
    with pytest.raises(TfsetupError) as caught:
        state.private_state_dir()
    assert "is not a directory: tfsetup has nowhere to keep its state" in caught.value.message
    assert "set HOME to your home directory" in caught.value.fix
    assert list(tmp_path.iterdir()) == []


@POSIX
def test_an_unusable_cache_dir_is_none_with_one_warning(isolated_state, monkeypatch, capsys):
    monkeypatch.delenv("TFSETUP_NO_CACHE", raising=False)
    monkeypatch.setattr(state, "_warned", [])
    (isolated_state / "state").write_text("a file, not a directory")
    assert state.cache_state_dir("python") is None
    assert state.cache_state_dir("python") is None
    err = capsys.readouterr().err
    assert err.count("tfsetup: warning: caches disabled: cannot create tfsetup's state directory") == 1
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    assert state.cache_state_dir("python") is None and capsys.readouterr().err == ""


def test_a_usable_cache_dir_is_the_private_folder(isolated_state, monkeypatch):
    monkeypatch.delenv("TFSETUP_NO_CACHE", raising=False)
    assert state.cache_state_dir("python") == isolated_state / "state" / "python"


@POSIX
def test_read_private_refuses_links_fifos_and_oversized_files(tmp_path):
    data = tmp_path / "data"
    data.write_bytes(b"12345")
    assert state.read_private(data, 5) == b"12345"
    assert state.read_private(data, 4) is None
    (tmp_path / "link").symlink_to(data)
    assert state.read_private(tmp_path / "link", 100) is None
    os.mkfifo(tmp_path / "fifo")
    assert state.read_private(tmp_path / "fifo", 100) is None
    assert state.read_private(tmp_path / "missing", 100) is None


@POSIX
def test_write_private_replaces_a_planted_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    path = tmp_path / "cache.json"
    path.symlink_to(victim)
    state.write_private(path, b"new")
    assert victim.read_bytes() == b"untouched"
    assert not path.is_symlink() and path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json", "victim"]  # no temporary left
