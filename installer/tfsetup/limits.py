"""The most that tfsetup's binary readers (macho/, elfcheck/) believe a file that claims it: every count,
size and depth they take from a file is checked against these before it is used, so a hostile file
(a zlib bomb, a 400 KB number, a header claiming millions of entries, a cycle) costs a bounded amount
of memory and time and is refused with one error naming it (exit 2), never a hang or a traceback.

The yardstick is what real wheels hold. Measured 2026-12-07 on every Mach-O and ELF file of the wheels
in the uv cache (TensorFlow 2.19.1 macOS arm64 and 2.21.0 Linux, tensorflow-metal 1.2.0,
tensorflow-io-gcs-filesystem 0.37.1, numpy 1.26-2.4, h5py, grpcio, ml-dtypes); the largest values
seen, and where, are beside each limit. Each limit leaves a wide margin (at least 6x) over them,
except the ULEB128 width, which is dyld's own limit.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

from tfsetup.errors import BadInput

# --- Mach-O -----------------------------------------------------------------------------------
MAX_FAT_ARCHS = 16  # seen: 2 (universal2 ml_dtypes); file(1) stops believing at 20
MAX_LOAD_COMMANDS_BYTES = 1 << 20  # sizeofcmds; seen: 4,120 (libmetal_plugin.dylib), 31 commands
# One linkedit blob read whole: an export trie, a bind stream, a chained-fixups payload.
MAX_LINKEDIT_BYTES = 256 << 20  # seen: weak-bind 43.1 MB, export trie 21.6 MB (libtensorflow_cc.2.dylib)
MAX_SYMBOL_POOL_BYTES = 128 << 20  # a chained-fixups symbol pool after inflating it (no real one is
#   compressed; the names of all 269,828 exports of libtensorflow_cc fit in its 21.6 MB trie)
MAX_CHAINED_IMPORTS = 1_000_000  # seen: 167,045 unique bindings in libtensorflow_cc.2.dylib
MAX_NAME_BYTES = 256 << 10  # one symbol or install name; seen: 20,649 (a C++ symbol in libtensorflow_cc)
MAX_ULEB_BYTES = 10  # a 64-bit value; dyld refuses a longer one ("uleb128 too big for uint64")
MAX_LOAD_DEPTH = 64  # dylibs loading dylibs loading ...; seen: 3 (_pywrap -> libtensorflow_cc -> framework)

# --- ELF --------------------------------------------------------------------------------------
MAX_ELF_DYNAMIC_ENTRIES = 4096  # entries of PT_DYNAMIC; seen: 39 (libtensorflow_io_gcs_filesystem.so)
MAX_ELF_STRING_BYTES = 256 << 10  # one .dynstr string; seen: 20,297 (the RUNPATH of libtensorflow_framework.so.2)
MAX_ELF_VERNEED_FILES = 256  # DT_VERNEEDNUM; seen: 8 (libtensorflow_cc.so.2)
MAX_ELF_VERSION_NEEDS = 4096  # Vernaux entries over all files; seen: 41 (libtensorflow_cc.so.2)


class UnsafeBinary(BadInput):
    """A binary that claims more than any real one does, or points outside itself: exit 2, named."""

    def __init__(self, path: object, what: str) -> None:
        super().__init__(f"{path}: {what}: not a real library, refused",
                         fix=f"remove {path} or reinstall the package it belongs to (no real wheel ships it)")


def over(path: object, what: str, value: int, limit: int) -> UnsafeBinary:
    """The error for a count or size past its limit."""
    return UnsafeBinary(path, f"{what} is {value:,}, more than the {limit:,} tfsetup reads")




def open_binary(path: object) -> BinaryIO:
    """A binary opened for reading without blocking in open() (a FIFO nobody writes to would hold it
    forever); UnsafeBinary unless it is a regular file. OSError as open() raises it."""
    fd = os.open(str(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeBinary(path, "not a regular file (a FIFO, a device or a socket)")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


__all__ = [name for name in dir() if name.startswith("MAX_")] + ["UnsafeBinary", "open_binary", "over"]
