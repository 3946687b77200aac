"""build.py: the one build (stage -> install the lock -> verify -> promote), for real and fast: a real
`uv venv` and a real hash-checked `uv pip install` of a tiny local wheel (offline, from a wheelhouse in
tmp_path), the real Transaction; and the verify gate, the record and record_verification on real files."""
from __future__ import annotations

import hashlib
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.conftest import host_fixture
from tests.faults.harness import build_wheel, lock_line
from tfsetup.backends import get_backend
from tfsetup.backends.base import PackageSource
from tfsetup.build import (FAIL_VERIFY_ENV, InstallFailed, Stages, broken_scripts, build_record, build_verify_promote,
                           lock_digest, record_verification, refusal, relocate_scripts, verification_summary)
from tfsetup.env.record import read_record, write_record
from tfsetup.host.facts import PythonInfo
from tfsetup.plan import Plan, PlanRequest, plan
from tfsetup.recipes import load_recipes
from tfsetup.txn import Transaction, path_lock
from tfsetup.verify import Check, VerifyResult

PKG, PKG_VERSION = "tfsetup-unit-pkg", "1.0"


def _result(*statuses: str, seconds: float = 12.34) -> VerifyResult:
    return VerifyResult([Check(f"c{i}", s, f"{s} message") for i, s in enumerate(statuses)], seconds, 0)


# ---------------------------------------------------------------------------------------------
# the verify gate, InstallFailed, the summary in the record

def test_the_gate_keeps_a_passing_env_and_names_each_failed_check(monkeypatch):
    monkeypatch.delenv(FAIL_VERIFY_ENV, raising=False)
    assert refusal(_result("pass", "warn", "skip")) is None
    assert refusal(_result("pass", "fail", "fail")) == "c1: fail message; c2: fail message"
    assert refusal(VerifyResult([], 1.0, 0)) == f"{FAIL_VERIFY_ENV}=1 (test-only forced failure)"  # no checks ran
    monkeypatch.setenv(FAIL_VERIFY_ENV, "1")
    assert refusal(_result("pass")) == f"{FAIL_VERIFY_ENV}=1 (test-only forced failure)"


def test_install_failed_carries_the_verification_only_when_there_is_one():
    failed = _result("fail")
    with_it = InstallFailed("verification failed", verification=failed, timings={"venv": 1.23456})
    assert with_it.details == {"target_unchanged": True, "verification": failed.to_json(),
                               "timings": {"venv": 1.235}}
    assert with_it.verification is failed
    assert InstallFailed("uv failed").details == {"target_unchanged": True}


def test_the_verification_summary_keeps_the_seconds_as_measured():
    assert verification_summary(None) is None
    summary = verification_summary(_result("pass", "fail", seconds=12.34))
    assert summary == {"ok": False, "timed_out": False, "seconds": 12.3,
                       "checks": [{"id": "c0", "status": "pass", "message": "pass message"},
                                  {"id": "c1", "status": "fail", "message": "fail message"}]}
    assert verification_summary(_result("pass", seconds=0.0))["seconds"] == 0.0  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# record_verification: under the path's lock, only into a tfsetup env's record

