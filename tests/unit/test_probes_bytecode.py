"""probes/bytecode.py's functions, called in-process (the probe is stdlib only; tests/unit/test_bytecode.py
runs it for real as the env's python does): cache entries are named by the source's hash, compiled here,
signed, copied never linked, and nothing is written through a link."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import py_compile
import sys
from pathlib import Path

import pytest

from tfsetup.probes import bytecode as probe

KEY = b"k" * 32
SOURCE = b"VALUE = 42\n"
POSIX = pytest.mark.skipif(os.name == "nt", reason="symbolic links and O_NOFOLLOW")


def site(root: Path, source: bytes = SOURCE, compiled: bool = True) -> Path:
    """A site-packages with one module; `compiled`: the env imported it (its own pyc is up to date)."""
    folder = root / "site-packages" / "pkg"
    folder.mkdir(parents=True)
    (folder / "mod.py").write_bytes(source)
    if compiled:
        py_compile.compile(str(folder / "mod.py"), doraise=True)
    return root / "site-packages"


def test_an_entry_is_named_by_the_sources_hash_under_this_pythons_tag(tmp_path):
    digest = hashlib.sha256(SOURCE).hexdigest()
    assert probe.cache_path(str(tmp_path), SOURCE) == os.path.join(
        str(tmp_path), sys.implementation.cache_tag, digest[:2], digest + ".pyc")


def test_the_cached_pyc_is_checked_hash_based_and_runs_the_source():
    pyc = probe.checked_hash_pyc("mod.py", SOURCE)
    assert pyc[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(pyc[4:8], "little") == 0b11
    assert pyc[8:16] == importlib.util.source_hash(SOURCE)
    namespace: dict = {}
    exec(marshal.loads(pyc[16:]), namespace)
    assert namespace["VALUE"] == 42


def test_only_imported_modules_are_harvested_once_and_restored_as_copies(tmp_path):
    cache = str(tmp_path / "cache")
    assert probe.harvest(cache, KEY, [str(site(tmp_path / "never", compiled=False))]) == {"stored": 0, "present": 0}
    first = site(tmp_path / "first")
    assert probe.harvest(cache, KEY, [str(first)]) == {"stored": 1, "present": 0}
    assert probe.harvest(cache, KEY, [str(first)]) == {"stored": 0, "present": 1}
    second = site(tmp_path / "second", compiled=False)
    assert probe.restore(cache, KEY, [str(second)]) == {"restored": 1, "missing": 0, "rejected": 0}
    target = importlib.util.cache_from_source(str(second / "pkg" / "mod.py"))
    entry = Path(probe.cache_path(cache, SOURCE))
    assert Path(target).read_bytes() == entry.read_bytes()[probe.TAG:]
    assert os.stat(target).st_ino != entry.stat().st_ino  # a copy, never a hard link
    assert probe.restore(cache, KEY, [str(second)])["restored"] == 0  # the env's own pyc is kept


def test_a_tampered_or_foreign_entry_is_rejected_and_dropped(tmp_path):
    cache = str(tmp_path / "cache")
    probe.harvest(cache, KEY, [str(site(tmp_path / "first"))])
    entry = Path(probe.cache_path(cache, SOURCE))
    good = entry.read_bytes()
    assert probe.restore(cache, b"other-key" * 4, [str(site(tmp_path / "a", compiled=False))])["rejected"] == 1
    assert not entry.exists()
    entry.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # the code body edited, the tag kept
    assert probe.restore(cache, KEY, [str(site(tmp_path / "b", compiled=False))]) == {
        "restored": 0, "missing": 0, "rejected": 1}
    assert not entry.exists()
    assert probe.restore(cache, KEY, [str(site(tmp_path / "c", compiled=False))]) == {
        "restored": 0, "missing": 1, "rejected": 0}


def test_a_stale_or_unreadable_pyc_is_not_up_to_date(tmp_path):
    source = tmp_path / "m.py"
    source.write_bytes(SOURCE)
    compiled = Path(py_compile.compile(str(source), doraise=True))
    assert probe.up_to_date(str(compiled), SOURCE, source.stat())
    source.write_bytes(SOURCE + b"# changed\n")
    os.utime(source, (0, 12345))
    assert not probe.up_to_date(str(compiled), source.read_bytes(), source.stat())
    compiled.write_bytes(b"short")
    assert not probe.up_to_date(str(compiled), SOURCE, source.stat())
    assert not probe.up_to_date(str(tmp_path / "missing.pyc"), SOURCE, source.stat())


@POSIX
def test_a_link_in_the_cache_is_refused_and_never_written_through(tmp_path):
    cache = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache.mkdir()
    (cache / sys.implementation.cache_tag).symlink_to(elsewhere)
    with pytest.raises(OSError, match="not a private directory"):
        probe.private_dirs(str(cache), probe.cache_path(str(cache), SOURCE))
    assert probe.harvest(str(cache), KEY, [str(site(tmp_path / "env"))]) == {"stored": 0, "present": 0}
    assert list(elsewhere.iterdir()) == []
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    (tmp_path / "out.pyc").symlink_to(victim)
    probe.write_new(str(tmp_path / "out.pyc"), b"new")
    assert victim.read_bytes() == b"untouched" and (tmp_path / "out.pyc").read_bytes() == b"new"
    assert not (tmp_path / "out.pyc").is_symlink()


def test_without_a_usable_key_there_is_no_cache(tmp_path, monkeypatch, capsys):
    (tmp_path / "key").write_bytes(b"short")
    for key_file in (tmp_path / "key", tmp_path / "missing"):
        monkeypatch.setattr(sys, "argv", ["bytecode.py", "harvest", str(tmp_path / "cache"), str(key_file),
                                          str(tmp_path)])
        probe.main()
        assert json.loads(capsys.readouterr().out) == {"error": "no cache key"}
    assert not (tmp_path / "cache").exists()
