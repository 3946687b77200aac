"""elfcheck/ (the ELF reader and the ld.so model) and `tfsetup prove --env` on Linux-shaped envs, over
tiny ELF64 files built here byte by byte (struct): DT_NEEDED, DT_SONAME, DT_RUNPATH/DT_RPATH with
$ORIGIN, .gnu.version_r with GLIBC_x.y (`readelf -d` on these files shows the same dynamic entries)."""
from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from tfsetup.elfcheck.ld import check_env
from tfsetup.elfcheck.reader import ElfError, glibc_versions, parse, read_elf

from tests.e2e.helpers import run_tfsetup

ROOT = Path(__file__).resolve().parents[2]
X86_64, AARCH64 = 62, 183


def elf_bytes(machine: int = X86_64, needed: Sequence[str] = (), soname: Optional[str] = None,
              runpath: Optional[str] = None, rpath: Optional[str] = None,
              versions: Optional[Dict[str, List[str]]] = None, weak: Sequence[str] = (), bits: int = 64) -> bytes:
    """An ELF shared object as ld.so reads it: header, PT_LOAD (vaddr 0 = offset 0, so DT_* addresses
    are file offsets) and PT_DYNAMIC, then .dynstr, .gnu.version_r and .dynamic."""
    if bits == 32:
        return b"\x7fELF" + bytes([1, 1, 1]) + bytes(9) + struct.pack("<HH", 3, 3) + bytes(32)
    versions = versions or {}
    strings = bytearray(b"\0")
    offsets: Dict[str, int] = {}

    def intern(text: str) -> int:
        if text not in offsets:
            offsets[text] = len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    dyn: List[tuple] = [(1, intern(n)) for n in needed]
    if soname:
        dyn.append((14, intern(soname)))
    if runpath:
        dyn.append((29, intern(runpath)))
    if rpath:
        dyn.append((15, intern(rpath)))
    verneed = bytearray()
    files = list(versions.items())
    for i, (file, names) in enumerate(files):
        size = 16 + 16 * len(names)
        verneed += struct.pack("<HHIII", 1, len(names), intern(file), 16, size if i < len(files) - 1 else 0)
        for j, name in enumerate(names):
            flags = 2 if name in weak else 0
            verneed += struct.pack("<IHHII", 0, flags, 2 + j, intern(name), 16 if j < len(names) - 1 else 0)
    header_size, phdr_size = 64, 56
    strtab_off = header_size + 2 * phdr_size
    verneed_off = strtab_off + len(strings)
    dynamic_off = verneed_off + len(verneed)
    dyn += [(5, strtab_off), (10, len(strings))]
    if files:
        dyn += [(0x6FFFFFFE, verneed_off), (0x6FFFFFFF, len(files))]
    dyn.append((0, 0))
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in dyn)
    total = dynamic_off + len(dynamic)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, header_size, 0, 0, header_size, phdr_size, 2,
                                 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, total, total, 0x1000)
    dynamic_ph = struct.pack("<IIQQQQQQ", 2, 6, dynamic_off, dynamic_off, dynamic_off, len(dynamic), len(dynamic), 8)
    return header + load + dynamic_ph + bytes(strings) + bytes(verneed) + dynamic


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- the reader ------------------------------------------------------------------------------------

def test_reader_reads_needed_soname_runpath_and_symbol_versions(tmp_path):
    lib = write(tmp_path / "libx.so", elf_bytes(
        needed=["libfoo.so.1", "libc.so.6"], soname="libx.so", runpath="$ORIGIN/../foo.libs:$ORIGIN",
        versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_PRIVATE", "GLIBC_2.38"],
                  "libstdc++.so.6": ["GLIBCXX_3.4.29"]}, weak=["GLIBC_2.38"]))
    elf = read_elf(lib)
    assert (elf.machine, elf.bits, elf.readable) == ("x86_64", 64, True)
    assert elf.needed == ["libfoo.so.1", "libc.so.6"] and elf.soname == "libx.so"
    assert elf.runpath == ["$ORIGIN/../foo.libs", "$ORIGIN"] and elf.rpath == []
    assert elf.versions == {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_PRIVATE"],  # the weak one left out
                            "libstdc++.so.6": ["GLIBCXX_3.4.29"]}
    assert glibc_versions(elf) == ["2.2.5", "2.34"]  # numeric order, no GLIBC_PRIVATE, no GLIBCXX


