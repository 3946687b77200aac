"""Read the facts dyld needs from a Mach-O file: slices, minimum macOS, install names, rpaths,
exports (a lazily walked export trie) and bindings (dyld-info opcodes or chained-fixups imports).

Why our own reader and not lief: lief is a compiled wheel that would have to exist for every
platform and Python tfsetup runs on (3.9 on a bare Mac included), while this needs only the stdlib;
and it is fast because it seeks: it reads the header, the load commands and only the linkedit
ranges asked for, never the 650 MB of code around them. The export trie is kept as bytes and
walked per symbol, the way dyld does, instead of being expanded into a dict of every name; the nodes
a walk passes through are parsed once per trie and kept (~20k names asked of one TF image share their
first nodes): on TF 2.19.1's 70 images, 109k lookups (a sample of the names they bind, and of their
exports) took 0.46 s against 1.05 s walking the bytes each time (one run, 2026-12-07, load average
~7 on the 2 cores), with the same answers (a node not parseable whole is walked as before).

Measured on TensorFlow 2.19.1's libtensorflow_cc.2.dylib (arm64, 647 MB; Linux, Python 3.11, a
shared 2-core VM under load 3-4, warm page cache, best of 3): header + load commands 0.07 ms;
+ the 21.6 MB export trie 22 ms; 2,000 trie lookups 0.1 s; all 167,045 unique bindings 0.7-1.3 s
(only needed when that image itself is checked); enumerating all 269,828 exports (2,553 of them
re-exports) 1.4-2.4 s (tests only). lief 1.0 (throwaway venv, never a dependency) took 13.3 s to
parse the same file (12.1 s with ParserConfig.quick), and lists 267,275 exports: the same minus
the re-exports.

Over 400 lines because the Mach-O formats it reads (fat headers, load commands, the export trie,
three bind-opcode streams, chained-fixup imports) are one binary format, read with shared helpers.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

from tfsetup.limits import (MAX_CHAINED_IMPORTS, MAX_FAT_ARCHS, MAX_LINKEDIT_BYTES, MAX_LOAD_COMMANDS_BYTES,
                            MAX_NAME_BYTES, MAX_SYMBOL_POOL_BYTES, MAX_ULEB_BYTES, UnsafeBinary, open_binary, over)

FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
MH_MAGIC = 0xFEEDFACE
MH_MAGIC_64 = 0xFEEDFACF

CPU_TYPE_X86 = 0x7
CPU_TYPE_X86_64 = 0x01000007
CPU_TYPE_ARM = 0xC
CPU_TYPE_ARM64 = 0x0100000C
CPU_TYPE_ARM64_32 = 0x0200000C
CPU_TYPE_POWERPC = 0x12
CPU_TYPE_POWERPC64 = 0x01000012
CPU_SUBTYPE_ARM64E = 2
CPU_SUBTYPE_MASK = 0x00FFFFFF  # the top byte holds capability bits (e.g. pointer auth ABI)
ARCH_NAMES = {CPU_TYPE_X86: "i386", CPU_TYPE_X86_64: "x86_64", CPU_TYPE_ARM: "arm",
              CPU_TYPE_ARM64: "arm64", CPU_TYPE_ARM64_32: "arm64_32", CPU_TYPE_POWERPC: "ppc",
              CPU_TYPE_POWERPC64: "ppc64"}

MH_EXECUTE = 0x2
MH_DYLIB = 0x6
MH_BUNDLE = 0x8
MH_TWOLEVEL = 0x80
MH_FORCE_FLAT = 0x100

LC_REQ_DYLD = 0x80000000
LC_SYMTAB = 0x2
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LAZY_LOAD_DYLIB = 0x20
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_DYLD_INFO = 0x22
LC_DYLD_INFO_ONLY = 0x22 | LC_REQ_DYLD
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_VERSION_MIN_MACOSX = 0x24
LC_BUILD_VERSION = 0x32
LC_DYLD_EXPORTS_TRIE = 0x33 | LC_REQ_DYLD
LC_DYLD_CHAINED_FIXUPS = 0x34 | LC_REQ_DYLD
PLATFORM_MACOS = 1

# Every command that adds a dependency; their order defines the library ordinals (1-based).
DYLIB_KINDS = {LC_LOAD_DYLIB: "load", LC_LOAD_WEAK_DYLIB: "weak", LC_REEXPORT_DYLIB: "reexport",
               LC_LOAD_UPWARD_DYLIB: "upward", LC_LAZY_LOAD_DYLIB: "lazy"}

# Special library ordinals of bindings.
ORDINAL_SELF = 0
ORDINAL_MAIN_EXECUTABLE = -1
ORDINAL_FLAT_LOOKUP = -2
ORDINAL_WEAK_LOOKUP = -3

EXPORT_SYMBOL_FLAGS_KIND_MASK = 0x03
EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION = 0x04
EXPORT_SYMBOL_FLAGS_REEXPORT = 0x08
EXPORT_SYMBOL_FLAGS_STUB_AND_RESOLVER = 0x10

BIND_SYMBOL_FLAGS_WEAK_IMPORT = 0x1
BIND_SYMBOL_FLAGS_NON_WEAK_DEFINITION = 0x8


class MachOError(Exception):
    """The file is not Mach-O, is truncated, or is malformed."""


class _Hostile(Exception):
    """A value past a limit of tfsetup.limits, met where the file's name is not known: the callers that
    know it turn it into UnsafeBinary (exit 2). Not a ValueError, so no malformed-data handler eats it."""


class ArchNotFound(MachOError):
    """The file is Mach-O but holds no slice of the wanted architecture."""

    def __init__(self, path: str, wanted: str, present: List[str]) -> None:
        super().__init__(f"{path}: no {wanted} slice (have {', '.join(present) or 'none'})")
        self.wanted = wanted
        self.present = present


@dataclass(frozen=True)
class Slice:
    arch: str
    cputype: int
    cpusubtype: int
    offset: int  # file offset of the slice's mach header
    size: int


@dataclass(frozen=True)
class DylibRef:
    kind: str  # load | weak | reexport | upward | lazy
    name: str  # the install name as written, e.g. "@rpath/libtensorflow_framework.2.dylib"


@dataclass(frozen=True)
class Export:
    name: str
    flags: int
    reexport_ordinal: Optional[int] = None  # library ordinal when this entry re-exports
    reexport_name: Optional[str] = None  # the name in that library (differs only when renamed)

    @property
    def is_reexport(self) -> bool:
        return self.reexport_ordinal is not None


class Binding(NamedTuple):  # a tuple: TF's images hold ~300k bindings, made fast
    symbol: str
    ordinal: int  # 1.. = dylibs[ordinal-1]; 0 self; -1 main executable; -2 flat; -3 weak lookup
    weak_import: bool = False  # a missing definition binds to NULL instead of failing
    source: str = "bind"  # bind | weak_bind | lazy_bind | chained


class ExportTrie:
    """An export trie kept as bytes: `lookup` walks one path like dyld, `__iter__` walks it all."""

    def __init__(self, data: bytes, path: str = "<export trie>") -> None:
        self.data = data
        self.path = path
        # the nodes lookups passed through, parsed once (TF's images are asked for ~20k names that share
        # their first nodes); None: a node not parseable whole, where _lookup walks as it always did
        self._nodes: Dict[int, Optional[_Node]] = {}

    def lookup(self, name: str) -> Optional[Export]:
        try:
            found = self._lookup_parsed(name)
            return self._lookup(name) if found is _SLOW else found  # type: ignore[return-value]
        except _Hostile as exc:
            raise UnsafeBinary(self.path, f"its export trie holds {exc}") from None
        except (IndexError, ValueError) as exc:  # a ULEB or edge running off the end
            raise MachOError(f"{self.path}: malformed export trie looking up {name}") from exc

    def _lookup_parsed(self, name: str) -> object:
        """_lookup's answer through the parsed nodes (the same walk: the first edge that matches whole,
        in order; a node seen twice or out of bounds ends it); _SLOW when a node on the way is not
        parseable whole (then _lookup meets whatever it meets, as it always did)."""
        data = self.data
        if not data:
            return None
        target = name.encode("utf-8", "surrogateescape")
        length = len(target)
        end = len(data)
        nodes = self._nodes
        pos = 0
        consumed = 0
        visited = set()
        while True:
            if pos >= end or pos in visited:
                return None
            visited.add(pos)
            node = nodes.get(pos, _SLOW)
            if node is _SLOW:
                node = nodes[pos] = _parse_node(data, pos)
            if node is None:
                return _SLOW
            terminal_size, terminal, by_first, empty = node  # type: ignore[misc]
            if consumed == length and terminal_size:
                return _terminal(data, terminal, name)
            if by_first is None:
                return None
            child = -1
            taken = 0
            if consumed < length:
                limit = empty[0] if empty is not None else 256  # an empty edge always matches: none after it
                for index, edge, to in by_first.get(target[consumed], ()):
                    if index > limit:
                        break
                    if target.startswith(edge, consumed):
                        child, taken = to, len(edge)
                        break
            if child < 0:
                if empty is None:
                    return None
                child = empty[1]
            consumed += taken
            pos = child

    def _lookup(self, name: str) -> Optional[Export]:
        data = self.data
        if not data:
            return None
        target = name.encode("utf-8", "surrogateescape")
        end = len(data)
        pos = 0
        consumed = 0
        visited = set()
        while True:
            if pos >= end or pos in visited:  # a cycle or a jump out of bounds: malformed trie
                return None
            visited.add(pos)
            terminal_size, p = _uleb(data, pos)
            if consumed == len(target) and terminal_size:
                return _terminal(data, p, name)
            p += terminal_size
            if p >= end:
                return None
            children = data[p]
            p += 1
            next_pos = -1
            for _ in range(children):
                edge_end = _nul(data, p)
                edge = data[p:edge_end]
                child, p = _uleb(data, edge_end + 1)
                # dyld takes the first edge that matches whole; some linkers (numpy's libgfortran)
                # write an empty edge to a name's terminal when a longer name shares it as a prefix.
                if target.startswith(edge, consumed):
                    consumed += len(edge)
                    next_pos = child
                    break
            if next_pos < 0:
                return None
            pos = next_pos

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __iter__(self) -> Iterator[Export]:
        try:
            yield from self._walk()
        except _Hostile as exc:
            raise UnsafeBinary(self.path, f"its export trie holds {exc}") from None
        except (IndexError, ValueError) as exc:
            raise MachOError(f"{self.path}: malformed export trie") from exc

    def _walk(self) -> Iterator[Export]:
        data = self.data
        if not data:
            return
        stack: List[Tuple[int, bytes]] = [(0, b"")]
        seen = set()
        while stack:
            pos, prefix = stack.pop()
            if pos >= len(data) or pos in seen:
                continue
            seen.add(pos)
            terminal_size, p = _uleb(data, pos)
            if terminal_size:
                yield _terminal(data, p, prefix.decode("utf-8", "surrogateescape"))
            p += terminal_size
            children = data[p]
            p += 1
            for _ in range(children):
                edge_end = _nul(data, p)
                edge = data[p:edge_end]
                child, p = _uleb(data, edge_end + 1)
                stack.append((child, prefix + edge))


@dataclass
class MachOImage:
    path: str
    arch: str
    slices: List[Slice]
    filetype: int
    flags: int
    minos: Optional[str] = None  # "12.1" (LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX)
    sdk: Optional[str] = None
    platform: Optional[int] = None  # LC_BUILD_VERSION platform (1 = macOS)
    install_name: Optional[str] = None  # LC_ID_DYLIB
    dylibs: List[DylibRef] = field(default_factory=list)
    rpaths: List[str] = field(default_factory=list)
    exports: ExportTrie = field(default_factory=lambda: ExportTrie(b""))
    bindings: List[Binding] = field(default_factory=list)

    @property
    def two_level(self) -> bool:
        return bool(self.flags & MH_TWOLEVEL) and not self.flags & MH_FORCE_FLAT

    def dylib_for(self, ordinal: int) -> Optional[DylibRef]:
        return self.dylibs[ordinal - 1] if 1 <= ordinal <= len(self.dylibs) else None


PathOrFile = Union[str, Path, BinaryIO]


def is_macho(path: Union[str, Path]) -> bool:
    """True when the file starts with a Mach-O or fat magic (Java class files excluded)."""
    try:
        with open_binary(path) as f:  # UnsafeBinary for a FIFO or a device: never a blocking open
            head = f.read(8)
    except OSError:
        return False
    return _magic_kind(head) is not None


def read_slices(source: PathOrFile) -> List[Slice]:
    """The architecture slices of a fat or thin Mach-O file (like `lipo -archs`)."""
    with _opened(source) as f:
        return _slices(f, _name(source))


def read_macho(source: PathOrFile, arch: str = "arm64", *, exports: bool = True,
               bindings: bool = True) -> MachOImage:
    """Parse the `arch` slice. Raises ArchNotFound when absent, MachOError when not Mach-O.

    `exports`/`bindings` False skip reading those linkedit ranges (a header-only read)."""
    name = _name(source)
    with _opened(source) as f:
        slices = _slices(f, name)
        chosen = _choose(slices, arch)
        if chosen is None:
            raise ArchNotFound(name, arch, [s.arch for s in slices])
        return _parse_slice(f, name, chosen, slices, exports, bindings)


def format_version(value: int) -> str:
    """Mach-O versions pack X.Y.Z as xxxx.yy.zz nibbles; the patch is shown only when set."""
    major, minor, patch = value >> 16, (value >> 8) & 0xFF, value & 0xFF
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def version_tuple(text: str) -> Tuple[int, ...]:
    """"12.1" -> (12, 1, 0) for comparisons ("12" == "12.0")."""
    parts = [int(p) for p in text.split(".") if p.isdigit()]
    return tuple((parts + [0, 0, 0])[:3])


# --- internals -------------------------------------------------------------------------------

class _opened:
    """Open a path, or borrow a caller's seekable file object without closing it."""

    def __init__(self, source: PathOrFile) -> None:
        self.source = source
        self.f: Optional[BinaryIO] = None

    def __enter__(self) -> BinaryIO:
        if isinstance(self.source, (str, Path)):
            try:
                self.f = open_binary(self.source)  # UnsafeBinary for a FIFO or a device
            except OSError as exc:
                raise MachOError(f"{self.source}: {exc.strerror}") from exc
            return self.f
        return self.source

    def __exit__(self, *exc: object) -> None:
        if self.f is not None:
            self.f.close()


