"""The binary analysis cache (bincache.py, macho/analysis.py): a second proof of the same files reads
none of their bytes, a damaged or edited entry is ignored (the file is read again, the verdict the
same), and TFSETUP_NO_CACHE=1 keeps nothing. Reads are counted at the OS boundary (os.open)."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import List

import pytest

from tfsetup import bincache
from tfsetup.prove.macos import check_loads

from tests.unit.test_macho_reader import GOOD_BINDS, tf_env


def site_with_record(root: Path) -> Path:
    """A TensorFlow-shaped tree whose dist-info RECORD lists every binary with its sha256 and size."""
    tf_env(root, plugin_binds=GOOD_BINDS)
    lines: List[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path.relative_to(root).as_posix()},sha256={digest},{len(data)}")
    info = root / "tensorflow-2.20.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("\n".join(lines + ["tensorflow-2.20.0.dist-info/RECORD,,"]) + "\n")
    return root


@pytest.fixture
def binary_reads(monkeypatch):
    """Paths of the files under a tree opened through os.open (every binary reader opens that way)."""
    opened: List[str] = []
    real_open = os.open

    def counting(path, flags, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting)
    return opened


def _binaries(opened: List[str], site: Path) -> List[str]:
    return [p for p in opened if p.startswith(str(site)) and ".dist-info" not in p]


def test_a_second_analysis_reads_no_binary_bytes(tmp_path, monkeypatch, binary_reads):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    site = site_with_record(tmp_path / "site")
    bincache.forget()
    first = check_loads(site, "arm64", "14.0")
    assert _binaries(binary_reads, site), "the first analysis reads the binaries"
    assert any((tmp_path / "state" / "binaries").rglob("*")), "and keeps what it found"
    binary_reads.clear()
    bincache.forget()  # nothing remembered in this process: only the entries on disk
    second = check_loads(site, "arm64", "14.0")
    assert _binaries(binary_reads, site) == []
    assert second.to_json() == first.to_json() and first.ok and first.files_checked == 4


def test_a_damaged_or_edited_entry_is_ignored_and_the_file_read_again(tmp_path, monkeypatch, binary_reads):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    site = site_with_record(tmp_path / "site")
    bincache.forget()
    first = check_loads(site, "arm64", "14.0")
    entries = sorted(p for p in (tmp_path / "state" / "binaries").rglob("*") if p.is_file())
    assert entries
    for index, entry in enumerate(entries):
        data = entry.read_bytes()
        if index % 3 == 0:
            entry.write_bytes(data[:-1] + bytes([data[-1] ^ 0x01]))  # a flipped bit in the payload
        elif index % 3 == 1:
            entry.write_bytes(data[: len(data) // 2])  # truncated
        else:
            entry.write_bytes(data.replace(b'"', b"'", 1))  # edited, its checksum left as it was
    binary_reads.clear()
    bincache.forget()
    second = check_loads(site, "arm64", "14.0")
    assert second.to_json() == first.to_json()
    assert _binaries(binary_reads, site), "every damaged entry is ignored: the binaries are read again"


def test_an_entry_is_never_used_for_another_file(tmp_path, monkeypatch):
    """An entry copied over another's name (both valid) names its own key: ignored."""
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    site = site_with_record(tmp_path / "site")
    bincache.forget()
    first = check_loads(site, "arm64", "14.0")
    entries = sorted(p for p in (tmp_path / "state" / "binaries").rglob("*") if p.is_file())
    payloads = [e.read_bytes() for e in entries]
    for entry, other in zip(entries, payloads[1:] + payloads[:1]):
        entry.write_bytes(other)
    bincache.forget()
    assert check_loads(site, "arm64", "14.0").to_json() == first.to_json()


def test_no_cache_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    site = site_with_record(tmp_path / "site")
    bincache.forget()
    assert check_loads(site, "arm64", "14.0").ok
    assert not (tmp_path / "state" / "binaries").exists()


def test_a_file_no_record_lists_is_read_every_time(tmp_path, monkeypatch, binary_reads):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    site = tf_env(tmp_path / "site", plugin_binds=GOOD_BINDS)
    bincache.forget()
    check_loads(site, "arm64", "14.0")
    binary_reads.clear()
    bincache.forget()
    check_loads(site, "arm64", "14.0")
    assert _binaries(binary_reads, site)


