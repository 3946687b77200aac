"""The binary readers believe no count, size or depth past tfsetup.limits (issue 20, class 6): each hostile
file of tests/unit/hostile.py is refused as UnsafeBinary (exit 2 in the CLI, naming the file) after a
bounded amount of work, a FIFO is never opened blocking, and a re-export cycle ends as a missing symbol.
The same files through the real CLI, under memory and CPU limits: tests/faults/test_hostile_binaries.py."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tfsetup import limits
from tfsetup.elfcheck.reader import parse, read_elf
from tfsetup.errors import EXIT_BAD_INPUT
from tfsetup.limits import UnsafeBinary
from tfsetup.macho.dyld import Process
from tfsetup.macho.reader import MachOError, read_macho, read_slices
from tfsetup.prove.macos import check_loads

from tests.unit import hostile as H
from tests.unit.test_elfcheck import elf_bytes
from tests.unit.test_macho_reader import chained_fixups, macho


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_zlib_bomb_in_a_chained_fixups_pool_is_inflated_only_to_the_limit(tmp_path):
    path = write(tmp_path / "libbomb.dylib", H.zlib_bomb())
    with pytest.raises(UnsafeBinary) as err:
        read_macho(path)
    assert str(path) in err.value.message and "128 MiB" in err.value.message
    assert err.value.exit_code == EXIT_BAD_INPUT and err.value.fix
    assert read_macho(path, bindings=False).install_name == "@rpath/libbomb.dylib"  # the header alone is fine


def test_a_compressed_pool_within_the_limit_is_read():
    data = chained_fixups([("_a", 1, False), ("_b", 2, True)], compress=True)
    from tfsetup.macho.reader import _chained_imports

    assert [(b.symbol, b.ordinal, b.weak_import) for b in _chained_imports(data, "x")] == [
        ("_a", 1, False), ("_b", 2, True)]


def test_a_400_kb_uleb_is_refused_at_its_eleventh_byte(tmp_path):
    path = write(tmp_path / "libuleb.dylib", H.long_uleb())
    with pytest.raises(UnsafeBinary) as err:
        read_macho(path)
    assert "ULEB128 number longer than 10 bytes" in err.value.message


def test_a_ten_byte_uleb_is_still_a_number():
    from tfsetup.macho.reader import _uleb

    assert _uleb(b"\xff" * 9 + b"\x01", 0) == ((1 << 64) - 1, 10)
    assert _uleb(b"\x80" * 9 + b"\x00", 0) == (0, 10)  # padded, as ld64 writes some


def test_a_fat_slice_past_the_end_of_the_file_is_refused(tmp_path):
    path = write(tmp_path / "libfat.dylib", H.fat_offset_2_62())
    with pytest.raises(UnsafeBinary) as err:
        read_slices(path)
    assert "of a 4,096-byte file" in err.value.message


def test_an_export_trie_edge_without_its_nul(tmp_path):
    files = H.trie_edge_without_nul()
    H.write_all(tmp_path, files)
    with pytest.raises(MachOError):  # the reader: malformed, as before
        read_macho(tmp_path / "libtrie.dylib").exports.lookup("_x")
    with pytest.raises(UnsafeBinary) as err:  # binding against it: one error naming the file
        Process(tmp_path).dlopen(tmp_path / "libuser.dylib")
    assert "libtrie.dylib" in err.value.message and "export trie is malformed" in err.value.message


def test_a_reexport_cycle_is_a_missing_symbol_not_a_recursion_error(tmp_path):
    H.write_all(tmp_path, H.reexport_cycle())
    process = Process(tmp_path)
    process.dlopen(tmp_path / "libuser.dylib")
    problems = [(p.kind, p.file, p.symbol) for p in process.report().problems]
    assert problems == [("symbol-not-found", "libuser.dylib", "_x")]


def test_a_chain_of_libraries_deeper_than_the_limit_is_refused_and_a_real_depth_loads(tmp_path):
    def chain(directory: Path, length: int) -> Path:
        for i in range(length):
            deps = [("load", f"@loader_path/lib{i + 1}.dylib")] if i + 1 < length else []
            write(directory / f"lib{i}.dylib", macho(install_name=f"@rpath/lib{i}.dylib", dylibs=deps))
        return directory / "lib0.dylib"

    shallow = Process(tmp_path / "ok")
    shallow.dlopen(chain(tmp_path / "ok", 10))
    assert shallow.report().ok and len(shallow.report().loaded) == 10
    with pytest.raises(UnsafeBinary) as err:
        Process(tmp_path / "deep").dlopen(chain(tmp_path / "deep", limits.MAX_LOAD_DEPTH + 5))
    assert "chain of libraries loading it" in err.value.message


def test_load_commands_and_linkedit_blobs_past_the_limits(tmp_path):
    data = bytearray(macho(install_name="@rpath/x.dylib"))
    struct.pack_into("<I", data, 20, limits.MAX_LOAD_COMMANDS_BYTES + 1)  # sizeofcmds
    with pytest.raises(UnsafeBinary):
        read_macho(write(tmp_path / "cmds.dylib", bytes(data)))
    data = bytearray(macho(install_name="@rpath/y.dylib", bind=b"\x00"))
    at = data.index(struct.pack("<II", 0x80000022, 48))
    struct.pack_into("<I", data, at + 8 + 12, limits.MAX_LINKEDIT_BYTES + 1)  # bind_size
    with pytest.raises(UnsafeBinary):
        read_macho(write(tmp_path / "bind.dylib", bytes(data)))
    struct.pack_into("<I", data, at + 8 + 12, 1 << 20)  # within the limit, past the file's end
    with pytest.raises(UnsafeBinary) as err:
        read_macho(write(tmp_path / "past.dylib", bytes(data)))
    assert "-byte slice" in err.value.message


def test_chained_import_counts(tmp_path):
    from tfsetup.macho.reader import _chained_imports, _Hostile

    data = bytearray(chained_fixups([("_a", 1, False)]))
    struct.pack_into("<I", data, 16, 50)  # 50 imports in a payload holding one
    with pytest.raises(MachOError):
        _chained_imports(bytes(data), "x")
    struct.pack_into("<I", data, 16, limits.MAX_CHAINED_IMPORTS + 1)
    with pytest.raises(_Hostile):
        _chained_imports(bytes(data), "x")
    long_name = "_" + "x" * (limits.MAX_NAME_BYTES + 10)
    with pytest.raises(_Hostile):
        _chained_imports(chained_fixups([(long_name, 1, False)]).rstrip(b"\0"), "x")


def test_the_elf_version_need_flood_is_refused(tmp_path):
    path = write(tmp_path / "libflood.so", H.elf_verneed_flood())
    with pytest.raises(UnsafeBinary) as err:
        read_elf(path)
    assert "number of version needs is 65,535" in err.value.message


def test_elf_vn_cnt_past_the_real_entries_stops_at_the_last_one():
    data = bytearray(elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.17"]}))
    at = data.index(struct.pack("<HH", 1, 2))
    struct.pack_into("<H", data, at + 2, 40)  # vn_cnt says 40; vna_next of the second is 0
    assert parse(bytes(data)).versions == {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.17"]}


def test_elf_dynamic_entries_and_strings_past_the_limits():
    many = elf_bytes(needed=[f"lib{i}.so" for i in range(limits.MAX_ELF_DYNAMIC_ENTRIES + 1)])
    with pytest.raises(UnsafeBinary):
        parse(many, "many.so")
    with pytest.raises(UnsafeBinary):
        parse(elf_bytes(needed=["lib" + "x" * limits.MAX_ELF_STRING_BYTES + ".so"]), "long.so")
    assert parse(elf_bytes(needed=["lib" + "x" * 20_297 + ".so"])).needed[0].endswith("x.so")  # TF's longest


@pytest.mark.parametrize("reader", ["is_macho", "read_macho", "is_elf", "read_elf"])
def test_a_fifo_is_refused_by_every_reader_without_blocking(tmp_path, reader):
    """In a child with a timeout: a blocking open() of a FIFO would otherwise hang this suite."""
    fifo = H.fifo(tmp_path / "lib.so")
    module = "tfsetup.macho.reader" if "macho" in reader else "tfsetup.elfcheck.reader"
    code = (f"import sys; from {module} import {reader}; from tfsetup.limits import UnsafeBinary\n"
            f"try:\n    {reader}(sys.argv[1])\nexcept UnsafeBinary as exc:\n    print(exc.message)\n")
    out = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "not a regular file" in out.stdout, out.stdout + out.stderr


def test_doctors_loader_check_refuses_a_hostile_plugin(tmp_path):
    """check_loads(full=False) is doctor's fast pass: it binds the plug-ins only, so a hostile plug-in is
    what it reads."""
    write(tmp_path / "tensorflow" / "python" / "_pywrap_tensorflow_internal.so",
          macho(install_name="@rpath/_pywrap_tensorflow_internal.so", filetype=8))
    write(tmp_path / "tensorflow-plugins" / "libevil.dylib", H.long_uleb())
    with pytest.raises(UnsafeBinary) as err:
        check_loads(tmp_path, "arm64", None, full=False)
    assert "libevil.dylib" in err.value.message
