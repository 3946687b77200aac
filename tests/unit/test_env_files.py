"""doctor's fast pass over the installed files (issue 18 items 4, 5, 7): RECORD rows, the check of real
files in a temporary site-packages, the pure rules files-missing and wrong-arch-file, their repair, the
verify repair of a not-verified env, and the one status vocabulary (doctor/status.py)."""
from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path
from typing import Dict, Optional

import pytest

from tests.conftest import host_fixture
from tests.unit.test_doctor_rules import (PINS_215, PINS_221, TABLE, _table_with_locks, d, linux_215, linux_221,
                                          mac_stack)
from tfsetup.env.files import DistFiles, NativeFile, check_distribution, record_rows
from tfsetup.doctor.findings import Finding
from tfsetup.doctor.repair import plan_repair
from tfsetup.doctor.rules import diagnose, locked_distributions, wrong_arch_files
from tfsetup.doctor.status import BROKEN, MISSING, NOT_VERIFIED, OK, EnvStatus, judge, of_verification, status_of
from tfsetup.build import verification_summary
from tfsetup.env.record import verification_state
from tfsetup.verify import Check, VerifyResult

LINUX = host_fixture("linux-x86_64-avx")


def elf_header(machine: int) -> bytes:
    """An ELF64 little-endian header with this e_machine (62 x86_64, 183 aarch64): the bytes the check reads."""
    return b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack("<HH", 3, machine) + bytes(44)


def macho_thin(cputype: int) -> bytes:
    return struct.pack("<IiI", 0xFEEDFACF, cputype, 0) + bytes(20)


def macho_fat(*cputypes: int) -> bytes:
    head = struct.pack(">II", 0xCAFEBABE, len(cputypes))
    head += b"".join(struct.pack(">IIIII", c, 0, 4096 * (i + 1), 64, 12) for i, c in enumerate(cputypes))
    return head.ljust(4096 * len(cputypes) + 64, b"\0")  # each slice inside the file, as in a real one


X86_64, AARCH64 = 62, 183
CPU_X86_64, CPU_ARM64 = 0x01000007, 0x0100000C


# ---------------------------------------------------------------------------------------------
# RECORD and the files (real files in a temporary env)

def test_record_rows_skip_bytecode_and_read_sizes():
    text = ("pkg/__init__.py,sha256=abc,12\n"
            "pkg/__pycache__/__init__.cpython-311.pyc,,\n"
            "pkg/mod.pyc,,\n"
            '"pkg/with,comma.py",sha256=x,7\n'
            "pkg-1.0.dist-info/RECORD,,\n"
            "pkg/odd.txt,sha256=y,not-a-number\n"
            "\n")
    assert record_rows(text) == [("pkg/__init__.py", 12), ("pkg/with,comma.py", 7),
                                 ("pkg-1.0.dist-info/RECORD", None), ("pkg/odd.txt", None)]


def make_dist(env: Path, files: Dict[str, bytes], record_extra: str = "",
              sizes: Optional[Dict[str, int]] = None) -> Path:
    site = env / "lib" / "python3.11" / "site-packages"
    info = site / "pkg-1.0.dist-info"
    info.mkdir(parents=True)
    rows = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(f"{rel},sha256=x,{(sizes or {}).get(rel, len(data))}")
    (info / "RECORD").write_text("\n".join(rows) + "\n" + record_extra + "pkg-1.0.dist-info/RECORD,,\n")
    return info


def test_check_distribution_finds_missing_and_resized_files_and_reads_native_headers(tmp_path):
    env = tmp_path / "env"
    info = make_dist(env, {"pkg/__init__.py": b"x = 1\n", "pkg/gone.py": b"y = 2\n", "pkg/data.txt": b"abc",
                           "pkg/_core.cpython-311-x86_64-linux-gnu.so": elf_header(AARCH64),
                           "pkg/libs/libfoo.so.2": elf_header(X86_64),
                           "pkg/linker.so": b"INPUT(-lfoo)\n",
                           "pkg/_mac.so": macho_fat(CPU_X86_64, CPU_ARM64)},
                     record_extra="../../../../../etc/passwd,sha256=x,1\npkg/__pycache__/gone.cpython-311.pyc,,\n",
                     sizes={"pkg/data.txt": 99})
    (info.parent / "pkg" / "gone.py").unlink()
    found = check_distribution("pkg", "1.0", str(info), str(env))
    assert found.missing == ("pkg/gone.py",)  # not the .pyc, and the row outside the env is not followed
    assert found.resized == (("pkg/data.txt", 3, 99),)
    assert found.checked == 8  # 7 files + RECORD itself
    assert set(found.native) == {NativeFile("pkg/_core.cpython-311-x86_64-linux-gnu.so", "elf", ("aarch64",)),
                                 NativeFile("pkg/libs/libfoo.so.2", "elf", ("x86_64",)),
                                 NativeFile("pkg/_mac.so", "macho", ("x86_64", "arm64"))}