def _name(source: PathOrFile) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return str(getattr(source, "name", "<file>"))


def _magic_kind(head: bytes) -> Optional[str]:
    if len(head) < 8:
        return None
    big = struct.unpack(">I", head[:4])[0]
    little = struct.unpack("<I", head[:4])[0]
    if big in (FAT_MAGIC, FAT_MAGIC_64):
        # Java class files share 0xCAFEBABE; there the next word is a version (>= 45), not a
        # slice count (file(1) uses the same test).
        count = struct.unpack(">I", head[4:8])[0]
        return "fat" if 0 < count < 20 else None
    if little in (MH_MAGIC, MH_MAGIC_64) or big in (MH_MAGIC, MH_MAGIC_64):
        return "thin"
    return None


def _read_at(f: BinaryIO, offset: int, size: int, name: str) -> bytes:
    try:
        f.seek(offset)
        data = f.read(size)
    except (OSError, OverflowError, ValueError) as exc:  # an offset past what the OS can seek to
        raise MachOError(f"{name}: cannot read {size} bytes at {offset} ({exc})") from None
    if len(data) != size:
        raise MachOError(f"{name}: truncated (wanted {size} bytes at {offset})")
    return data


def _arch_name(cputype: int, cpusubtype: int) -> str:
    if cputype == CPU_TYPE_ARM64 and cpusubtype & CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E:
        return "arm64e"
    return ARCH_NAMES.get(cputype, f"cputype-{cputype:#x}")


