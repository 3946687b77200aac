"""fleet.py: `tfsetup report`'s document, one per machine: the envs given and the registered ones (each
once), each with its status, what its record says and doctor's findings; a broken or missing env is an
entry, never an error."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfsetup import __version__
from tfsetup.env.record import write_record
from tfsetup.env.registry import register_env
from tfsetup.fleet import REPORT_SCHEMA, build_report, env_entry
from tfsetup.recipes import load_recipes

from tests.conftest import host_fixture
from tests.unit.helpers import live_env

HOST = host_fixture("linux-x86_64-avx")
POSIX = pytest.mark.skipif(os.name == "nt", reason="a POSIX venv layout")


@pytest.fixture(scope="module")
def table():
    return load_recipes(None)


def broken_env(path: Path) -> Path:
    """A venv whose python is gone, with the record of a verification that timed out and two repairs."""
    path.mkdir()
    (path / "pyvenv.cfg").write_text("home = /nowhere/bin\n")
    write_record(path, {"schema": 1, "recipe": "r", "repairs": [{}, {}], "created_at": "2026-01-01T00:00:00Z",
                        "verification": {"ok": False, "timed_out": True}, "verified_at": "2026-01-02T00:00:00Z"})
    return path


def test_a_missing_env_is_an_entry_saying_so(tmp_path, table):
    assert env_entry(tmp_path / "gone", HOST, table, registered=True) == {
        "path": str(tmp_path / "gone"), "exists": False, "venv": False, "registered": True,
        "status": "missing", "status_reason": None}


def test_an_env_whose_python_is_gone_is_broken_with_the_reason_and_its_record(tmp_path, table):
    entry = env_entry(broken_env(tmp_path / "env"), HOST, table)
    assert entry["status"] == "broken" and "has no python" in entry["status_reason"]
    assert entry["error"] == entry["status_reason"] and entry["findings"] == [] and "tensorflow" not in entry
    assert (entry["recipe"], entry["repairs"], entry["installed_at"]) == ("r", 2, "2026-01-01T00:00:00Z")
    assert entry["last_verification"] == {"ok": False, "timed_out": True, "at": "2026-01-02T00:00:00Z"}


@POSIX
def test_a_live_env_carries_its_findings_and_its_tensorflow(tmp_path, table):
    env = live_env(tmp_path / "env", {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21", "verification": {"ok": True},
                                      "user_packages": {"pandas": "2.2.3"}})
    entry = env_entry(env, HOST, table)
    assert (entry["status"], entry["venv"], entry["tensorflow"]) == ("ok", True, {})
    assert entry["user_packages"] == {"pandas": "2.2.3"} and entry["repairs"] == 0 and "error" not in entry
    assert [f["id"] for f in entry["findings"]] == ["tensorflow-missing"]


@POSIX
def test_the_report_lists_each_env_once_with_the_registered_ones_and_sums_them_up(isolated_state, table):
    work = Path(os.path.realpath(isolated_state))  # the registry keeps resolved paths (macOS: /var is a link)
    registered = live_env(work / "registered", {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21"})
    register_env(registered)
    broken = broken_env(work / "broken")
    given = [broken, Path(f"{broken}/."), work / "gone", registered]
    report = build_report(given, HOST, table, "2026-12-07T12:00:00Z")
    assert (report["schema"], report["generated_at"], report["tfsetup_version"]) == (
        REPORT_SCHEMA, "2026-12-07T12:00:00Z", __version__)
    assert report["host"] == HOST.to_json()
    assert [(e["path"], e["registered"]) for e in report["envs"]] == [
        (str(broken), False), (str(work / "gone"), False), (str(registered), True)]
    assert report["summary"] == {"envs": 3, "missing": 1, "not_verified": 1, "errors": 0}