def _tfsetup_env(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    write_record(path, {"schema": 1, "recipe": "r", "verification": None, "verified_at": None})
    return path


def test_record_verification_writes_what_the_suite_found(tmp_path, isolated_state):
    env = _tfsetup_env(tmp_path / "env")
    assert record_verification(env, _result("pass", "fail")) is True
    record = read_record(env)
    assert record is not None and record["recipe"] == "r" and record["verified_at"]
    assert record["verification"] == verification_summary(_result("pass", "fail"))


def test_record_verification_leaves_an_env_another_tfsetup_holds(tmp_path, isolated_state):
    env = _tfsetup_env(tmp_path / "env")
    before = (env / "tfsetup-env.json").read_bytes()
    with path_lock(env):  # an install or repair running on it: it wins, the record is not touched
        assert record_verification(env, _result("pass")) is False
    assert (env / "tfsetup-env.json").read_bytes() == before


def test_record_verification_writes_nothing_outside_a_tfsetup_env(tmp_path, isolated_state):
    plain = tmp_path / "venv"
    (plain / "bin").mkdir(parents=True)
    (plain / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert record_verification(plain, _result("pass")) is False
    assert sorted(p.name for p in plain.iterdir()) == ["bin", "pyvenv.cfg"]
    broken = _tfsetup_env(tmp_path / "broken")
    (broken / "tfsetup-env.json").write_text("{not json")
    assert record_verification(broken, _result("pass")) is False
    assert (broken / "tfsetup-env.json").read_text() == "{not json"


# ---------------------------------------------------------------------------------------------
# the progress timer, the lock's digest

def test_a_finished_step_is_timed_even_when_its_done_line_fails():
    events: List[str] = []

    def progress(name: str, event: str) -> None:
        events.append(f"{name} {event}")
        if event == "done":
            raise BrokenPipeError("stderr closed")

    stages = Stages(progress)
    with pytest.raises(BrokenPipeError):
        with stages("venv"):
            pass
    assert events == ["venv start", "venv done"] and list(stages.timings) == ["venv"]
    assert stages.timings["venv"] >= 0.0


def test_the_lock_digest_is_the_sha256_of_its_bytes(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_bytes(b"numpy==2.1.3 --hash=sha256:" + b"a" * 64 + b"\n")
    assert lock_digest(lock) == hashlib.sha256(lock.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# relocate_scripts touches regular files only; broken_scripts reads a shebang as a kernel does

def test_a_linked_script_is_left_a_link_and_its_target_unchanged(tmp_path):
    stage, final = tmp_path / ".env.stage", tmp_path / "env"
    (stage / "bin").mkdir(parents=True)
    (stage / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shared = tmp_path / "shared-tool"  # outside the env: not the env's to rewrite
    shared.write_text(f"#!{stage}/bin/python\n")
    (stage / "bin" / "tool").symlink_to(shared)
    assert relocate_scripts(stage, stage, final) == 0
    assert (stage / "bin" / "tool").is_symlink()
    assert shared.read_text() == f"#!{stage}/bin/python\n"


def _interpreter_of_length(root: Path, length: int) -> str:
    """An existing interpreter (a link to this Python) whose absolute path is exactly `length` bytes."""
    base = str(root.resolve())
    pad = length - len(base) - len("/python") - 1
    parts = []
    while pad > 0:
        part = min(pad, 200)
        if pad - part == 1:  # a 1-byte remainder cannot be a "/x" component
            part -= 1
        parts.append("d" * part)
        pad -= part + 1
    directory = Path(base, *parts)
    directory.mkdir(parents=True)
    (directory / "python").symlink_to(sys.executable)
    path = str(directory / "python")
    assert len(path) == length, (len(path), length)
    return path


def test_a_shebang_is_read_as_far_as_a_kernel_reads_it(tmp_path):
    """The first line is read up to 512 bytes (macOS's limit; Linux reads less): an interpreter named past
    that is cut there, and reported, as the kernel could not run the script either."""
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    fits = _interpreter_of_length(tmp_path / "python-a", 510)  # "#!" + 510 bytes: the whole 512
    (env / "bin" / "fits").write_text(f"#!{fits}\n")
    assert broken_scripts(env) == []
    too_long = _interpreter_of_length(tmp_path / "python-b", 511)  # "python" is in the part read
    (env / "bin" / "too-long").write_text(f"#!{too_long}\n")
    assert broken_scripts(env) == [f"too-long -> {too_long[:510]}"]


# ---------------------------------------------------------------------------------------------
# build_verify_promote: the real pipeline, without TensorFlow (verify=False, or a gate that refuses)

def _plan(lock: Path, env: Dict[str, str]) -> Tuple[Plan, Any]:
    facts = host_fixture("linux-x86_64-avx")
    chosen = plan(facts, load_recipes(), PlanRequest(python_downloads="never"))
    me = PythonInfo(sys.executable, platform.python_version(), archs=[platform.machine()], source="other")
    chosen = replace(chosen, python=me, launch=[sys.executable],
                     recipe=replace(chosen.recipe, env=env), lock=replace(chosen.lock, path=str(lock)))
    return chosen, facts


def _wheelhouse(tmp_path: Path) -> Tuple[Path, Path]:
    house = tmp_path / "house"
    wheel = build_wheel(house, PKG, PKG_VERSION, files={"tfsetup_unit_pkg.py": b"VALUE = 42\n"},
                        scripts={"unit-pkg-tool": "tfsetup_unit_pkg:main"})
    lock = tmp_path / "lock.txt"
    lock.write_text(lock_line(wheel, name=PKG, version=PKG_VERSION) + "\n")
    return house, lock


def _site(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def test_a_build_installs_the_lock_writes_the_record_and_promotes(tmp_path, isolated_state):
    house, lock = _wheelhouse(tmp_path)
    chosen, facts = _plan(lock, {"TF_USE_LEGACY_KERAS": "1"})
    work = tmp_path / "work"
    work.mkdir()
    target = work / "env"
    events: List[str] = []
    stages = Stages(lambda name, event: events.append(f"{name} {event}"))
    added: List[List[str]] = []

    def record(verification: Optional[VerifyResult]) -> Dict[str, Any]:
        return build_record(chosen, facts, "uv", "digest", lock.name, verification, "2026-01-01T00:00:00+00:00")

    def refuse(why: str, verification: VerifyResult) -> Exception:
        return AssertionError(f"verify=False never reaches the gate: {why}")

    with Transaction(target) as txn:
        verification, written = build_verify_promote(
            txn, chosen, facts, get_backend("uv"), PackageSource(find_links=[str(house)], offline=True), stages,
            record, refuse, lock_path=lock, verify=False, add_packages=added.append)
    assert verification is None
    assert written["recipe"] == chosen.recipe.id and written["verification"] is None
    assert read_record(target) == written  # the record went into the env before the rename
    assert (_site(target) / "tfsetup_unit_pkg.py").read_text() == "VALUE = 42\n"  # the lock was installed
    assert (_site(target) / "_tfsetup_env.pth").read_text().startswith("import os; os.environ.setdefault(")
    assert len(added) == 1 and added[0][-1].startswith(str(work))  # the staged env's python
    assert events == ["venv start", "venv done", "install start", "install done", "promote start", "promote done"]
    assert set(stages.timings) == {"venv", "install", "promote"}
    assert sorted(os.listdir(work)) == ["env"]  # no stage left beside it


def test_a_refused_build_raises_the_callers_error_and_leaves_the_old_env(tmp_path, isolated_state):
    house, lock = _wheelhouse(tmp_path)
    chosen, facts = _plan(lock, {})
    work = tmp_path / "work"
    target = _tfsetup_env(work / "env")
    before = (target / "tfsetup-env.json").read_bytes()
    seen: List[Tuple[str, bool]] = []

    class Refused(Exception):
        pass

    def refuse(why: str, verification: VerifyResult) -> Exception:
        seen.append((why, verification.ok))
        return Refused(why)

    with pytest.raises(Refused):
        with Transaction(target) as txn:
            build_verify_promote(txn, chosen, facts, get_backend("uv"),
                                 PackageSource(find_links=[str(house)], offline=True), Stages(lambda n, e: None),
                                 lambda v: {"never": "written"}, refuse, lock_path=lock,
                                 planned_from=read_record(target))
    assert len(seen) == 1 and seen[0][1] is False and "tf-import" in seen[0][0]  # no TensorFlow in it
    assert (target / "tfsetup-env.json").read_bytes() == before and sorted(os.listdir(work)) == ["env"]