def test_a_conda_package_is_checked_for_presence_only(tmp_path):
    """conda rewrites its build prefix inside text files as it installs: sizes may differ from RECORD."""
    from tfsetup.doctor.inspect import with_files as check_env

    env = tmp_path / "env"
    info = make_dist(env, {"pkg/__init__.py": b"x = 1\n", "pkg/gone.py": b""}, sizes={"pkg/__init__.py": 99})
    (info.parent / "pkg" / "gone.py").unlink()
    changed = (("pkg/__init__.py", 6, 99),)
    for installer, resized in (("conda", ()), ("uv", changed), ("pip\n", changed)):
        facts = replace(linux_221(), path=str(env), prefix=str(env), distributions={"pkg": replace(
            d("pkg", "1.0"), installer=installer, dist_info=str(info))})
        found = check_env(facts, ["pkg", "not-installed"]).files
        assert len(found) == 1 and found[0].missing == ("pkg/gone.py",) and found[0].resized == resized, installer


def test_check_distribution_without_a_record_says_why(tmp_path):
    found = check_distribution("pkg", "1.0", str(tmp_path / "pkg-1.0.dist-info"), str(tmp_path))
    assert found.unreadable and found.checked == 0 and not found.missing


# ---------------------------------------------------------------------------------------------
# the rules

def with_files(env, *files: DistFiles):
    return replace(env, files=tuple(files))


def test_files_missing_names_the_files_and_the_distribution():
    env = with_files(linux_221(), DistFiles("tensorflow-cpu", "2.21.0", 10250,
                                            ("tensorflow/__init__.py", "tensorflow/python/a.py", "b.py", "c.py")),
                     DistFiles("numpy", "2.1.3", 900, (), (("numpy/version.py", 0, 1234),)))
    finding = next(f for f in diagnose(env, LINUX, TABLE) if f.id == "files-missing")
    assert finding.severity == "error"
    assert "tensorflow-cpu 2.21.0, numpy 2.1.3" in finding.message and "4 missing" in finding.message
    assert finding.evidence[0] == ("tensorflow-cpu 2.21.0: 4 of 10250 files missing: tensorflow/__init__.py, "
                                   "tensorflow/python/a.py, b.py and 1 more")
    assert "numpy/version.py (0 bytes, RECORD says 1234)" in finding.evidence[1]
    assert finding.data["files"]["tensorflow-cpu"][0] == "tensorflow/__init__.py"
    assert "`tfsetup doctor --fix /work/env`" in finding.fix


def test_no_finding_when_every_file_is_there_or_files_were_not_checked():
    assert "files-missing" not in [f.id for f in diagnose(linux_221(), LINUX, TABLE)]
    clean = with_files(linux_221(), DistFiles("numpy", "2.1.3", 900, native=(
        NativeFile("numpy/_core/_multiarray_umath.so", "elf", ("x86_64",)),)))
    assert not {"files-missing", "wrong-arch-file"} & {f.id for f in diagnose(clean, LINUX, TABLE)}


@pytest.mark.parametrize("machine,sys_platform,native,wrong", [
    ("x86_64", "linux", NativeFile("a.so", "elf", ("aarch64",)), True),
    ("x86_64", "linux", NativeFile("a.so", "elf", ("x86_64",)), False),
    ("aarch64", "linux", NativeFile("a.so", "elf", ("x86_64",)), True),
    ("aarch64", "linux", NativeFile("a.so", "elf", ("aarch64",)), False),
    ("x86_64", "linux", NativeFile("a.so", "macho", ("x86_64",)), True),  # a Mac's file in a Linux env
    ("arm64", "darwin", NativeFile("a.so", "macho", ("x86_64",)), True),
    ("arm64", "darwin", NativeFile("a.so", "macho", ("x86_64", "arm64")), False),  # universal2
    ("arm64", "darwin", NativeFile("a.so", "macho", ("arm64e",)), False),
    ("x86_64", "darwin", NativeFile("a.so", "macho", ("arm64",)), True),
    ("x86_64", "win32", NativeFile("a.so", "elf", ("aarch64",)), False),  # PE is not read: no verdict
])
def test_wrong_arch_files(machine, sys_platform, native, wrong):
    env = with_files(replace(linux_221(), machine=machine, sys_platform=sys_platform),
                     DistFiles("numpy", "2.1.3", 10, native=(native,)))
    assert bool(wrong_arch_files(env, LINUX)) is wrong