def test_the_export_table_answers_as_the_trie_and_a_quirky_trie_is_never_tabled(tmp_path, monkeypatch):
    from tfsetup.macho.analysis import ExportTable
    from tfsetup.macho.reader import ExportTrie

    from tests.unit.test_macho_reader import export_trie, reexport, regular, uleb

    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    bincache.forget()
    trie = ExportTrie(export_trie({"_a": regular(), "_ab": regular(flags=4), "_abc": reexport(2, "_x"),
                                   "_b": reexport(1)}))
    asked = ["_a", "_ab", "_abc", "_b", "_", "_abcd", "_c", ""]
    table = ExportTable(trie, "k" * 64)
    table.table_after = 0  # tabled at the first lookup
    assert [table.lookup(n) for n in asked] == [trie.lookup(n) for n in asked]
    assert table.table is not None
    # an empty edge before "b" (numpy's libgfortran writes such): dyld's first-matching-edge walk never
    # finds "_ab", which a walk of every name would: the trie keeps answering
    leaf = uleb(len(regular())) + regular() + bytes([0])
    root = uleb(0) + bytes([1]) + b"_a\0" + uleb(9, width=4)  # 9 bytes: the node follows
    node = uleb(0) + bytes([2]) + b"\0" + uleb(22, width=4) + b"b\0" + uleb(22 + len(leaf), width=4)  # 13 bytes
    quirky = ExportTrie(root + node + leaf + leaf)
    assert quirky.lookup("_a") is not None and quirky.lookup("_ab") is None
    assert sorted(e.name for e in quirky) == ["_a", "_ab"]
    odd = ExportTable(quirky, "q" * 64)
    odd.table_after = 0
    assert [odd.lookup(n) for n in ("_a", "_ab")] == [quirky.lookup(n) for n in ("_a", "_ab")]
    assert odd.table is None


def test_the_cache_is_pruned_to_its_limit_least_recently_used_first(tmp_path, monkeypatch):
    """The state dir never grows without bound: the first store of a process drops the entries used
    longest ago (a load marks an entry used) until the folder is under the limit."""
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    bincache.forget()
    keys = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(4)]
    for n, key in enumerate(keys):
        bincache.store_bytes(key, bytes(1000))
        folder = bincache._directory()
        os.utime(folder / key[:2] / key, (1000 + n, 1000 + n))  # stored one after the other
    bincache.forget()  # a later run: loads the oldest entry, which makes it the newest
    assert bincache.load_bytes(keys[0]) == bytes(1000)
    monkeypatch.setattr(bincache, "CACHE_LIMIT", 2500)
    bincache.prune(bincache._directory(), bincache.CACHE_LIMIT)
    left = {key for key in keys if (bincache._directory() / key[:2] / key).exists()}
    assert left == {keys[0], keys[3]}  # keys[1] and keys[2] were used longest ago
    assert bincache.prune(bincache._directory(), 10 << 20) == 0  # under the limit: nothing goes


def test_the_first_store_of_a_process_prunes(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    bincache.forget()
    old = hashlib.sha256(b"old").hexdigest()
    bincache.store_bytes(old, bytes(5000))
    bincache.forget()
    monkeypatch.setattr(bincache, "CACHE_LIMIT", 100)
    new = hashlib.sha256(b"new").hexdigest()
    bincache.store_bytes(new, b"x")
    folder = bincache._directory()
    assert not (folder / old[:2] / old).exists() and (folder / new[:2] / new).exists()


def test_bindings_are_kept_and_read_back_exactly():
    """The bindings entry (symbol lines + run-length columns) gives back the very bindings the reader
    found: a symbol holding a line break, an empty one, undecodable bytes and every ordinal kind."""
    from tfsetup.macho.analysis import _bindings, _bindings_entry
    from tfsetup.macho.reader import Binding

    odd = b"_caf\xe9".decode("utf-8", "surrogateescape")
    plain = [Binding("_a", 1), Binding("_a", 1, True), Binding("_b", 2, False, "lazy_bind"), Binding(odd, -2),
             Binding("", 0, False, "chained"), Binding("_c", -3, True, "weak_bind")]
    plain += [Binding(f"_s{n}", 3) for n in range(50)]
    for bindings in ([], plain, plain + [Binding("_two\nlines", 1)]):
        entry = _bindings_entry(bindings)
        back = _bindings(entry)
        assert back == bindings
        assert [type(b.weak_import) for b in back] == [bool] * len(bindings)
    assert entry.count(b"\n") == 1, "a symbol with a line break puts every symbol in the JSON line"
    head = _bindings_entry(plain).split(b"\n", 1)[0]
    assert b"_s1" not in head and b"[3,50]" in head and len(head) < 200, "the columns are run-length coded"
    with pytest.raises(ValueError):
        _bindings(_bindings_entry(plain)[:-3] + b"\n_x")  # one symbol more than the columns say
