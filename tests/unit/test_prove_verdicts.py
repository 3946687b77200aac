"""Verdicts kept by the tree's content (prove/verdicts.py): a second check of the same tree reads no
binary and says exactly what the first said; any change of the tree, the target or the checker's code
is another key; an entry damaged, of another key, or in a state dir others can write is refused; a
path outside the tree that the check looked for is looked at again; TFSETUP_NO_CACHE=1 keeps nothing."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tfsetup import bincache, render
from tfsetup.prove import verdicts
from tfsetup.prove.macos import check_loads, loads_kept
from tfsetup.prove.proof import prove_dir

from tests.unit.test_macho_reader import bind_symbol, macho, regular, write
from tests.unit import test_prove_cache
from tests.unit.test_prove_cache import _binaries, site_with_record

binary_reads = test_prove_cache.binary_reads  # the fixture


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TFSETUP_NO_CACHE", raising=False)
    bincache.forget()
    return tmp_path / "state"


def record(site: Path) -> None:
    """Rewrite the tree's RECORD so that it lists every file as it is now."""
    lines = []
    for path in sorted(p for p in site.rglob("*") if p.is_file() and ".dist-info" not in str(p)):
        data = path.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path.relative_to(site).as_posix()},sha256={digest},{len(data)}")
    (site / "tensorflow-2.20.0.dist-info" / "RECORD").write_text("\n".join(lines) + "\n")


def proof(site: Path, macos: str = "14.0"):
    result = prove_dir(site, "macos-arm64", "3.11", macos, "--macos", "pins", None, 0.0)
    result.seconds = 0.0  # the one field that differs between any two runs
    return result


def shown(result, capsys) -> str:
    render.render_prove(result)
    return capsys.readouterr().out


def test_a_kept_verdict_reads_no_binary_and_says_exactly_what_a_fresh_one_says(state, tmp_path, binary_reads, capsys,
                                                                               monkeypatch):
    site = site_with_record(tmp_path / "site")
    first = proof(site)
    assert _binaries(binary_reads, site)
    binary_reads.clear()
    bincache.forget()  # a new process: only the entries on disk
    kept = proof(site)
    assert _binaries(binary_reads, site) == [], "the kept verdict is used: no binary is opened"
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    bincache.forget()
    fresh = proof(site)
    assert json.dumps(kept.to_json()) == json.dumps(fresh.to_json()) == json.dumps(first.to_json())
    assert shown(kept, capsys) == shown(fresh, capsys)
    assert kept.loads and kept.report.files_checked == 4 and kept.report.bindings_checked > 0


def test_a_failing_verdict_is_kept_as_it_was(state, tmp_path, capsys, monkeypatch):
    site = site_with_record(tmp_path / "site")
    write(site / "tensorflow-plugins/libmetal_plugin.dylib", macho(
        install_name="libmetal_plugin.dylib", minos="15.0",
        dylibs=[("load", "@rpath/_pywrap_tensorflow_internal.so"), ("load", "@rpath/libnowhere.dylib")],
        bind=bind_symbol("_TF_NewStatus", 1) + bind_symbol("_missing_one", 1)))
    record(site)
    first = proof(site)
    bincache.forget()
    kept = proof(site)
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    bincache.forget()
    fresh = proof(site)
    assert not fresh.loads and {p.kind for p in fresh.problems} >= {"macos-too-old", "library-not-loaded"}
    assert json.dumps(kept.to_json()) == json.dumps(fresh.to_json()) == json.dumps(first.to_json())
    assert shown(kept, capsys) == shown(fresh, capsys)