def _slices(f: BinaryIO, name: str) -> List[Slice]:
    f.seek(0)
    head = f.read(8)
    kind = _magic_kind(head)
    if kind is None:
        raise MachOError(f"{name}: not a Mach-O file")
    if kind == "thin":
        endian = "<" if struct.unpack("<I", head[:4])[0] in (MH_MAGIC, MH_MAGIC_64) else ">"
        cputype, cpusubtype = struct.unpack(endian + "iI", _read_at(f, 4, 8, name))
        cputype &= 0xFFFFFFFF
        return [Slice(_arch_name(cputype, cpusubtype), cputype, cpusubtype, 0, _file_size(f))]
    magic, count = struct.unpack(">II", head)
    if count > MAX_FAT_ARCHS:
        raise over(name, "the number of fat slices", count, MAX_FAT_ARCHS)
    wide = magic == FAT_MAGIC_64
    entry = 32 if wide else 20  # fat_arch_64 has 64-bit offset/size and a reserved word
    table = _read_at(f, 8, entry * count, name)
    slices = []
    for i in range(count):
        if wide:
            cputype, cpusubtype, offset, size, _align, _res = struct.unpack_from(">IIQQII", table, i * entry)
        else:
            cputype, cpusubtype, offset, size, _align = struct.unpack_from(">IIIII", table, i * entry)
        slices.append(Slice(_arch_name(cputype, cpusubtype), cputype, cpusubtype, offset, size))
    total = _file_size(f)
    for s in slices:
        if total and s.offset + s.size > total:
            raise UnsafeBinary(name, f"its {s.arch} slice claims bytes {s.offset:,}-{s.offset + s.size:,} "
                               f"of a {total:,}-byte file")
    return slices


