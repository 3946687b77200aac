"""Hostile binaries for the readers' limits (issue 20, class 6): each small on disk, each claiming what no
real library does. Shared by the fast reader tests (tests/unit/test_reader_limits.py) and the real
process tests under memory and CPU limits (tests/faults/test_hostile_binaries.py).

Built with the same tiny ld64 and ELF writers as the readers' own tests, so every file is a well-formed
Mach-O or ELF up to the one field that lies."""
from __future__ import annotations

import functools
import os
import struct
import zlib
from pathlib import Path
from typing import Callable, Dict

from tests.unit.test_elfcheck import elf_bytes
from tests.unit.test_macho_reader import ARM64, macho, uleb

BOMB_BYTES = 3 << 30  # what the symbol pool inflates to (as in the report: 1.5 MB -> 3.1 GB); ~3 MB on disk


@functools.lru_cache(maxsize=None)
def bomb_pool(inflated: int = BOMB_BYTES) -> bytes:
    """A valid zlib stream of `inflated` zero bytes, made in milliseconds: after a full flush a deflater
    starts afresh, so the segment it writes for 1 MiB of zeros can be repeated byte for byte; then an
    empty final block and the Adler-32 of n zeros (A = 1, B = n mod 65521)."""
    chunk = 1 << 20
    deflater = zlib.compressobj(9)
    first = deflater.compress(bytes(chunk)) + deflater.flush(zlib.Z_FULL_FLUSH)
    again = deflater.compress(bytes(chunk)) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert inflated % chunk == 0 and first.endswith(again)
    final_block = b"\x03\x00"  # BFINAL=1, fixed Huffman, end-of-block
    return first + again * (inflated // chunk - 1) + final_block + struct.pack(">I", (inflated % 65521) << 16 | 1)


def zlib_bomb() -> bytes:
    """A dylib whose chained-fixups symbol pool (symbols_format 1, zlib) inflates to BOMB_BYTES."""
    pool = bomb_pool()
    starts = struct.pack("<I", 0)
    imports = struct.pack("<I", 1 | (1 << 9))  # one import, ordinal 1, name at offset 1
    header = 28
    payload = (struct.pack("<7I", 0, header, header + len(starts), header + len(starts) + len(imports), 1, 1, 1)
               + starts + imports + pool)
    return macho(install_name="@rpath/libbomb.dylib", dylibs=[("load", "/usr/lib/libSystem.B.dylib")],
                 chained=payload)


def long_uleb() -> bytes:
    """A dylib whose bind stream's SET_DYLIB_ORDINAL_ULEB operand is one 400 KB number."""
    stream = bytes([0x20]) + b"\xff" * 400_000 + b"\x01" + bytes([0x40]) + b"_x\0" + bytes([0x90, 0x00])
    return macho(install_name="@rpath/libuleb.dylib", dylibs=[("load", "/usr/lib/libSystem.B.dylib")], bind=stream)


def fat_offset_2_62() -> bytes:
    """A fat file (fat_arch_64) whose arm64 slice starts at byte 2^62."""
    head = struct.pack(">II", 0xCAFEBABF, 1) + struct.pack(">IIQQII", ARM64[0], ARM64[1], 1 << 62, 4096, 12, 0)
    return head + bytes(4096 - len(head))


def trie_edge_without_nul() -> Dict[str, bytes]:
    """libtrie.dylib exports through a trie whose only edge runs to the end without its NUL;
    libuser.dylib binds `_x` from it two-level, so binding walks that edge."""
    lib = bytearray(macho(install_name="@rpath/libtrie.dylib", exports={"_x": uleb(0) + uleb(0x1000)}))
    edge = lib.rfind(b"_x\0")
    lib[edge + 2:] = b"x" * (len(lib) - edge - 2)  # the NUL and the child offset become more edge text
    user = macho(install_name="@rpath/libuser.dylib", dylibs=[("load", "@loader_path/libtrie.dylib")],
                 bind=bytes([0x11, 0x40]) + b"_x\0" + bytes([0x90, 0x00]))
    return {"libtrie.dylib": bytes(lib), "libuser.dylib": user}


def reexport_cycle() -> Dict[str, bytes]:
    """liba re-exports `_x` from libb and libb re-exports it from liba (each links the other);
    libuser binds `_x` from liba."""
    def entry() -> bytes:
        return uleb(0x08) + uleb(1) + b"\0"  # EXPORT_SYMBOL_FLAGS_REEXPORT, ordinal 1, same name

    a = macho(install_name="@rpath/liba.dylib", dylibs=[("load", "@loader_path/libb.dylib")], exports={"_x": entry()})
    b = macho(install_name="@rpath/libb.dylib", dylibs=[("load", "@loader_path/liba.dylib")], exports={"_x": entry()})
    user = macho(install_name="@rpath/libuser.dylib", dylibs=[("load", "@loader_path/liba.dylib")],
                 bind=bytes([0x11, 0x40]) + b"_x\0" + bytes([0x90, 0x00]))
    return {"liba.dylib": a, "libb.dylib": b, "libuser.dylib": user}


def elf_verneed_flood() -> bytes:
    """A 9 KB ELF with 200 Verneed records (DT_VERNEEDNUM 200) each claiming 65,535 Vernaux entries
    (vn_cnt) where there is one (vna_next 0): 13 million version names from 200 records."""
    files = {f"lib{i}.so": ["V_1"] for i in range(200)}
    data = bytearray(elf_bytes(needed=["libc.so.6"], versions=files))
    pos = 0
    for _ in files:
        pos = data.index(struct.pack("<HH", 1, 1), pos)  # vn_version 1, vn_cnt 1
        struct.pack_into("<H", data, pos + 2, 65535)
        pos += 16
    return bytes(data)


MACHO: Dict[str, Callable[[], Dict[str, bytes]]] = {
    "zlib-bomb": lambda: {"libbomb.dylib": zlib_bomb()},
    "400-kb-uleb": lambda: {"libuleb.dylib": long_uleb()},
    "fat-offset-2^62": lambda: {"libfat.dylib": fat_offset_2_62()},
    "trie-edge-without-nul": trie_edge_without_nul,
    "reexport-cycle": reexport_cycle,
}


def write_all(directory: Path, files: Dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path