def test_a_mac_shaped_env_built_on_linux_is_judged_as_the_mac_would():
    """`doctor --host-file mac.json ENV`: a Linux python holding macOS wheels; its Mach-O files are right."""
    mac = host_fixture("m1-native-homebrew")
    arm = NativeFile("tensorflow/libtensorflow_framework.2.dylib", "macho", ("arm64",))
    env = with_files(linux_221(), DistFiles("tensorflow", "2.19.1", 10, native=(arm,)))
    assert wrong_arch_files(env, mac) == [] and wrong_arch_files(env, LINUX)
    intel = with_files(linux_221(), DistFiles("numpy", "2.1.3", 10, native=(replace(arm, archs=("x86_64",)),)))
    assert wrong_arch_files(intel, mac) == [("numpy 2.1.3", arm.path, "x86_64")]


def test_wrong_arch_file_finding_names_files_distribution_and_arch():
    natives = tuple(NativeFile(f"numpy/_core/m{i}.so", "elf", ("aarch64",)) for i in range(7))
    env = with_files(linux_221(), DistFiles("numpy", "2.1.3", 900, native=natives))
    finding = next(f for f in diagnose(env, LINUX, TABLE) if f.id == "wrong-arch-file")
    assert finding.severity == "error"
    assert finding.message.startswith("7 native files of numpy 2.1.3 are not built for this env's x86_64 Python "
                                      "(first: numpy/_core/m0.so, aarch64)")
    assert finding.evidence[0] == "numpy 2.1.3: numpy/_core/m0.so: aarch64, not x86_64"
    assert finding.evidence[-1] == "and 2 more files" and len(finding.data["files"]) == 7


def test_locked_distributions_are_the_record_pins_or_else_the_tensorflow_closure():
    env = linux_221(d("tabulate", "0.9.0"))
    closure = locked_distributions(env)
    assert "tensorflow-cpu" in closure and "numpy" in closure and "tabulate" not in closure
    pinned = replace(env, record={"lock": {"pins": {"numpy": "2.1.3", "tabulate": "0.9.0", "absent": "1"}}})
    assert locked_distributions(pinned) == ["numpy", "tabulate"]


def test_damaged_files_are_repaired_by_reinstalling_the_lock(tmp_path):
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.21/py3.11.txt": PINS_221})
    for files in (DistFiles("tensorflow-cpu", "2.21.0", 10, ("tensorflow/__init__.py",)),
                  DistFiles("numpy", "2.1.3", 10, native=(NativeFile("numpy/m.so", "elf", ("aarch64",)),))):
        env = with_files(linux_221(), files)
        findings = diagnose(env, LINUX, table)
        rp = plan_repair(findings, env, LINUX, table, engine="uv", uv="/bin/uv")
        assert [a.kind for a in rp.actions] == ["uninstall", "install-lock"], rp.to_json()
        assert files.key in rp.actions[0].packages and set(rp.addresses) >= {f.id for f in findings
                                                                             if f.severity == "error"}


# ---------------------------------------------------------------------------------------------
# not verified: the command that settles it, and --fix verifies

