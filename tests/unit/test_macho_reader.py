"""tfsetup.macho on small Mach-O files built here with struct: the reader's parsing and the dyld model.

The builder writes real Mach-O layouts (header, load commands, linkedit blobs) the way ld64 does,
so every assertion below would fail on a reader that got an offset, a flag or an ordinal wrong."""
from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from tfsetup.limits import UnsafeBinary
from tfsetup.macho import reader
from tfsetup.macho.dyld import (Problem, check_env, dyld_message, group, highest_minos, minos_by_file,
                                prove_plugins)
from tfsetup.macho.reader import (ArchNotFound, Binding, MachOError, format_version, is_macho,
                                  read_macho, read_slices)

ARM64 = (0x0100000C, 0)
X86_64 = (0x01000007, 3)


# --- a tiny ld64 ------------------------------------------------------------------------------

def uleb(n: int, width: int = 0) -> bytes:
    """ULEB128; `width` pads to a fixed size (dyld accepts non-minimal encodings)."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n or (width and len(out) + 1 < width):
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def version(text: str) -> int:
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] << 16 | parts[1] << 8 | parts[2]


def regular(address: int = 0x1000, flags: int = 0) -> bytes:
    return uleb(flags) + uleb(address)


def reexport(ordinal: int, imported: str = "") -> bytes:
    return uleb(0x08) + uleb(ordinal) + imported.encode() + b"\0"


def export_trie(entries: Dict[str, bytes]) -> bytes:
    """A real radix trie (shared prefixes split into edges), child offsets as 4-byte ULEBs."""
    def node(names: Dict[str, bytes]) -> dict:
        groups: Dict[str, Dict[str, bytes]] = {}
        for rest, payload in names.items():
            if rest:
                groups.setdefault(rest[0], {})[rest] = payload
        children = []
        for _, members in sorted(groups.items()):
            keys = list(members)
            edge = keys[0]
            for k in keys[1:]:
                while not k.startswith(edge):
                    edge = edge[:-1]
            children.append((edge, node({k[len(edge):]: v for k, v in members.items()})))
        return {"terminal": names.get(""), "children": children}

    order: List[dict] = []
    todo = [node(entries)]
    while todo:
        n = todo.pop(0)
        order.append(n)
        todo += [child for _, child in n["children"]]
    offset = 0
    for n in order:
        term = n["terminal"] or b""
        n["offset"] = offset
        offset += len(uleb(len(term))) + len(term) + 1 + sum(len(e) + 1 + 4 for e, _ in n["children"])
    out = bytearray()
    for n in order:
        term = n["terminal"] or b""
        out += uleb(len(term)) + term + bytes([len(n["children"])])
        for edge, child in n["children"]:
            out += edge.encode() + b"\0" + uleb(child["offset"], width=4)
    return bytes(out)


def bind_symbol(name: str, ordinal: int, weak: bool = False, done: bool = False) -> bytes:
    if ordinal <= 0:
        op = bytes([0x30 | (ordinal & 0x0F)])  # SET_DYLIB_SPECIAL_IMM
    elif ordinal < 16:
        op = bytes([0x10 | ordinal])  # SET_DYLIB_ORDINAL_IMM
    else:
        op = bytes([0x20]) + uleb(ordinal)  # SET_DYLIB_ORDINAL_ULEB
    out = op + bytes([0x40 | (1 if weak else 0)]) + name.encode() + b"\0"
    out += bytes([0x51, 0x72]) + uleb(0x10) + bytes([0x60]) + sleb(-8) + bytes([0x90])  # type, seg, addend, DO_BIND
    out += bytes([0xA0]) + uleb(8) + bytes([0xB1, 0xC0]) + uleb(2) + uleb(8)  # the other DO_BIND forms
    return out + (b"\0" if done else b"")


def chained_fixups(imports: Sequence[Tuple[str, int, bool]], fmt: int = 1, compress: bool = False) -> bytes:
    pool = bytearray(b"\0")
    entries = bytearray()
    for name, ordinal, weak in imports:
        off = len(pool)
        pool += name.encode() + b"\0"
        if fmt in (1, 2):
            entries += struct.pack("<I", (ordinal & 0xFF) | (int(weak) << 8) | (off << 9))
            if fmt == 2:
                entries += struct.pack("<i", 4)
        else:
            entries += struct.pack("<QQ", (ordinal & 0xFFFF) | (int(weak) << 16) | (off << 32), 4)
    symbols = zlib.compress(bytes(pool)) if compress else bytes(pool)
    starts = struct.pack("<I", 0)  # dyld_chained_starts_in_image with no segments
    header_size = 28
    imports_off = header_size + len(starts)
    symbols_off = imports_off + len(entries)
    return (struct.pack("<7I", 0, header_size, imports_off, symbols_off, len(imports), fmt, int(compress))
            + starts + bytes(entries) + symbols)


def macho(*, cpu: Tuple[int, int] = ARM64, install_name: Optional[str] = None,
          dylibs: Sequence[Tuple[str, str]] = (), rpaths: Sequence[str] = (), minos: Optional[str] = "12.1",
          version_min: Optional[str] = None, exports: Optional[Dict[str, bytes]] = None,
          trie_command: bool = False, bind: bytes = b"", weak_bind: bytes = b"", lazy_bind: bytes = b"",
          chained: Optional[bytes] = None, flags: int = 0x80 | 0x4 | 0x1, filetype: int = 6) -> bytes:
    """A thin 64-bit Mach-O: header, load commands, then the linkedit blobs they point at."""
    kinds = {"load": 0xC, "weak": 0x80000018, "reexport": 0x8000001F, "upward": 0x80000023, "lazy": 0x20}

    def padded(cmd: int, fixed: bytes, text: str) -> bytes:
        name = text.encode() + b"\0"
        size = (8 + len(fixed) + len(name) + 7) // 8 * 8
        return struct.pack("<II", cmd, size) + fixed + name + b"\0" * (size - 8 - len(fixed) - len(name))

    cmds: List[bytes] = []
    if install_name:
        cmds.append(padded(0xD, struct.pack("<IIII", 24, 2, 0x10000, 0x10000), install_name))
    for kind, name in dylibs:
        cmds.append(padded(kinds[kind], struct.pack("<IIII", 24, 2, 0x10000, 0x10000), name))
    for path in rpaths:
        cmds.append(padded(0x8000001C, struct.pack("<I", 12), path))
    if minos:
        cmds.append(struct.pack("<IIIIII", 0x32, 24, 1, version(minos), version("14.0"), 0))
    if version_min:
        cmds.append(struct.pack("<IIII", 0x24, 16, version(version_min), version("11.0")))
    trie = export_trie(exports) if exports else b""
    blobs = [trie if not trie_command else b"", bind, weak_bind, lazy_bind, chained or b"",
             trie if trie_command else b""]
    n_linkedit = 1 + (1 if chained is not None else 0) + (1 if trie_command else 0)
    base = 32 + sum(len(c) for c in cmds) + 48 + 16 * (n_linkedit - 1)
    offsets = []
    pos = base
    for blob in blobs:
        offsets.append(pos)
        pos += len(blob)
    t, b, w, lz, ch, tc = zip(offsets, (len(x) for x in blobs))
    cmds.append(struct.pack("<II10I", 0x80000022, 48, 0, 0, b[0], b[1], w[0], w[1], lz[0], lz[1], t[0], t[1]))
    if chained is not None:
        cmds.append(struct.pack("<IIII", 0x80000034, 16, ch[0], ch[1]))
    if trie_command:
        cmds.append(struct.pack("<IIII", 0x80000033, 16, tc[0], tc[1]))
    body = b"".join(cmds)
    header = struct.pack("<IiIIIIII", 0xFEEDFACF, cpu[0], cpu[1], filetype, len(cmds), len(body), flags, 0)
    return header + body + b"".join(blobs)


def fat(slices: Sequence[Tuple[Tuple[int, int], bytes]], wide: bool = False) -> bytes:
    """A fat (universal) file: big-endian header, slices aligned to 4 KiB like lipo."""
    entry = 32 if wide else 20
    offset = 4096
    table = b""
    body = b""
    for (cputype, sub), data in slices:
        if wide:
            table += struct.pack(">IIQQII", cputype, sub, offset, len(data), 12, 0)
        else:
            table += struct.pack(">IIIII", cputype, sub, offset, len(data), 12)
        pad = (-len(data)) % 4096
        body += data + b"\0" * pad
        offset += len(data) + pad
    head = struct.pack(">II", 0xCAFEBABF if wide else 0xCAFEBABE, len(slices)) + table
    assert len(head) <= 4096 and entry
    return head + b"\0" * (4096 - len(head)) + body


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- reader ----------------------------------------------------------------------------------

def test_load_commands_of_a_thin_dylib(tmp_path):
    path = write(tmp_path / "libx.dylib", macho(
        install_name="@rpath/libx.dylib",
        dylibs=[("load", "/usr/lib/libc++.1.dylib"), ("weak", "@rpath/libw.dylib"),
                ("reexport", "@loader_path/libr.dylib"), ("upward", "@rpath/libu.dylib"),
                ("lazy", "/usr/lib/libz.1.dylib")],
        rpaths=["@loader_path/../lib", "/opt/x"], minos="12.1"))
    image = read_macho(path)
    assert image.arch == "arm64" and image.filetype == 6 and image.two_level
    assert [s.arch for s in image.slices] == ["arm64"] and image.slices[0].offset == 0
    assert image.install_name == "@rpath/libx.dylib"
    assert [(d.kind, d.name) for d in image.dylibs] == [
        ("load", "/usr/lib/libc++.1.dylib"), ("weak", "@rpath/libw.dylib"),
        ("reexport", "@loader_path/libr.dylib"), ("upward", "@rpath/libu.dylib"),
        ("lazy", "/usr/lib/libz.1.dylib")]
    assert image.dylib_for(3).name == "@loader_path/libr.dylib" and image.dylib_for(6) is None
    assert image.rpaths == ["@loader_path/../lib", "/opt/x"]
    assert (image.minos, image.sdk, image.platform) == ("12.1", "14.0", 1)


def test_minos_from_version_min_and_formatting(tmp_path):
    path = write(tmp_path / "old.so", macho(minos=None, version_min="11.3"))
    assert read_macho(path).minos == "11.3"
    assert format_version(0x000A0F04) == "10.15.4" and format_version(0x000C0100) == "12.1"
    assert reader.version_tuple("12") == reader.version_tuple("12.0.0") < reader.version_tuple("12.1")


@pytest.mark.parametrize("trie_command", [False, True])
def test_export_trie_lookup_and_reexports(tmp_path, trie_command):
    exports = {"_foo": regular(0x10), "_foobar": regular(0x20), "_fob": regular(0x30, flags=0x04),
               "_bar": reexport(2, "_baz"), "_same": reexport(1)}
    path = write(tmp_path / "libe.dylib", macho(exports=exports, trie_command=trie_command,
                                                 dylibs=[("load", "/usr/lib/libA.dylib"), ("reexport", "@rpath/libB.dylib")]))
    trie = read_macho(path).exports
    assert trie.lookup("_foo").flags == 0 and not trie.lookup("_foo").is_reexport
    assert trie.lookup("_foobar").name == "_foobar"
    assert trie.lookup("_fob").flags == 0x04  # weak definition
    assert trie.lookup("_fo") is None and trie.lookup("_foobarx") is None and trie.lookup("_zzz") is None
    bar = trie.lookup("_bar")
    assert (bar.is_reexport, bar.reexport_ordinal, bar.reexport_name) == (True, 2, "_baz")
    same = trie.lookup("_same")
    assert (same.reexport_ordinal, same.reexport_name) == (1, "_same")  # "" means the same name
    assert sorted(e.name for e in trie) == sorted(exports)
    assert "_foo" in trie and "_nope" not in trie


def test_bind_opcode_streams(tmp_path):
    bind = (bind_symbol("_two", 2) + bind_symbol("_two", 2) + bind_symbol("_big", 20)
            + bind_symbol("_self", 0) + bind_symbol("_main", -1) + bind_symbol("_flat", -2)
            + bind_symbol("_opt", 1, weak=True) + b"\0" + bind_symbol("_after_done", 1))
    lazy = bind_symbol("_lazy1", 1, done=True) + bind_symbol("_lazy2", -2, done=True)
    weak = bind_symbol("_wdef", -3) + bytes([0x48]) + b"_strong\0"
    path = write(tmp_path / "libb.dylib", macho(bind=bind, lazy_bind=lazy, weak_bind=weak))
    got = read_macho(path).bindings
    assert got == [
        Binding("_two", 2, False, "bind"), Binding("_big", 20, False, "bind"),
        Binding("_self", 0, False, "bind"), Binding("_main", -1, False, "bind"),
        Binding("_flat", -2, False, "bind"), Binding("_opt", 1, True, "bind"),
        Binding("_wdef", -3, False, "weak_bind"),
        Binding("_lazy1", 1, False, "lazy_bind"), Binding("_lazy2", -2, False, "lazy_bind"),
    ]
    assert read_macho(path, bindings=False).bindings == []


@pytest.mark.parametrize("fmt,compress", [(1, False), (2, False), (3, False), (1, True)])
def test_chained_fixups_imports(tmp_path, fmt, compress):
    imports = [("_a", 1, False), ("_w", 2, True), ("_self", 0, False), ("_main", -1, False),
               ("_flat", -2, False), ("_wl", -3, False)]
    path = write(tmp_path / "libc.dylib", macho(chained=chained_fixups(imports, fmt, compress)))
    got = [(b.symbol, b.ordinal, b.weak_import, b.source) for b in read_macho(path).bindings]
    assert got == [(n, o, w, "chained") for n, o, w in imports]


@pytest.mark.parametrize("wide", [False, True])
def test_fat_file_slices(tmp_path, wide):
    arm = macho(cpu=ARM64, minos="12.0", install_name="@rpath/libf.dylib")
    intel = macho(cpu=X86_64, minos="10.15", install_name="@rpath/libf.dylib")
    path = write(tmp_path / "libf.dylib", fat([(X86_64, intel), (ARM64, arm)], wide=wide))
    slices = read_slices(path)
    assert [(s.arch, s.offset, s.size) for s in slices] == [("x86_64", 4096, len(intel)),
                                                            ("arm64", 8192, len(arm))]
    assert read_macho(path, "arm64").minos == "12.0"
    assert read_macho(path, "x86_64").minos == "10.15"
    assert read_macho(path).install_name == "@rpath/libf.dylib"
    with pytest.raises(ArchNotFound) as err:
        read_macho(path, "i386")
    assert err.value.present == ["x86_64", "arm64"]


def test_arm64e_subtype_and_fallback(tmp_path):
    path = write(tmp_path / "e.dylib", macho(cpu=(0x0100000C, 0x80000002), minos="13.0"))
    assert [s.arch for s in read_slices(path)] == ["arm64e"]
    assert read_macho(path, "arm64").arch == "arm64e"


def test_not_macho(tmp_path):
    text = write(tmp_path / "a.so", b"#!/bin/sh\necho hi\n")
    java = write(tmp_path / "A.class", struct.pack(">II", 0xCAFEBABE, 0x00000034) + b"\0" * 32)
    short = write(tmp_path / "t.dylib", struct.pack("<I", 0xFEEDFACF))
    assert not is_macho(text) and not is_macho(java) and not is_macho(short)
    for path in (text, java):
        with pytest.raises(MachOError):
            read_macho(path)
    bad_bind = write(tmp_path / "badbind.dylib", macho(bind=bytes([0x40]) + b"_no_terminator"))
    with pytest.raises(MachOError):
        read_macho(bad_bind)
    bad_trie = write(tmp_path / "badtrie.dylib", macho(exports={"_a": regular()}))
    data = bytearray(bad_trie.read_bytes())
    data[-6:] = b"\xff" * 6  # the child offset ULEB runs off the end
    bad_trie.write_bytes(bytes(data))
    with pytest.raises(MachOError):
        read_macho(bad_trie).exports.lookup("_a")
    truncated = write(tmp_path / "cut.dylib", macho(install_name="@rpath/x")[:40])
    assert is_macho(truncated)
    with pytest.raises(MachOError):
        read_macho(truncated)


# --- dyld model -------------------------------------------------------------------------------

def tf_env(root: Path, core_name: str = "@rpath/_pywrap_tensorflow_internal.so",
           plugin_minos: str = "12.1", plugin_binds: bytes = b"", plugin_cpu=ARM64) -> Path:
    """A TensorFlow-shaped env: core -> framework (rpath @loader_path/..), a plug-in whose rpath
    points nowhere (like tensorflow-metal's Bazel rpath)."""
    write(root / "tensorflow/libtensorflow_framework.2.dylib", macho(
        install_name="@rpath/libtensorflow_framework.2.dylib", minos="12.0",
        dylibs=[("load", "/usr/lib/libc++.1.dylib"), ("reexport", "@loader_path/libreexported.dylib")],
        rpaths=["@loader_path/"], exports={"_TF_NewStatus": regular(), "__ZN10tensorflow28_AttrValue_default_instance_E": regular()},
        bind=bind_symbol("_objc_msgSend", 1)))
    write(root / "tensorflow/libreexported.dylib", macho(
        install_name="@rpath/libreexported.dylib", minos="12.0", exports={"_deep_symbol": regular()}))
    write(root / "tensorflow/python/_pywrap_tensorflow_internal.so", macho(
        install_name=core_name, minos="12.0",
        dylibs=[("load", "/usr/lib/libc++.1.dylib"), ("load", "@rpath/libtensorflow_framework.2.dylib")],
        rpaths=["@loader_path/..", "@loader_path/"],
        exports={"_PyInit__pywrap_tensorflow_internal": regular(),
                 "__ZN10tensorflow28_AttrValue_default_instance_E": reexport(2),
                 "_renamed": reexport(2, "_TF_NewStatus")},
        bind=(bind_symbol("_TF_NewStatus", 2) + bind_symbol("_PyLong_FromLong", -2)
              + bind_symbol("_deep_symbol", 2))))  # two-level, via the framework's LC_REEXPORT_DYLIB
    write(root / "tensorflow-plugins/libmetal_plugin.dylib", macho(
        cpu=plugin_cpu, install_name="bazel-out/metal_plugin/libmetal_plugin.dylib", minos=plugin_minos,
        dylibs=[("load", "/usr/lib/libc++.1.dylib"), ("load", "@rpath/_pywrap_tensorflow_internal.so"),
                ("weak", "@rpath/libgone.dylib"), ("load", "/usr/lib/libobjc.A.dylib")],
        rpaths=["@loader_path/../_solib_darwin_arm64/nowhere"],
        bind=plugin_binds))
    return root


GOOD_BINDS = (bind_symbol("__ZN10tensorflow28_AttrValue_default_instance_E", 2)  # via a re-export entry
              + bind_symbol("_renamed", 2)  # re-exported under another name
              + bind_symbol("_TF_NewStatus", -2)  # flat, found in the framework
              + bind_symbol("_deep_symbol", -2)  # flat, in a re-exported library
              + bind_symbol("_PyErr_Occurred", -2)  # flat, the interpreter's
              + bind_symbol("_objc_msgSend", -2)  # flat, libobjc (linked): a system runtime symbol
              + bind_symbol("_gone_fn", 3)  # from a missing weak dylib
              + bind_symbol("_maybe", 2, weak=True)  # a missing weak import
              + bind_symbol("_memcpy", 1))  # a system library


def test_plugin_loads_through_the_core_install_name(tmp_path):
    report = prove_plugins(tf_env(tmp_path, plugin_binds=GOOD_BINDS), macos="14.0")
    assert report.problems == [], [p.to_json() for p in report.problems]
    assert report.loaded == ["tensorflow/python/_pywrap_tensorflow_internal.so",
                             "tensorflow/libtensorflow_framework.2.dylib", "tensorflow/libreexported.dylib",
                             "tensorflow-plugins/libmetal_plugin.dylib"]
    assert report.files_checked == 4
    assert report.bindings_checked == 1 + 3 + 9  # framework, core, plug-in
    assert report.to_json()["ok"] is True


def test_missing_two_level_symbol_and_flat_misses(tmp_path):
    binds = (GOOD_BINDS + bind_symbol("__ZN3tsl8internal10LogMessageC1EPKcii", 2)
             + bind_symbol("_also_missing", 2) + bind_symbol("_TF_AssignUpdateVariable", -2)
             + bind_symbol("_TF_AssignVariable", -2))
    report = prove_plugins(tf_env(tmp_path, plugin_binds=binds))
    assert [p.to_json() for p in report.problems] == [
        {"kind": "symbol-not-found", "file": "tensorflow-plugins/libmetal_plugin.dylib",
         "library": "@rpath/_pywrap_tensorflow_internal.so", "symbol": "__ZN3tsl8internal10LogMessageC1EPKcii",
         "expected_in": "tensorflow/python/_pywrap_tensorflow_internal.so", "needs": None, "have": None,
         "count": 2, "examples": ["__ZN3tsl8internal10LogMessageC1EPKcii", "_also_missing"], "tried": []},
        {"kind": "symbol-not-found-flat", "file": "tensorflow-plugins/libmetal_plugin.dylib", "library": None,
         "symbol": "_TF_AssignUpdateVariable", "expected_in": "flat namespace", "needs": None, "have": None,
         "count": 2, "examples": ["_TF_AssignUpdateVariable", "_TF_AssignVariable"], "tried": []},
    ]
    assert dyld_message(report.problems[0], "/v/site-packages") == (
        "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii\n"
        "  Referenced from: /v/site-packages/tensorflow-plugins/libmetal_plugin.dylib\n"
        "  Expected in: /v/site-packages/tensorflow/python/_pywrap_tensorflow_internal.so")
    assert dyld_message(report.problems[1]).endswith("\n  Expected in: flat namespace")


def test_core_with_another_install_name_is_not_found(tmp_path):
    """TF 2.20's shape: the file exists but nothing reaches it: the plug-in's rpath is a Bazel
    path, and the dlopen caller (the framework) has only @loader_path/ = tensorflow/."""
    env = tf_env(tmp_path, core_name="bazel-out/lib__pywrap_tensorflow_16_shared_object.dylib",
                 plugin_binds=GOOD_BINDS + bind_symbol("_TF_AssignUpdateVariable", -2))
    report = prove_plugins(env)
    kinds = [(p.kind, p.library, p.symbol) for p in report.problems]
    assert kinds == [("library-not-loaded", "@rpath/_pywrap_tensorflow_internal.so", None),
                     ("symbol-not-found-flat", None, "_TF_AssignUpdateVariable")]
    assert report.problems[0].tried == [
        ("_solib_darwin_arm64/nowhere/_pywrap_tensorflow_internal.so", "no such file"),
        ("tensorflow/_pywrap_tensorflow_internal.so", "no such file")]
    assert dyld_message(report.problems[0], "/sp") == (
        "Library not loaded: @rpath/_pywrap_tensorflow_internal.so\n"
        "  Referenced from: /sp/tensorflow-plugins/libmetal_plugin.dylib\n"
        "  Reason: tried: '/sp/_solib_darwin_arm64/nowhere/_pywrap_tensorflow_internal.so' (no such file), "
        "'/sp/tensorflow/_pywrap_tensorflow_internal.so' (no such file)")


def test_rpath_of_the_loader_chain_finds_a_file(tmp_path):
    """Without the install-name match, the dlopen caller's rpath (@loader_path/) is searched."""
    env = tf_env(tmp_path, core_name="other-name", plugin_binds=bind_symbol("_TF_NewStatus", 1))
    write(env / "tensorflow/_pywrap_tensorflow_internal.so", macho(
        install_name="@rpath/x", exports={"_TF_NewStatus": regular()}))
    report = prove_plugins(env)
    assert report.problems == []
    assert "tensorflow/_pywrap_tensorflow_internal.so" in report.loaded


def test_wrong_arch_and_too_new_macos(tmp_path):
    env = tf_env(tmp_path, plugin_binds=GOOD_BINDS, plugin_minos="13.0")
    report = prove_plugins(env, macos="12.6")
    assert [(p.kind, p.file, p.needs, p.have) for p in report.problems] == [
        ("macos-too-old", "tensorflow-plugins/libmetal_plugin.dylib", "13.0", "12.6")]
    assert dyld_message(report.problems[0]).endswith("(built for macOS 13.0 which is newer than running OS)")
    write(env / "tensorflow/libreexported.dylib", macho(cpu=X86_64, install_name="@rpath/libreexported.dylib"))
    report = prove_plugins(env, macos="14.0")
    assert [(p.kind, p.file, p.library, p.needs, p.have) for p in report.problems][0] == (
        "wrong-arch", "tensorflow/libreexported.dylib", "@loader_path/libreexported.dylib", "arm64", "x86_64")
    assert "have 'x86_64', need 'arm64'" in dyld_message(report.problems[0])
    assert any(p.kind == "library-not-loaded" and p.library == "@loader_path/libreexported.dylib"
               for p in report.problems)


def test_check_env_and_highest_minos(tmp_path):
    env = tf_env(tmp_path, plugin_binds=GOOD_BINDS, plugin_minos="12.1")
    write(env / "bin/tool", macho(filetype=2, minos="11.0", dylibs=[("load", "@executable_path/../lib/libnone.dylib")]))
    write(env / "pkg/intel.so", macho(cpu=X86_64, minos="10.9"))
    write(env / "pkg/notes.txt", b"not a binary")
    report = check_env(env, macos="12.0")
    got = sorted((p.kind, p.file, p.library, p.needs) for p in report.problems)
    assert got == [("library-not-loaded", "bin/tool", "@executable_path/../lib/libnone.dylib", None),
                   ("macos-too-old", "tensorflow-plugins/libmetal_plugin.dylib", None, "12.1"),
                   ("wrong-arch", "pkg/intel.so", None, "arm64")]
    assert report.files_checked == 6
    assert highest_minos(env) == ("12.1", "tensorflow-plugins/libmetal_plugin.dylib")
    assert highest_minos(env, "x86_64") == ("10.9", "pkg/intel.so")
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(env.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(env).as_posix())
    assert minos_by_file(wheel)["tensorflow/libtensorflow_framework.2.dylib"] == "12.0"
    assert highest_minos(wheel) == ("12.1", "tensorflow-plugins/libmetal_plugin.dylib")


def test_group_counts_and_examples():
    raw = [Problem("symbol-not-found-flat", "a.dylib", symbol=f"_s{i}") for i in range(7)]
    raw += [Problem("library-not-loaded", "a.dylib", library="@rpath/x"),
            Problem("library-not-loaded", "a.dylib", library="@rpath/y")]
    grouped = group(raw)
    assert [(g.kind, g.library, g.count, g.symbol) for g in grouped] == [
        ("symbol-not-found-flat", None, 7, "_s0"), ("library-not-loaded", "@rpath/x", 1, None),
        ("library-not-loaded", "@rpath/y", 1, None)]
    assert grouped[0].examples == ["_s0", "_s1", "_s2", "_s3", "_s4"]


@pytest.mark.parametrize("macos,too_old", [("12.0.1", True), ("12.1", False), ("12.1.0", False), ("13.0", False)])
def test_a_binary_built_for_the_targets_exact_macos_loads(tmp_path, macos, too_old):
    """dyld refuses an image only when its minos is *newer* than the running macOS: a plug-in built for
    12.1 loads on 12.1 (the equal case is where `>` vs `>=` differs; prove and doctor share this)."""
    env = tf_env(tmp_path, plugin_binds=GOOD_BINDS, plugin_minos="12.1")
    for check in (check_env, prove_plugins):  # doctor's fast pass and prove's loader
        kinds = [p.kind for p in check(env, macos=macos).problems]
        assert ("macos-too-old" in kinds) is too_old, (check.__name__, kinds)


def test_files_checked_counts_each_mach_o_file_once_and_no_other_file(tmp_path):
    env = tf_env(tmp_path, plugin_binds=GOOD_BINDS)
    write(env / "tensorflow/libreexported.dylib", macho(cpu=X86_64, install_name="@rpath/libreexported.dylib"))
    assert prove_plugins(env, macos="14.0").files_checked == 4  # the wrong-arch one read, and counted, once
    write(env / "tensorflow/libreexported.dylib", b"not a Mach-O file at all")
    report = prove_plugins(env, macos="14.0")
    assert report.files_checked == 3  # a file that is no Mach-O is not a checked binary
    assert any(p.kind == "library-not-loaded" and p.library == "@loader_path/libreexported.dylib"
               for p in report.problems)


def test_programs_are_on_demand_and_the_first_file_needing_the_newest_macos_is_named(tmp_path):
    from tfsetup.macho.dyld import on_demand_files
    from tfsetup.macho.startup import PROGRAM

    env = tf_env(tmp_path, plugin_binds=GOOD_BINDS, plugin_minos="12.1")
    write(env / "aaa/ext.so", macho(minos="12.1"))  # as new as the plug-in, and first by path
    write(env / "bin/server", macho(filetype=2, minos="14.0"))  # run as a process, never loaded
    assert on_demand_files(env, "arm64") == (("12.1", "aaa/ext.so"), [("bin/server", "14.0", PROGRAM)])
    assert highest_minos(env) == ("14.0", "bin/server")
    (env / "bin/server").unlink()
    assert highest_minos(env) == ("12.1", "aaa/ext.so")


def test_a_flat_runtime_symbol_is_found_only_with_its_runtime_linked(tmp_path):
    """`_objc_release` flat from a plug-in that links libobjc: the runtime's; nobody binds it two-level."""
    report = prove_plugins(tf_env(tmp_path, plugin_binds=bind_symbol("_objc_release", -2)))
    assert report.problems == [], [p.to_json() for p in report.problems]
    report = prove_plugins(tf_env(tmp_path / "b", plugin_binds=bind_symbol("___cxa_nothing_here", -2)
                                  + bind_symbol("_dispatch_not_linked", -2)))
    assert [p.symbol for p in report.problems] == ["_dispatch_not_linked"]  # libSystem is not linked


def test_a_reexport_entry_is_followed_into_the_library_it_names(tmp_path):
    """The core re-exports `_bogus` from its second library (the framework), which does not export it."""
    env = tf_env(tmp_path, plugin_binds=bind_symbol("_bogus", 2))
    write(env / "tensorflow/python/_pywrap_tensorflow_internal.so", macho(
        install_name="@rpath/_pywrap_tensorflow_internal.so", minos="12.0",
        dylibs=[("load", "/usr/lib/libc++.1.dylib"), ("load", "@rpath/libtensorflow_framework.2.dylib")],
        rpaths=["@loader_path/..", "@loader_path/"], exports={"_bogus": reexport(2)}))
    report = prove_plugins(env)
    assert [(p.kind, p.symbol, p.expected_in) for p in report.problems] == [
        ("symbol-not-found", "_bogus", "tensorflow/python/_pywrap_tensorflow_internal.so")]


def test_a_plugin_that_is_no_mach_o_file_is_not_loaded(tmp_path):
    env = tf_env(tmp_path, plugin_binds=GOOD_BINDS)
    write(env / "tensorflow-plugins/libbroken.dylib", b"not a Mach-O file")
    report = prove_plugins(env)
    assert [(p.kind, p.file) for p in report.problems] == [
        ("library-not-loaded", "tensorflow-plugins/libbroken.dylib")]


def _lookup_outcome(call, name):
    try:
        return "ok", call(name)
    except UnsafeBinary as exc:
        return "unsafe", str(exc)
    except MachOError as exc:
        return "malformed", str(exc)


def test_the_parsed_lookup_answers_as_the_walk_on_every_trie_damaged_or_not():
    """ExportTrie.lookup walks nodes parsed once per trie; on any trie (well formed, quirky, damaged byte
    by byte) it answers, or fails, exactly as the per-name walk (_lookup) does."""
    import random

    from tfsetup.macho.reader import ExportTrie, _Hostile

    rng = random.Random(22)
    names = ["_a", "_ab", "_abc", "_b", "__ZN10tensorflow3foo", "__ZN10tensorflow3bar", "__ZN3xla1y", "_ab_c"]
    base = export_trie({n: (reexport(2, "_x") if i % 3 == 0 else regular(flags=i)) for i, n in enumerate(names)})
    leaf = uleb(len(regular())) + regular() + bytes([0])
    quirky = (uleb(0) + bytes([1]) + b"_a\0" + uleb(9, width=4)
              + uleb(0) + bytes([2]) + b"\0" + uleb(22, width=4) + b"b\0" + uleb(22 + len(leaf), width=4) + leaf + leaf)
    asked = names + ["", "_", "_abcd", "_c", "__ZN10tensorflow3", "__ZN10tensorflow3foox", "_a\udcff"]

    def walk(data, name):
        trie = ExportTrie(data, "t")
        try:
            return trie._lookup(name)
        except _Hostile as exc:
            raise UnsafeBinary("t", f"its export trie holds {exc}") from None
        except (IndexError, ValueError) as exc:
            raise MachOError(f"t: malformed export trie looking up {name}") from exc

    tries = [base, quirky, b""]
    for data in (base, quirky):
        for _ in range(150):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                damaged[rng.randrange(len(damaged))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
            tries.append(bytes(damaged))
    answered = 0
    for data in tries:
        parsed = ExportTrie(data, "t")  # one trie for every name: its parsed nodes shared
        for name in asked + asked[::-1]:
            got = _lookup_outcome(parsed.lookup, name)
            assert got == _lookup_outcome(lambda n: walk(data, n), name), (data, name)
            answered += got[0] == "ok" and got[1] is not None
    assert answered > 100