def _file_size(f: BinaryIO) -> int:
    """The size of a real file; 0 (unknown) for a wheel member (seek(0, 2) would inflate all of it)."""
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return 0


def _choose(slices: List[Slice], arch: str) -> Optional[Slice]:
    for s in slices:
        if s.arch == arch:
            return s
    if arch == "arm64":  # an arm64e slice runs arm64 code too (the pointer-auth ABI aside)
        for s in slices:
            if s.arch == "arm64e":
                return s
    return None


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    return data[offset:end if end >= 0 else len(data)].decode("utf-8", "surrogateescape")


def _parse_slice(f: BinaryIO, name: str, sl: Slice, slices: List[Slice], want_exports: bool,
                 want_bindings: bool) -> MachOImage:
    raw = _read_at(f, sl.offset, 4, name)
    endian = "<" if struct.unpack("<I", raw)[0] in (MH_MAGIC, MH_MAGIC_64) else ">"
    magic = struct.unpack(endian + "I", raw)[0]
    header_size = 32 if magic == MH_MAGIC_64 else 28
    header = _read_at(f, sl.offset, header_size, name)
    _m, _cpu, _sub, filetype, ncmds, sizeofcmds, flags = struct.unpack_from(endian + "7I", header)
    if sizeofcmds > MAX_LOAD_COMMANDS_BYTES:
        raise over(name, "the size of its load commands", sizeofcmds, MAX_LOAD_COMMANDS_BYTES)
    cmds = _read_at(f, sl.offset + header_size, sizeofcmds, name)
    image = MachOImage(path=name, arch=sl.arch, slices=slices, filetype=filetype, flags=flags)
    trie_range: Optional[Tuple[int, int]] = None
    bind_ranges: List[Tuple[str, int, int]] = []
    chained: Optional[Tuple[int, int]] = None
    pos = 0
    for _ in range(ncmds):
        if pos + 8 > len(cmds):
            raise MachOError(f"{name}: load commands run past sizeofcmds")
        cmd, cmdsize = struct.unpack_from(endian + "II", cmds, pos)
        if cmdsize < 8 or pos + cmdsize > len(cmds):
            raise MachOError(f"{name}: bad load command size {cmdsize} at {pos}")
        body = cmds[pos:pos + cmdsize]
        if cmd in DYLIB_KINDS or cmd == LC_ID_DYLIB:
            text = _cstring(body, struct.unpack_from(endian + "I", body, 8)[0])
            if cmd == LC_ID_DYLIB:
                image.install_name = text
            else:
                image.dylibs.append(DylibRef(DYLIB_KINDS[cmd], text))
        elif cmd == LC_RPATH:
            image.rpaths.append(_cstring(body, struct.unpack_from(endian + "I", body, 8)[0]))
        elif cmd == LC_BUILD_VERSION:
            platform, minos, sdk = struct.unpack_from(endian + "III", body, 8)
            image.platform, image.minos, image.sdk = platform, format_version(minos), format_version(sdk)
        elif cmd == LC_VERSION_MIN_MACOSX and image.minos is None:
            minos, sdk = struct.unpack_from(endian + "II", body, 8)
            image.platform, image.minos, image.sdk = PLATFORM_MACOS, format_version(minos), format_version(sdk)
        elif cmd in (LC_DYLD_INFO, LC_DYLD_INFO_ONLY):
            (_ro, _rs, bo, bs, wo, ws, lo, ls, eo, es) = struct.unpack_from(endian + "10I", body, 8)
            bind_ranges += [("bind", bo, bs), ("weak_bind", wo, ws), ("lazy_bind", lo, ls)]
            if es:
                trie_range = (eo, es)
        elif cmd == LC_DYLD_EXPORTS_TRIE:
            off, size = struct.unpack_from(endian + "II", body, 8)
            if size:
                trie_range = (off, size)
        elif cmd == LC_DYLD_CHAINED_FIXUPS:
            chained = struct.unpack_from(endian + "II", body, 8)
        pos += cmdsize
    if want_exports and trie_range:
        image.exports = ExportTrie(_linkedit(f, sl, trie_range[0], trie_range[1], name, "export trie"), name)
    if want_bindings:
        try:
            for source, off, size in bind_ranges:
                if size:
                    data = _linkedit(f, sl, off, size, name, source.replace("_", "-") + " stream")
                    image.bindings += _bind_opcodes(data, source, lazy=source == "lazy_bind")
            if chained and chained[1]:
                data = _linkedit(f, sl, chained[0], chained[1], name, "chained-fixups payload")
                image.bindings += _chained_imports(data, name)
        except UnsafeBinary:
            raise  # a BadInput is a ValueError too: not "malformed"
        except _Hostile as exc:
            raise UnsafeBinary(name, f"its binding info holds {exc}") from None
        except (IndexError, ValueError, struct.error, zlib.error) as exc:  # truncated or corrupt streams
            raise MachOError(f"{name}: malformed binding info ({exc})") from exc
    return image