def not_verified(record, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.21/py3.11.txt": PINS_221})
    env = linux_221(record=record)
    findings = diagnose(env, LINUX, table)
    return next(f for f in findings if f.id == "not-verified"), plan_repair(findings, env, LINUX, table,
                                                                           engine="uv", uv="/bin/uv")


def test_never_verified_gets_verify_and_fix_verifies(tmp_path):
    finding, rp = not_verified({"verification": None}, tmp_path)
    assert "run `tfsetup verify /work/env`" in finding.fix
    assert [a.kind for a in rp.actions] == ["verify"] and rp.verify_only and rp.addresses == ("not-verified",)


def test_timed_out_verification_gets_a_longer_timeout(tmp_path):
    finding, rp = not_verified({"verification": {"ok": False, "timed_out": True, "seconds": 1.0,
                                                 "checks": [{"id": "tf-import", "status": "fail",
                                                             "message": "timed out"}]}}, tmp_path)
    assert "timed out after 1s" in finding.message and "--timeout 600" in finding.fix
    assert [a.kind for a in rp.actions] == ["verify"]
    slow, _ = not_verified({"verification": {"ok": False, "timed_out": True, "seconds": 700.0}}, tmp_path / "2")
    assert "--timeout 2820" in slow.fix  # four times what it got, whole minutes


def test_the_longer_timeout_verify_and_doctor_suggest():
    from tfsetup.verify import longer_timeout

    assert [longer_timeout(s) for s in (1, 2, 149, 150, 600, 700)] == [600, 600, 600, 660, 2460, 2820]


def test_failed_verification_gets_deep_fix(tmp_path):
    finding, rp = not_verified({"verification": {"ok": False, "checks": [
        {"id": "tf-import", "status": "fail", "message": "ImportError"}]}}, tmp_path)
    assert "`tfsetup doctor --deep --fix /work/env`" in finding.fix and finding.evidence == ("tf-import: ImportError",)
    # verifying again would fail again: the locked stack is reinstalled, then verified
    assert [a.kind for a in rp.actions] == ["uninstall", "install-lock"] and "not-verified" in rp.addresses


def test_a_stack_repair_settles_not_verified_itself(tmp_path):
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.15/py3.11.txt": PINS_215})
    env = linux_215(d("numpy", "2.1.3"), record={"verification": None})
    rp = plan_repair(diagnose(env, LINUX, table), env, LINUX, table, engine="uv", uv="/bin/uv")
    assert [a.kind for a in rp.actions] == ["uninstall", "install-lock"] and "not-verified" in rp.addresses


# ---------------------------------------------------------------------------------------------
# one status vocabulary

ERROR = Finding("files-missing", "error", "m", "f")
WARNING = Finding("cuda-libs-missing", "warning", "m", "f")
NOT_VERIFIED_FINDING = Finding("not-verified", "warning", "m", "f")
PASSED = {"verification": {"ok": True}}
TIMED_OUT = {"verification": {"ok": False, "timed_out": True}}
FAILED = {"verification": {"ok": False, "timed_out": False}}
NEVER = {"verification": None}


@pytest.mark.parametrize("record,findings,expected", [
    (PASSED, [], EnvStatus(OK)),
    (PASSED, [WARNING], EnvStatus(OK)),
    (PASSED, [ERROR], EnvStatus(BROKEN, "files-missing")),  # verified once, broken now: the files decide
    (TIMED_OUT, [NOT_VERIFIED_FINDING], EnvStatus(NOT_VERIFIED, "timed out")),  # never "broken"
    (TIMED_OUT, [ERROR, NOT_VERIFIED_FINDING], EnvStatus(BROKEN, "files-missing")),
    (FAILED, [NOT_VERIFIED_FINDING], EnvStatus(BROKEN, "its last verification failed")),
    (NEVER, [NOT_VERIFIED_FINDING], EnvStatus(NOT_VERIFIED, "never verified")),
    ({"verification": {"ok": False}}, [], EnvStatus(BROKEN, "its last verification failed")),  # older records
    (None, [], EnvStatus(NOT_VERIFIED, "not made by tfsetup")),
    (None, [ERROR], EnvStatus(BROKEN, "files-missing")),
])
def test_judge(record, findings, expected):
    assert judge(record, findings) == expected


def test_status_labels_and_json():
    assert EnvStatus(NOT_VERIFIED, "timed out").label == "not verified (timed out)"
    assert EnvStatus(OK).label == "ok" and EnvStatus(OK).to_json() == {"status": "ok", "status_reason": None}


def verification(status: str, timed_out: bool = False) -> VerifyResult:
    return VerifyResult([Check("python-arch", "pass", ""), Check("tf-import", status, "x")], 1.5, 0,
                        timed_out=timed_out)


def test_a_verification_and_its_record_speak_the_same_vocabulary():
    assert of_verification(verification("pass")) == EnvStatus(OK)
    assert of_verification(verification("fail", timed_out=True)) == EnvStatus(NOT_VERIFIED, "timed out")
    assert of_verification(verification("fail")) == EnvStatus(BROKEN, "verification failed: tf-import")
    for result in (verification("pass"), verification("fail", True), verification("fail")):
        record = {"verification": verification_summary(result)}
        assert judge(record, []).state == of_verification(result).state
    assert verification_state({"verification": verification_summary(verification("fail", True))}) == "timed-out"


def test_status_of_a_missing_env_and_a_directory_that_is_no_env(tmp_path):
    assert status_of(tmp_path / "gone", LINUX, TABLE)[0] == EnvStatus(MISSING)
    status, env, findings = status_of(tmp_path, LINUX, TABLE)
    assert status.state == BROKEN and env is None and findings == [] and "not a Python environment" in status.reason


def test_mac_loader_wrong_arch_is_not_reported_twice():
    from tfsetup.macho.dyld import Problem, Report

    env = with_files(mac_stack(), DistFiles("numpy", "2.1.3", 10, native=(NativeFile("numpy/m.so", "macho",
                                                                                     ("x86_64",)),)))
    loader = Report("/work/env", "arm64", "14.0",
                    [Problem("wrong-arch", "lib/python3.11/site-packages/numpy/m.so", have="x86_64")])
    ids = [f.id for f in diagnose(replace(env, loader=loader), host_fixture("m1-native-homebrew"), TABLE)]
    assert "wrong-arch-file" not in ids
    assert "wrong-arch-file" in [f.id for f in diagnose(env, host_fixture("m1-native-homebrew"), TABLE)]
