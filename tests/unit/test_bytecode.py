"""Bytecode reuse across envs: the probe run for real by this interpreter on small package trees."""
from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from tfsetup.bytecode import PROBE

SOURCE = "def where():\n    return where.__code__.co_filename\n\nVALUE = 42\n"


def tree(root: Path, source: str = SOURCE) -> Path:
    site = root / "site-packages"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("")
    (site / "pkg" / "mod.py").write_text(source)
    return site


def probe(action: str, cache: Path, site: Path) -> dict:
    key = cache.parent / "cache-key"
    if not key.exists():
        key.write_bytes(os.urandom(32))
    out = subprocess.run([sys.executable, "-I", "-S", PROBE, action, str(cache), str(key), str(site)],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    doc.pop("rejected", None) if doc.get("rejected") == 0 else None
    return doc


def pyc_flags(source: Path) -> int:
    return int.from_bytes(Path(importlib.util.cache_from_source(str(source))).read_bytes()[4:8], "little")


def test_harvested_pyc_serves_an_identical_source_elsewhere(tmp_path):
    cache = tmp_path / "cache"
    first = tree(tmp_path / "first")
    for name in ("__init__.py", "mod.py"):  # what an import writes: timestamp pycs
        py_compile.compile(str(first / "pkg" / name), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    assert probe("harvest", cache, first)["stored"] == 2
    second = tree(tmp_path / "second")
    os.utime(second / "pkg" / "mod.py", (1_000_000, 1_000_000))  # another mtime: hash-based pycs don't care
    assert probe("restore", cache, second) == {"restored": 2, "missing": 0}
    assert pyc_flags(second / "pkg" / "mod.py") == 0b11  # checked against the source hash at import
    out = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "import pkg.mod as m; print(m.VALUE, m.where(), m.__spec__.cached)", str(second)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "42"
    assert out[1] == str(second / "pkg" / "mod.py")  # tracebacks name this env's file, not the first's
    assert out[2] == importlib.util.cache_from_source(str(second / "pkg" / "mod.py"))


def test_a_different_source_gets_nothing_and_a_stale_pyc_is_not_harvested(tmp_path):
    cache = tmp_path / "cache"
    first = tree(tmp_path / "first")
    mod = first / "pkg" / "mod.py"
    py_compile.compile(str(mod), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    mod.write_text(SOURCE + "CHANGED = True\n")  # edited after compiling: its pyc is stale
    os.utime(mod, (2_000_000, 2_000_000))
    assert probe("harvest", cache, first)["stored"] == 0
    other = tree(tmp_path / "other", SOURCE.replace("42", "43"))
    assert probe("restore", cache, other) == {"restored": 0, "missing": 2}
    assert not Path(importlib.util.cache_from_source(str(other / "pkg" / "mod.py"))).exists()


def test_a_corrupt_cache_entry_is_not_used(tmp_path):
    cache = tmp_path / "cache"
    first = tree(tmp_path / "first")
    py_compile.compile(str(first / "pkg" / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    probe("harvest", cache, first)
    (entry,) = [p for p in cache.rglob("*.pyc")]
    entry.write_bytes(entry.read_bytes()[:40] + b"\0" * 8 + entry.read_bytes()[48:])  # wrong source hash
    second = tree(tmp_path / "second")
    assert probe("restore", cache, second) == {"restored": 0, "missing": 1, "rejected": 1}  # __init__: never cached
    assert not entry.exists()  # dropped: the next harvest writes a good one


def test_an_entry_signed_with_another_key_is_rejected(tmp_path):
    """The MAC itself is checked, not only the pyc's own header: an entry whose pyc is intact but whose
    tag was made with another key (or forged) is never restored."""
    cache = tmp_path / "cache"
    first = tree(tmp_path / "first")
    py_compile.compile(str(first / "pkg" / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    probe("harvest", cache, first)
    (entry,) = [p for p in cache.rglob("*.pyc")]
    data = entry.read_bytes()
    entry.write_bytes(bytes(b ^ 0xFF for b in data[:8]) + data[8:])  # the tag's first bytes flipped, pyc intact
    second = tree(tmp_path / "second")
    assert probe("restore", cache, second) == {"restored": 0, "missing": 1, "rejected": 1}
    assert not Path(importlib.util.cache_from_source(str(second / "pkg" / "mod.py"))).exists()


# -- the probe's pieces, in process (the module is stdlib only) ------------------------------------

def test_sources_skip_pycache_even_when_a_py_file_was_planted_there(tmp_path):
    from tfsetup.probes.bytecode import sources

    site = tree(tmp_path)
    (site / "pkg" / "__pycache__").mkdir()
    (site / "pkg" / "__pycache__" / "planted.py").write_text("X = 1\n")
    assert sorted(sources([str(site)])) == [str(site / "pkg" / "__init__.py"), str(site / "pkg" / "mod.py")]


def test_without_a_usable_key_there_is_no_cache_at_all(tmp_path, monkeypatch, capsys):
    from tfsetup.probes import bytecode as script

    site = tree(tmp_path)
    py_compile.compile(str(site / "pkg" / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    cache = tmp_path / "cache"
    short = tmp_path / "short-key"
    short.write_bytes(b"k" * 31)
    for key_file in (tmp_path / "no-key", short):
        monkeypatch.setattr(sys, "argv", ["bytecode.py", "harvest", str(cache), str(key_file), str(site)])
        script.main()
        assert json.loads(capsys.readouterr().out) == {"error": "no cache key"}
    assert not cache.exists()


def test_a_pyc_is_up_to_date_by_its_hash_or_by_its_timestamp_and_size(tmp_path):
    from tfsetup.probes.bytecode import up_to_date

    source = tmp_path / "mod.py"
    source.write_text(SOURCE)
    data = source.read_bytes()
    compiled = importlib.util.cache_from_source(str(source))
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    assert up_to_date(compiled, data, os.stat(source)) is True
    assert up_to_date(compiled, data + b"# edited\n", os.stat(source)) is False
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    assert up_to_date(compiled, data, os.stat(source)) is True
    os.utime(source, (3_000_000, 3_000_000))  # touched since: the timestamp no longer matches
    assert up_to_date(compiled, data, os.stat(source)) is False
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    with open(source, "a") as handle:  # grown, same second (mtime put back): the size no longer matches
        handle.write("# more\n")
    os.utime(source, (os.stat(source).st_atime, int.from_bytes(Path(compiled).read_bytes()[8:12], "little")))
    assert up_to_date(compiled, source.read_bytes(), os.stat(source)) is False
    assert up_to_date(str(tmp_path / "none.pyc"), data, os.stat(source)) is False


def test_a_pyc_too_short_or_of_another_python_is_not_up_to_date(tmp_path):
    from tfsetup.probes.bytecode import up_to_date

    source = tmp_path / "mod.py"
    source.write_text(SOURCE)
    compiled = Path(importlib.util.cache_from_source(str(source)))
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    whole = compiled.read_bytes()
    compiled.write_bytes(whole[:12])  # cut inside the header
    assert up_to_date(str(compiled), source.read_bytes(), os.stat(source)) is False
    compiled.write_bytes(b"\0\0\r\n" + whole[4:])  # another Python's magic number
    assert up_to_date(str(compiled), source.read_bytes(), os.stat(source)) is False


def test_cache_entries_are_read_up_to_64_mib(tmp_path):
    from tfsetup.probes.bytecode import read_nofollow

    big = tmp_path / "big.pyc"
    with open(big, "wb") as handle:
        handle.truncate((64 << 20) + 10)  # sparse: no disk used
    assert len(read_nofollow(str(big))) == 64 << 20


def test_cache_folders_are_never_reached_through_a_link_or_a_file(tmp_path):
    from tfsetup.probes.bytecode import private_dirs

    cache = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache.mkdir()
    (cache / "planted").symlink_to(elsewhere)
    with pytest.raises(OSError, match="not a private directory"):
        private_dirs(str(cache), str(cache / "planted" / "ab" / "x.pyc"))
    assert list(elsewhere.iterdir()) == []
    (cache / "file").write_text("")
    with pytest.raises(OSError, match="not a private directory"):
        private_dirs(str(cache), str(cache / "file" / "ab" / "x.pyc"))
    private_dirs(str(cache), str(cache / "tag" / "ab" / "x.pyc"))
    assert (cache / "tag" / "ab").is_dir() and ((cache / "tag" / "ab").stat().st_mode & 0o777) == 0o700


def test_a_second_harvest_counts_what_the_cache_already_holds(tmp_path):
    cache = tmp_path / "cache"
    site = tree(tmp_path / "first")
    for name in ("__init__.py", "mod.py"):
        py_compile.compile(str(site / "pkg" / name), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    assert probe("harvest", cache, site) == {"stored": 2, "present": 0}
    assert probe("harvest", cache, site) == {"stored": 0, "present": 2}