def _linkedit(f: BinaryIO, sl: Slice, offset: int, size: int, name: str, what: str) -> bytes:
    """One linkedit blob, read whole once its size and place are believable."""
    if size > MAX_LINKEDIT_BYTES:
        raise over(name, f"its {what}", size, MAX_LINKEDIT_BYTES)
    if sl.size and offset + size > sl.size:
        raise UnsafeBinary(name, f"its {what} claims bytes {offset:,}-{offset + size:,} of a {sl.size:,}-byte slice")
    return _read_at(f, sl.offset + offset, size, name)


def _uleb(data: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    start = pos
    while True:
        byte = data[pos]  # IndexError on truncation: callers treat it as malformed
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if pos - start >= MAX_ULEB_BYTES:  # also what keeps a 400 KB number from costing minutes
            raise _Hostile(f"a ULEB128 number longer than {MAX_ULEB_BYTES} bytes at {start}")


def _sleb(data: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    start = pos
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte >= 0x80 and pos - start >= MAX_ULEB_BYTES:
            raise _Hostile(f"an SLEB128 number longer than {MAX_ULEB_BYTES} bytes at {start}")
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, pos


def _nul(data: bytes, pos: int) -> int:
    """The NUL ending the name at `pos`; ValueError (malformed) when there is none within the name limit."""
    return data.index(b"\0", pos, pos + MAX_NAME_BYTES + 1)


# a parsed trie node: (terminal size, where its terminal starts, first byte of an edge -> [(its index, the
# edge, child offset)] in order (None: the node runs off the end after its terminal), the first empty
# edge (index, child) or None)
_Node = Tuple[int, int, Optional[Dict[int, List[Tuple[int, bytes, int]]]], Optional[Tuple[int, int]]]
_SLOW = object()


def _parse_node(data: bytes, pos: int) -> Optional[_Node]:
    """The node at `pos` as ExportTrie._lookup reads it; None when any of it is malformed."""
    try:
        terminal_size, terminal = _uleb(data, pos)
        p = terminal + terminal_size
        if p >= len(data):
            return terminal_size, terminal, None, None
        children = data[p]
        p += 1
        by_first: Dict[int, List[Tuple[int, bytes, int]]] = {}
        empty: Optional[Tuple[int, int]] = None
        for index in range(children):
            edge_end = _nul(data, p)
            edge = data[p:edge_end]
            child, p = _uleb(data, edge_end + 1)
            if edge:
                by_first.setdefault(edge[0], []).append((index, edge, child))
            elif empty is None:
                empty = (index, child)
        return terminal_size, terminal, by_first, empty
    except (_Hostile, IndexError, ValueError):
        return None


def _terminal(data: bytes, pos: int, name: str) -> Export:
    flags, p = _uleb(data, pos)
    if flags & EXPORT_SYMBOL_FLAGS_REEXPORT:
        ordinal, p = _uleb(data, p)
        imported = data[p:_nul(data, p)].decode("utf-8", "surrogateescape")
        return Export(name, flags, ordinal, imported or name)  # "" means the same name
    return Export(name, flags)


def _bind_opcodes(data: bytes, source: str, lazy: bool) -> List[Binding]:
    """Decode a dyld-info bind stream into unique (symbol, ordinal, weak) bindings.

    Addresses are irrelevant to "does it load", so segment/offset operands are skipped (_skip_uleb:
    walked past, not computed; the same limit and truncation errors as _uleb). The opcodes are tested
    in the order TF's streams use them most (a cold proof decodes ~50 MB of them)."""
    out: List[Binding] = []
    append = out.append
    seen = set()
    remember = seen.add
    find = data.index
    ordinal = 0
    symbol = ""
    weak = False
    pos = 0
    end = len(data)
    while pos < end:
        byte = data[pos]
        pos += 1
        op = byte & 0xF0
        if op == 0x40:  # SET_SYMBOL_TRAILING_FLAGS_IMM
            nul = find(b"\0", pos)
            symbol = data[pos:nul].decode("utf-8", "surrogateescape")
            pos = nul + 1
            weak = bool(byte & BIND_SYMBOL_FLAGS_WEAK_IMPORT)  # a flag of the low nibble (the immediate)
        elif op == 0x90 or op == 0xA0 or op == 0xB0 or op == 0xC0:  # DO_BIND and its variants
            if op == 0xA0:
                pos = _skip_uleb(data, pos)
            elif op == 0xC0:
                pos = _skip_uleb(data, _skip_uleb(data, pos))
            key = (symbol, ordinal, weak)
            if symbol and key not in seen:
                remember(key)
                append(Binding(symbol, ordinal, weak, source))
        elif op == 0x70 or op == 0x80:  # SET_SEGMENT_AND_OFFSET_ULEB, ADD_ADDR_ULEB
            start = pos
            while data[pos] >= 0x80:  # _skip_uleb, inline: the commonest operand
                pos += 1
                if pos - start >= MAX_ULEB_BYTES:
                    raise _Hostile(f"a ULEB128 number longer than {MAX_ULEB_BYTES} bytes at {start}")
            pos += 1
        elif op == 0x10:  # SET_DYLIB_ORDINAL_IMM
            ordinal = byte & 0x0F
        elif op == 0x50:  # SET_TYPE_IMM
            pass
        elif op == 0x00:  # DONE: ends a non-lazy stream; separates entries of the lazy one
            if not lazy:
                break
        elif op == 0x20:  # SET_DYLIB_ORDINAL_ULEB
            ordinal, pos = _uleb(data, pos)
        elif op == 0x30:  # SET_DYLIB_SPECIAL_IMM: 0, or a negative 4-bit value sign-extended
            imm = byte & 0x0F
            ordinal = 0 if imm == 0 else (imm | 0xF0) - 0x100
        elif op == 0x60:  # SET_ADDEND_SLEB
            _, pos = _sleb(data, pos)
        elif op == 0xD0:  # THREADED: SET_BIND_ORDINAL_TABLE_SIZE_ULEB (0) or APPLY (1)
            if byte & 0x0F == 0x00:
                pos = _skip_uleb(data, pos)
        else:
            raise MachOError(f"unknown bind opcode {byte:#x} in {source}")
    return out


def _skip_uleb(data: bytes, pos: int) -> int:
    """Where the ULEB128 number at `pos` ends (_uleb's position, its value not computed)."""
    start = pos
    while data[pos] >= 0x80:  # IndexError on truncation, as _uleb
        pos += 1
        if pos - start >= MAX_ULEB_BYTES:
            raise _Hostile(f"a ULEB128 number longer than {MAX_ULEB_BYTES} bytes at {start}")
    return pos + 1


def _chained_imports(data: bytes, name: str) -> List[Binding]:
    """The imports table of LC_DYLD_CHAINED_FIXUPS (the chains themselves are not needed)."""
    if len(data) < 28:
        raise MachOError(f"{name}: chained fixups header truncated")
    (_version, _starts, imports_off, symbols_off, count, imports_format,
     symbols_format) = struct.unpack_from("<7I", data, 0)
    if count > MAX_CHAINED_IMPORTS:
        raise _Hostile(f"{count:,} chained imports, more than the {MAX_CHAINED_IMPORTS:,} tfsetup reads")
    entry = {1: 4, 2: 8, 3: 16}.get(imports_format, 0)
    if imports_off + count * entry > len(data):
        raise MachOError(f"{name}: {count} chained imports run past the payload")
    pool = data[symbols_off:]
    if symbols_format == 1:  # zlib-compressed symbol pool: inflated only up to the limit (a bomb stops there)
        inflater = zlib.decompressobj()
        pool = inflater.decompress(pool, MAX_SYMBOL_POOL_BYTES + 1)
        if len(pool) > MAX_SYMBOL_POOL_BYTES:
            raise _Hostile(f"a symbol pool inflating past {MAX_SYMBOL_POOL_BYTES >> 20} MiB")
    elif symbols_format != 0:
        raise MachOError(f"{name}: unknown chained symbols format {symbols_format}")
    names: Dict[int, str] = {}  # many imports share a name offset; each name is cut out once
    budget = MAX_SYMBOL_POOL_BYTES  # bytes of names cut out in all: overlapping offsets cannot multiply it
    out: List[Binding] = []
    for i in range(count):
        if imports_format == 1:  # DYLD_CHAINED_IMPORT: lib_ordinal:8 weak:1 name_offset:23
            raw = struct.unpack_from("<I", data, imports_off + 4 * i)[0]
            lib, weak, name_off = raw & 0xFF, (raw >> 8) & 1, raw >> 9
            ordinal = lib - 0x100 if lib > 0xF0 else lib
        elif imports_format == 2:  # DYLD_CHAINED_IMPORT_ADDEND: the same + int32 addend
            raw = struct.unpack_from("<I", data, imports_off + 8 * i)[0]
            lib, weak, name_off = raw & 0xFF, (raw >> 8) & 1, raw >> 9
            ordinal = lib - 0x100 if lib > 0xF0 else lib
        elif imports_format == 3:  # DYLD_CHAINED_IMPORT_ADDEND64: ordinal:16 weak:1 pad:15 name:32
            raw = struct.unpack_from("<Q", data, imports_off + 16 * i)[0]
            lib, weak, name_off = raw & 0xFFFF, (raw >> 16) & 1, raw >> 32
            ordinal = lib - 0x10000 if lib > 0xFFF0 else lib
        else:
            raise MachOError(f"{name}: unknown chained imports format {imports_format}")
        symbol = names.get(name_off)
        if symbol is None:
            end = pool.find(b"\0", name_off, name_off + MAX_NAME_BYTES + 1)
            if end < 0 and len(pool) - name_off > MAX_NAME_BYTES:
                raise _Hostile(f"a symbol name longer than {MAX_NAME_BYTES >> 10} KiB")
            symbol = names[name_off] = pool[name_off:end if end >= 0 else len(pool)].decode("utf-8", "surrogateescape")
            budget -= len(symbol) + 1
            if budget < 0:
                raise _Hostile(f"symbol names adding up to more than {MAX_SYMBOL_POOL_BYTES >> 20} MiB")
        out.append(Binding(symbol, ordinal, bool(weak), "chained"))
    return out


def iter_dylibs(image: MachOImage) -> Iterator[Tuple[int, DylibRef]]:
    """(ordinal, dependency) pairs, ordinals 1-based as bindings use them."""
    for i, ref in enumerate(image.dylibs, start=1):
        yield i, ref


__all__ = [
    "ArchNotFound", "Binding", "DylibRef", "Export", "ExportTrie", "MachOError", "MachOImage",
    "Slice", "format_version", "is_macho", "iter_dylibs", "read_macho", "read_slices",
    "version_tuple", "ORDINAL_SELF", "ORDINAL_MAIN_EXECUTABLE", "ORDINAL_FLAT_LOOKUP",
    "ORDINAL_WEAK_LOOKUP",
]
