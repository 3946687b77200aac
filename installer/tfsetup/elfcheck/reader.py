"""Read what the dynamic loader needs from an ELF file: machine, DT_NEEDED, DT_SONAME, DT_RPATH,
DT_RUNPATH and the symbol versions of .gnu.version_r (DT_VERNEED), e.g. libc.so.6 -> GLIBC_2.27.

Stdlib only, seek-don't-slurp: the file is mmap()ed and only the ELF header, the program headers,
the dynamic segment and the strings it points at are touched (a 1 GB TensorFlow library costs a few
pages). Everything is reached through the program headers, as ld.so does, so stripped section
headers do not matter. Layouts: the System V gABI (Elf64_Ehdr, Elf64_Phdr, Elf64_Dyn) and the LSB's
symbol versioning (Elf64_Verneed, Elf64_Vernaux). ELF64 little-endian is read in full; anything
else (ELF32, big-endian) is reported by its class and machine only, which is enough to refuse it.
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from tfsetup.limits import (MAX_ELF_DYNAMIC_ENTRIES, MAX_ELF_STRING_BYTES, MAX_ELF_VERNEED_FILES,
                            MAX_ELF_VERSION_NEEDS, UnsafeBinary, open_binary, over)

MAGIC = b"\x7fELF"
EM_X86_64 = 62
EM_AARCH64 = 183
MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64", 3: "i386", 40: "arm", 8: "mips", 21: "ppc64",
            22: "s390", 243: "riscv"}
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
VER_FLG_WEAK = 0x2  # a weak version reference: ld.so only warns when it is missing

PathLike = Union[str, Path]


class ElfError(Exception):
    """Not an ELF file, or a damaged one."""


@dataclass
class ElfFile:
    machine: str  # "x86_64", "aarch64", ... or "machine 1234"
    bits: int  # 64 or 32
    little_endian: bool
    needed: List[str] = field(default_factory=list)  # DT_NEEDED, in order
    soname: Optional[str] = None
    rpath: List[str] = field(default_factory=list)  # DT_RPATH entries, unexpanded
    runpath: List[str] = field(default_factory=list)  # DT_RUNPATH entries, unexpanded
    versions: Dict[str, List[str]] = field(default_factory=dict)  # vn_file -> ["GLIBC_2.2.5", ...] (strong only)

    @property
    def readable(self) -> bool:
        """Whether the dynamic section was read (ELF64 little-endian)."""
        return self.bits == 64 and self.little_endian


def is_elf(path: PathLike) -> bool:
    try:
        with open_binary(path) as fh:  # UnsafeBinary for a FIFO or a device: never a blocking open
            return fh.read(4) == MAGIC
    except OSError:
        return False


def read_elf(path: PathLike) -> ElfFile:
    with open_binary(path) as fh:
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise ElfError("empty file") from None
        with data:
            return parse(data, str(path))


HEADER_BYTES = 20  # e_ident (16) + e_type (2) + e_machine (2)


def parse_header(data: Union[bytes, mmap.mmap]) -> ElfFile:
    """The ELF header alone (class, byte order, e_machine): all an arch check needs, from the first
    HEADER_BYTES bytes; the dynamic section is not read (the returned lists are empty)."""
    if len(data) < HEADER_BYTES or data[:4] != MAGIC:
        raise ElfError("not an ELF file")
    bits = {1: 32, 2: 64}.get(data[4])
    little = data[5] == 1
    if bits is None or data[5] not in (1, 2):
        raise ElfError(f"unknown ELF class {data[4]} / data encoding {data[5]}")
    (e_machine,) = struct.unpack_from("<H" if little else ">H", data, 18)
    return ElfFile(MACHINES.get(e_machine, f"machine {e_machine}"), bits, little)


def parse(data: Union[bytes, mmap.mmap], name: str = "<ELF file>") -> ElfFile:
    """`name` is only for the error of a file past a limit of tfsetup.limits (UnsafeBinary, exit 2)."""
    elf = parse_header(data)
    if not elf.readable:
        return elf
    try:
        _read_dynamic(data, elf, name)
    except struct.error:
        raise ElfError("truncated ELF file") from None
    return elf


def _read_dynamic(data: Union[bytes, mmap.mmap], elf: ElfFile, name: str) -> None:
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    loads: List[Tuple[int, int, int]] = []  # (vaddr, filesz, offset): DT_* values are addresses
    dynamic: Optional[Tuple[int, int]] = None
    for i in range(e_phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:  # a static executable: needs nothing
        return
    entries: List[Tuple[int, int]] = []
    offset, size = dynamic
    for pos in range(offset, offset + size - 15, 16):
        tag, value = struct.unpack_from("<qQ", data, pos)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
        if len(entries) > MAX_ELF_DYNAMIC_ENTRIES:
            raise over(name, "the number of dynamic entries", len(entries), MAX_ELF_DYNAMIC_ENTRIES)
    tags = dict(entries)  # single-valued tags; DT_NEEDED is read from `entries`
    if DT_STRTAB not in tags:
        raise ElfError("dynamic section without DT_STRTAB")
    strtab = _file_offset(loads, tags[DT_STRTAB])

    strings: Dict[int, str] = {}  # each string cut out once, however many entries name it

    def string(index: int) -> str:
        if index in strings:
            return strings[index]
        start = strtab + index
        end = data.find(b"\0", start, start + MAX_ELF_STRING_BYTES + 1)
        if end < 0:
            if len(data) - start > MAX_ELF_STRING_BYTES:
                raise UnsafeBinary(name, f"a .dynstr string longer than {MAX_ELF_STRING_BYTES >> 10} KiB")
            raise ElfError("unterminated string in .dynstr")
        strings[index] = bytes(data[start:end]).decode("utf-8", "replace")
        return strings[index]

    elf.needed = [string(v) for t, v in entries if t == DT_NEEDED]
    if DT_SONAME in tags:
        elf.soname = string(tags[DT_SONAME])
    for tag, target in ((DT_RPATH, elf.rpath), (DT_RUNPATH, elf.runpath)):
        if tag in tags:
            target.extend(p for p in string(tags[tag]).split(":") if p)
    if DT_VERNEED in tags:
        pos = _file_offset(loads, tags[DT_VERNEED])
        files = tags.get(DT_VERNEEDNUM, 0)
        if files > MAX_ELF_VERNEED_FILES:
            raise over(name, "DT_VERNEEDNUM", files, MAX_ELF_VERNEED_FILES)
        total = 0
        for _ in range(files):
            _version, count, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, pos)
            total += count
            if total > MAX_ELF_VERSION_NEEDS:
                raise over(name, "the number of version needs", total, MAX_ELF_VERSION_NEEDS)
            names = elf.versions.setdefault(string(vn_file), [])
            aux = pos + vn_aux
            for _ in range(count):
                _hash, flags, _other, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                if not flags & VER_FLG_WEAK and string(vna_name) not in names:
                    names.append(string(vna_name))
                if not vna_next:  # the last entry, whatever vn_cnt says (as glibc's ld.so reads it)
                    break
                aux += vna_next
            if not vn_next:
                break
            pos += vn_next


def _file_offset(loads: List[Tuple[int, int, int]], address: int) -> int:
    for vaddr, filesz, offset in loads:
        if vaddr <= address < vaddr + filesz:
            return offset + address - vaddr
    if not loads:  # some hand-made files have no PT_LOAD: addresses are offsets
        return address
    raise ElfError(f"address {address:#x} is in no PT_LOAD segment")


def version_tuple(version: str) -> Tuple[int, ...]:
    """'2.2.5' -> (2, 2, 5); non-numeric parts count as 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def glibc_versions(elf: ElfFile) -> List[str]:
    """The GLIBC_x.y versions this file needs (from any of glibc's libraries), without the prefix;
    GLIBC_PRIVATE and the like are left out."""
    out = {name[len("GLIBC_"):] for names in elf.versions.values() for name in names
           if name.startswith("GLIBC_") and name[len("GLIBC_"):][:1].isdigit()}
    return sorted(out, key=version_tuple)