def test_any_change_of_the_tree_or_the_question_is_another_key(state, tmp_path):
    site = site_with_record(tmp_path / "site")
    root = os.path.realpath(site)
    inputs = {"arch": "arm64", "macos": "14.0", "full": True}
    base = verdicts.verdict_key("prove", root, inputs)
    assert base is not None and base == verdicts.verdict_key("prove", root, dict(inputs))
    assert verdicts.verdict_key("loads", root, inputs) != base
    for change in ({"macos": "13.0"}, {"arch": "x86_64"}, {"full": False}):
        assert verdicts.verdict_key("prove", root, {**inputs, **change}) != base
    keys = {base}
    plugin = site / "tensorflow-plugins/libmetal_plugin.dylib"
    os.utime(plugin, ns=(10**18, 10**18))  # touched (e.g. patched in place, its RECORD stale)
    keys.add(verdicts.verdict_key("prove", root, inputs))
    write(plugin, plugin.read_bytes() + b"\0")  # new bytes, RECORD rewritten
    record(site)
    keys.add(verdicts.verdict_key("prove", root, inputs))
    write(site / "tensorflow/README.txt", b"a text file")  # a new file, even a text one
    keys.add(verdicts.verdict_key("prove", root, inputs))
    os.symlink("libtensorflow_framework.2.dylib", site / "tensorflow/libalias.dylib")  # a link
    keys.add(verdicts.verdict_key("prove", root, inputs))
    assert len(keys) == 5 and None not in keys


def test_a_changed_checker_is_another_key(state, tmp_path, monkeypatch):
    package = Path(verdicts.__file__).resolve().parent.parent
    copy = tmp_path / "tfsetup"
    for part in verdicts.CHECKER_DIRS:
        shutil.copytree(package / part, copy / part)
    for name in verdicts.CHECKER_FILES:
        shutil.copy(package / name, copy / name)
    assert verdicts.source_hash(copy) == verdicts.source_hash(package) == verdicts.checker_hash()
    with open(copy / "macho" / "dyld.py", "a") as handle:
        handle.write("\n# one more line\n")
    changed = verdicts.source_hash(copy)
    assert changed != verdicts.checker_hash()
    site = site_with_record(tmp_path / "site")
    root = os.path.realpath(site)
    before = verdicts.verdict_key("prove", root, {})
    monkeypatch.setattr(verdicts, "_checker", [changed])  # this process as the edited code would run
    assert verdicts.verdict_key("prove", root, {}) != before


def test_a_changed_tree_is_checked_again(state, tmp_path):
    site = site_with_record(tmp_path / "site")
    assert loads_kept(site, "arm64", "14.0").ok
    bincache.forget()
    write(site / "tensorflow-plugins/libmetal_plugin.dylib", macho(
        install_name="libmetal_plugin.dylib", dylibs=[("load", "@rpath/_pywrap_tensorflow_internal.so")],
        bind=bind_symbol("_not_exported_anywhere", 1)))
    record(site)
    again = loads_kept(site, "arm64", "14.0")
    assert [p.kind for p in again.problems] == ["symbol-not-found"]


def test_a_damaged_or_foreign_entry_is_refused(state, tmp_path):
    site = site_with_record(tmp_path / "site")
    inputs = {"arch": "arm64", "macos": "14.0", "full": True}
    key = verdicts.verdict_key("loads", os.path.realpath(site), inputs)
    assert key is not None
    kept = bincache.cache_folder() / key[:2] / key
    first = loads_kept(site, "arm64", "14.0")
    assert kept.is_file()
    # a verdict that says the opposite, planted as a well-formed entry of another key: refused
    other = "f" * 64
    lie = {"root": os.path.realpath(site), "rest": None, "report": {
        "arch": "arm64", "macos": "14.0", "problems": [["wrong-arch", "x.so", None, None, None, "arm64", "x86_64", 1,
                                                         [], [], None]],
        "loaded": [], "on_demand": [], "files_checked": 1, "bindings_checked": 0, "dependencies_checked": 0,
        "consulted": []}}
    bincache.store(other, lie)
    kept.write_bytes((bincache.cache_folder() / other[:2] / other).read_bytes())
    bincache.forget()
    assert loads_kept(site, "arm64", "14.0").to_json() == first.to_json()
    # the same lie with its header naming this key, but its checksum left as it was: refused
    data = kept.read_bytes()
    head, _, payload = data.partition(b"\n")
    kept.write_bytes(head.replace(other.encode(), key.encode()) + b"\n" + payload.replace(b"x.so", b"y.so"))
    bincache.forget()
    assert loads_kept(site, "arm64", "14.0").to_json() == first.to_json()