def test_reader_names_other_machines_and_classes_and_refuses_non_elf(tmp_path):
    assert read_elf(write(tmp_path / "a.so", elf_bytes(machine=AARCH64))).machine == "aarch64"
    old = read_elf(write(tmp_path / "b.so", elf_bytes(bits=32)))
    assert (old.bits, old.machine, old.readable, old.needed) == (32, "i386", False, [])
    with pytest.raises(ElfError):
        parse(b"\x7fELF\x02\x01" + bytes(10))  # header cut short
    with pytest.raises(ElfError):
        parse(b"#!/bin/sh\n" + bytes(20))


# --- the ld.so model -------------------------------------------------------------------------------

def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write(site / "pkg" / "_ext.so", elf_bytes(
        needed=["libfoo-1a2b.so.1", "libc.so.6", "libcuda.so.1", "ld-linux-x86-64.so.2"],
        runpath="$ORIGIN/../pkg.libs", versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.17"]}))
    write(site / "pkg.libs" / "libfoo-1a2b.so.1", elf_bytes(
        soname="libfoo-1a2b.so.1", needed=["libm.so.6", "libbar.so.2"],
        versions={"libm.so.6": ["GLIBC_2.29"], "libc.so.6": ["GLIBC_2.34", "GLIBC_2.27"]}))
    # found by SONAME: another wheel's library, loaded first by whoever needs it (nvidia-* style)
    write(site / "other" / "lib" / "libbar.so.2.0.1", elf_bytes(soname="libbar.so.2"))
    (site / "pkg" / "__init__.py").write_text("")
    return site


def test_an_env_whose_needs_resolve_and_fit_the_glibc_loads(tmp_path):
    report = check_env(_site(tmp_path), "x86_64", "2.34")
    assert report.ok, [p.to_json() for p in report.problems]
    assert report.files_checked == 3 and report.dependencies_checked == 6
    assert report.highest_glibc == ("2.34", "pkg.libs/libfoo-1a2b.so.1")


def test_glibc_versions_newer_than_the_target_are_glibc_too_old(tmp_path):
    report = check_env(_site(tmp_path), "x86_64", "2.28")
    assert [p.to_json() for p in report.problems] == [
        {"kind": "glibc-too-old", "file": "pkg.libs/libfoo-1a2b.so.1", "needs": "2.34", "have": "2.28", "count": 2,
         "examples": ["GLIBC_2.29", "GLIBC_2.34"]}]
    assert not check_env(_site(tmp_path), "x86_64", "2.17").ok
    assert check_env(_site(tmp_path), "x86_64", None).ok  # not judged


def test_a_needed_library_no_runpath_reaches_is_library_not_found(tmp_path):
    site = _site(tmp_path)
    (site / "pkg.libs" / "libfoo-1a2b.so.1").rename(site / "pkg.libs" / "libfoo.so.1")  # SONAME stays: still found
    assert check_env(site, "x86_64", "2.34").ok
    (site / "pkg.libs" / "libfoo.so.1").unlink()
    problems = check_env(site, "x86_64", "2.34").problems
    assert [p.to_json() for p in problems] == [
        {"kind": "library-not-found", "file": "pkg/_ext.so", "library": "libfoo-1a2b.so.1", "count": 1,
         "tried": ["$ORIGIN/../pkg.libs"]}]


def test_runpath_origin_resolves_and_a_runpath_hides_the_rpath(tmp_path):
    site = tmp_path / "site"
    write(site / "tensorflow" / "libtf.so.2", elf_bytes(
        needed=["libcudnn.so.9"], runpath="$ORIGIN/../nvidia/cudnn/lib", rpath="$ORIGIN/elsewhere"))
    write(site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9", elf_bytes())  # no SONAME: found by the runpath only
    write(site / "a" / "liba.so", elf_bytes(needed=["libq.so.1"], rpath="${ORIGIN}/../q"))
    write(site / "q" / "libq.so.1", elf_bytes())
    assert check_env(site, "x86_64", "2.28").ok
    (site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9").rename(site / "tensorflow" / "elsewhere")
    problem, = check_env(site, "x86_64", "2.28").problems
    assert (problem.kind, problem.file, problem.library) == ("library-not-found", "tensorflow/libtf.so.2",
                                                            "libcudnn.so.9")


def test_files_for_another_machine_or_class_are_wrong_arch(tmp_path):
    site = tmp_path / "site"
    write(site / "good.so", elf_bytes())
    write(site / "arm.so", elf_bytes(machine=AARCH64))
    write(site / "old.so", elf_bytes(bits=32))
    write(site / "data.bin", b"not elf at all")
    report = check_env(site, "x86_64", "2.28")
    assert report.files_checked == 3
    assert [(p.kind, p.file, p.have, p.needs) for p in report.problems] == [
        ("wrong-arch", "arm.so", "aarch64", "x86_64"), ("wrong-arch", "old.so", "ELF32 LE i386", "x86_64")]
    assert [p.file for p in check_env(site, "aarch64", "2.28").problems] == ["good.so", "old.so"]


# --- tfsetup prove --env on a Linux-shaped env (a real process) ------------------------------------

def _prove(*args: str) -> subprocess.CompletedProcess:
    return run_tfsetup("prove", *args, timeout=120)


def test_prove_env_for_linux_reports_the_glibc_and_the_missing_library(tmp_path):
    site = _site(tmp_path)
    (site / "pkg-1.0.dist-info").mkdir()
    env = tmp_path / "venv"
    (env / "lib" / "python3.11").mkdir(parents=True)
    site.rename(env / "lib" / "python3.11" / "site-packages")
    proc = _prove("--env", str(env), "--platform", "linux-x86_64", "--glibc", "2.28", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["platform"], doc["python"], doc["glibc"], doc["glibc_from"]) == ("linux-x86_64", "3.11", "2.28",
                                                                                "--glibc")
    assert doc["loads"] is False and doc["packages"] == {"pkg": "1.0"}
    assert doc["problems"][0]["kind"] == "glibc-too-old" and doc["problems"][0]["needs"] == "2.34"
    assert doc["checked"] == {"files": 3, "dependencies": 6}
    assert doc["ld"] == ("ImportError: libc.so.6: version `GLIBC_2.34' not found "
                         "(required by pkg.libs/libfoo-1a2b.so.1)")
    assert "glibc 2.34 or newer" in doc["fix"]
    human = _prove("--env", str(env), "--platform", "linux-x86_64", "--glibc", "2.34")
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith("loads: pkg 1.0 on linux-x86_64, Python 3.11, glibc 2.34")
    assert "checked 3 ELF files, 6 DT_NEEDED" in human.stdout


# --- the reader: headers, segments and entries as ld.so reads them ------------------------------------

PT_DYNAMIC_FILESZ = 64 + 56 + 32  # p_filesz of the second program header (PT_DYNAMIC) in elf_bytes
PT_LOAD_TYPE, PT_LOAD_FILESZ = 64, 64 + 32  # p_type and p_filesz of the first (PT_LOAD)


def test_unknown_classes_and_byte_orders_are_refused_and_big_endian_is_named(tmp_path):
    for ident, says in ((bytes([3, 1, 1]), "unknown ELF class 3 / data encoding 1"),
                        (bytes([2, 0, 1]), "unknown ELF class 2 / data encoding 0"),
                        (bytes([2, 3, 1]), "unknown ELF class 2 / data encoding 3")):
        with pytest.raises(ElfError) as caught:
            parse(b"\x7fELF" + ident + bytes(9) + struct.pack("<HH", 3, X86_64))
        assert str(caught.value) == says
    big = parse(b"\x7fELF" + bytes([2, 2, 1]) + bytes(9) + struct.pack(">HH", 3, 21) + bytes(44))
    assert (big.machine, big.bits, big.little_endian, big.readable, big.needed) == ("ppc64", 64, False, False, [])


def test_entries_after_dt_null_are_not_read():
    data = bytearray(elf_bytes(needed=["libc.so.6"]))
    data += struct.pack("<qQ", 1, 1)  # a DT_NEEDED "libc.so.6" after the terminating DT_NULL
    struct.pack_into("<Q", data, PT_DYNAMIC_FILESZ, struct.unpack_from("<Q", data, PT_DYNAMIC_FILESZ)[0] + 16)
    struct.pack_into("<Q", data, PT_LOAD_FILESZ, len(data))
    assert parse(bytes(data)).needed == ["libc.so.6"]


def test_without_pt_load_addresses_are_offsets_and_an_address_outside_every_load_is_an_error():
    plain = elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.17"]})
    no_load = bytearray(plain)
    struct.pack_into("<I", no_load, PT_LOAD_TYPE, 4)  # PT_NOTE: no PT_LOAD left
    elf = parse(bytes(no_load))
    assert elf.needed == ["libc.so.6"] and elf.versions == {"libc.so.6": ["GLIBC_2.17"]}
    short_load = bytearray(plain)
    struct.pack_into("<Q", short_load, PT_LOAD_FILESZ, 64)  # the load ends before .dynstr
    with pytest.raises(ElfError) as caught:
        parse(bytes(short_load))
    assert str(caught.value) == f"address {64 + 2 * 56:#x} is in no PT_LOAD segment"


def test_only_the_weak_bit_drops_a_version_need():
    data = bytearray(elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.17", "GLIBC_2.34"]}))
    first_aux = data.index(struct.pack("<HH", 1, 2)) + 16  # after the Verneed (vn_version 1, vn_cnt 2)
    assert struct.unpack_from("<IHH", data, first_aux) == (0, 0, 2)  # vna_hash, vna_flags, vna_other
    struct.pack_into("<H", data, first_aux + 4, 1)  # bit 0 (VER_FLG_BASE) set: not weak
    assert parse(bytes(data)).versions == {"libc.so.6": ["GLIBC_2.17", "GLIBC_2.34"]}


def test_version_needs_up_to_the_limit_are_read():
    from tfsetup import limits
    from tfsetup.limits import UnsafeBinary

    def claiming(count: int) -> bytes:
        data = bytearray(elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.17"]}))
        struct.pack_into("<H", data, data.index(struct.pack("<HH", 1, 1)) + 2, count)  # vn_cnt
        return bytes(data)

    assert parse(claiming(limits.MAX_ELF_VERSION_NEEDS)).versions == {"libc.so.6": ["GLIBC_2.17"]}
    with pytest.raises(UnsafeBinary):
        parse(claiming(limits.MAX_ELF_VERSION_NEEDS + 1), "libflood.so")


def test_version_tuples_count_non_numeric_parts_as_zero():
    from tfsetup.elfcheck.reader import version_tuple

    assert version_tuple("2.2.5") == (2, 2, 5)
    assert version_tuple("2.x.1") == (2, 0, 1)


def test_a_string_that_runs_to_the_end_of_the_file_is_unterminated_or_past_the_limit():
    from tfsetup import limits
    from tfsetup.limits import UnsafeBinary

    strtab = 64 + 2 * 56  # .dynstr follows the header and the two program headers in elf_bytes

    def running_to_the_end(tail: int) -> bytes:
        data = bytearray(elf_bytes(needed=["libc.so.6"]))
        at = data.index(struct.pack("<qQ", 1, 1))  # DT_NEEDED -> index 1 ("libc.so.6")
        struct.pack_into("<Q", data, at + 8, len(data) - strtab)  # now: the bytes appended below
        return bytes(data) + b"x" * tail

    with pytest.raises(ElfError, match="unterminated string in .dynstr"):
        parse(running_to_the_end(3))
    with pytest.raises(ElfError, match="unterminated string in .dynstr"):
        parse(running_to_the_end(limits.MAX_ELF_STRING_BYTES))  # at the limit: damaged, not hostile
    with pytest.raises(UnsafeBinary):
        parse(running_to_the_end(limits.MAX_ELF_STRING_BYTES + 1), "long.so")


def test_problems_are_reported_by_kind_then_file(tmp_path):
    site = tmp_path / "site"
    write(site / "a.so", elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.34"]}))
    write(site / "b.so", elf_bytes(needed=["libgone.so.1"]))
    write(site / "c.so", elf_bytes(machine=AARCH64))
    report = check_env(site, "x86_64", "2.28")
    assert [(p.kind, p.file) for p in report.problems] == [
        ("wrong-arch", "c.so"), ("library-not-found", "b.so"), ("glibc-too-old", "a.so")]


def test_a_needed_path_is_used_as_it_is(tmp_path):
    site = tmp_path / "site"
    real = write(tmp_path / "opt" / "libreal.so.1", elf_bytes())
    write(site / "a.so", elf_bytes(needed=[str(real), "/nonexistent/libgone.so.1"], runpath="$ORIGIN"))
    problem, = check_env(site, "x86_64", "2.28").problems
    assert (problem.kind, problem.library, problem.tried) == ("library-not-found", "/nonexistent/libgone.so.1",
                                                             ["/nonexistent/libgone.so.1"])


def test_a_library_elsewhere_in_the_env_is_found_by_its_file_name_too(tmp_path):
    """Like the SONAME case: a library another package loads first (its file name, when it has no SONAME)."""
    site = tmp_path / "site"
    write(site / "a" / "liba.so", elf_bytes(needed=["libq.so.1"]))
    write(site / "q" / "libq.so.1", elf_bytes())  # no SONAME, not on a's search path
    assert check_env(site, "x86_64", "2.28").ok


def test_the_highest_glibc_is_the_newest_over_all_files_whatever_their_order(tmp_path):
    site = tmp_path / "site"
    write(site / "a.so", elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.34"]}))
    write(site / "b.so", elf_bytes(needed=["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.17"]}))
    assert check_env(site, "x86_64", "2.34").highest_glibc == ("2.34", "a.so")