def test_a_state_dir_others_can_write_keeps_and_reads_no_verdict(state, tmp_path):
    site = site_with_record(tmp_path / "site")
    loads_kept(site, "arm64", "14.0")
    os.chmod(state, 0o777)
    try:
        bincache.forget()
        assert verdicts.verdict_key("loads", os.path.realpath(site), {}) is None
    finally:
        os.chmod(state, 0o700)


def test_no_cache_keeps_no_verdict(state, tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    site = site_with_record(tmp_path / "site")
    assert verdicts.verdict_key("loads", os.path.realpath(site), {}) is None
    assert loads_kept(site, "arm64", "14.0").ok
    assert not state.exists()


def test_a_tree_with_a_binary_no_record_names_is_never_kept(state, tmp_path):
    site = site_with_record(tmp_path / "site")
    write(site / "extra/libunlisted.dylib", macho(install_name="@rpath/libunlisted.dylib"))
    assert verdicts.tree_identity(os.path.realpath(site)) is None
    assert loads_kept(site, "arm64", "14.0").to_json() == check_loads(site, "arm64", "14.0").to_json()


def test_a_path_outside_the_tree_is_looked_at_again(state, tmp_path):
    """A dependency by absolute path outside the tree: missing when the verdict was kept, there now."""
    outside = tmp_path / "outside" / "libx.dylib"
    site = site_with_record(tmp_path / "site")
    write(site / "tensorflow/libuser.dylib", macho(install_name="@rpath/libuser.dylib",
                                                    dylibs=[("load", str(outside))], bind=bind_symbol("_x_fn", 1)))
    record(site)
    missing = loads_kept(site, "arm64", "14.0")
    assert [(p.kind, p.library) for p in missing.problems] == [("library-not-loaded", str(outside))]
    assert missing.consulted == {str(outside): False}
    write(outside, macho(install_name=str(outside), exports={"_x_fn": regular()}))
    bincache.forget()
    assert loads_kept(site, "arm64", "14.0").ok, "the kept verdict no longer holds: checked again"
    bincache.forget()
    assert loads_kept(site, "arm64", "14.0").ok  # found outside: never kept, checked each time
    write(outside, macho(install_name=str(outside)))  # no longer exports it
    bincache.forget()
    assert [p.kind for p in loads_kept(site, "arm64", "14.0").problems] == ["symbol-not-found"]


def test_a_verdict_naming_paths_by_the_trees_location_holds_only_there(state, tmp_path):
    """@loader_path/../../lib/... leaves the tree: the path said is this copy's, never another's."""
    site = site_with_record(tmp_path / "one" / "site")
    write(site / "tensorflow/libuser.dylib", macho(install_name="@rpath/libuser.dylib",
                                                    dylibs=[("load", "@loader_path/../../lib/libx.dylib")]))
    record(site)
    first = loads_kept(site, "arm64", "14.0")
    assert first.problems[0].tried == [(str(tmp_path / "one" / "lib" / "libx.dylib"), "no such file")]
    copy = tmp_path / "two" / "site"
    shutil.copytree(site, copy)
    for path in site.rglob("*"):  # the same content, to the nanosecond: the same tree key
        os.utime(copy / path.relative_to(site), ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    assert verdicts.tree_identity(os.path.realpath(copy)) == verdicts.tree_identity(os.path.realpath(site))
    bincache.forget()
    assert loads_kept(copy, "arm64", "14.0").problems[0].tried == [(str(tmp_path / "two" / "lib" / "libx.dylib"),
                                                                    "no such file")]
