"""A native CPython on demand (issue 21): the pure planner lets a uv-managed CPython compete with the
host's Pythons. Macs people have in late 2026, as host-facts fixtures: each reaches Metal on a managed
3.10-3.12; a Mac with a fine arm64 Python downloads nothing; `never` is the planner as it was
(test_plan_matrix.py asserts those outputs fixture by fixture)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tfsetup.errors import EXIT_BAD_INPUT
from tfsetup.plan import PlanError, PlanRequest, plan
from tfsetup.pythons import eol_month, is_eol, managed_key

from tests.conftest import FIXTURES, host_fixture

# The four Macs of issue 21's table, plus one with no Python at all.
FRESH_MACS = ["m4-homebrew-python314-only", "m3-python314-only", "m3-max-homebrew-python313", "m2-python313-only",
              "m1-rosetta-x86-conda-only", "m1-xcode-python39-only", "m2-no-python"]


@pytest.mark.parametrize("name", FRESH_MACS)
def test_a_fresh_mac_gets_metal_on_a_managed_native_python(name, table):
    chosen = plan(host_fixture(name), table, PlanRequest())
    doc = chosen.to_json()
    assert doc["accelerator"] == "metal" and doc["recipe"] == "macos-arm64-metal-tf2.19"
    python = doc["python"]
    assert python["source"] == "managed"
    assert python["version"] in ("3.10", "3.11", "3.12") and python["version"] == "3.12"  # the newest that fits
    assert python["archs"] == ["arm64"]
    # the arch is named: uv under Rosetta is an x86_64 process and would otherwise fetch an x86_64 build
    assert python["uv_request"] == "cpython-3.12-macos-aarch64-none"
    assert python["executable"] is None and python["launch"] == []  # known once uv has installed it
    assert doc["lock"]["path"] == "locks/macos-arm64-metal-tf2.19/py3.12.txt"
    assert python["passed_over"], "the host's Pythons are named with the reason they were not used"
    assert not any("install an arm64 Python" in w for w in doc["warnings"])


def test_rosetta_host_asks_uv_for_the_aarch64_build(table):
    facts = host_fixture("m1-rosetta-x86-conda-only")
    assert facts.rosetta and facts.machine == "arm64"
    chosen = plan(facts, table, PlanRequest())
    assert chosen.managed is not None and chosen.managed.key == "cpython-3.12-macos-aarch64-none"
    assert chosen.to_json()["python"]["passed_over"] == [
        "/Users/dev/anaconda3/bin/python (3.11.5): x86_64 only; this macOS host is arm64"]


def test_passed_over_says_why_each_host_python_was_not_used(table):
    xcode = plan(host_fixture("m1-xcode-python39-only"), table, PlanRequest())
    assert xcode.passed_over == ["/usr/bin/python3 (3.9.6): Python 3.9 reached end of life in October 2025; "
                                 "its lock cannot take urllib3 2.7+ / keras 3.11+"]
    assert not any("urllib3 2.6.3" in w for w in xcode.warnings)  # the 3.12 lock has moved past the advisories
    brew = plan(host_fixture("m3-max-homebrew-python313"), table, PlanRequest())
    assert brew.passed_over == [
        "the host's Pythons reach only macos-arm64-cpu-tf2.21 (CPU-only, /opt/homebrew/bin/python3.13 3.13.9)",
        "/opt/homebrew/bin/python3.13 (3.13.9): Python 3.13 is not supported (needs 3.9–3.12)"]
    none = plan(host_fixture("m2-no-python"), table, PlanRequest())
    assert none.passed_over == ["no Python interpreter was found on this host"]


@pytest.mark.parametrize("name,executable", [
    ("m2-homebrew-python311", "/opt/homebrew/bin/python3.11"),
    ("m3-pro-uv-311", "/Users/dev/.local/share/uv/python/cpython-3.11.10-macos-aarch64-none/bin/python3"),
    ("m1-native-homebrew", "/opt/homebrew/bin/python3.12"),
    ("m4-max-two-homebrews", "/opt/homebrew/bin/python3.12"),
])
def test_a_mac_with_a_fine_arm64_python_downloads_nothing(name, executable, table):
    chosen = plan(host_fixture(name), table, PlanRequest())
    assert chosen.managed is None and chosen.python.executable == executable
    assert chosen.recipe.accelerator == "metal"
    assert chosen.to_json()["python"]["source"] in ("homebrew", "uv")


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "hosts").glob("*.json")))
def test_auto_differs_from_never_only_by_a_download(name, table):
    """Where the plan keeps a host Python, it is the recipe and interpreter `never` gives (only the
    "not chosen" list differs: rows a download could reach are no longer rejected); where `never`
    finds nothing, auto's plan is a managed Python."""
    facts = host_fixture(name)
    try:
        auto = plan(facts, table, PlanRequest())
    except PlanError:
        auto = None
    try:
        never = plan(facts, table, PlanRequest(python_downloads="never"))
    except PlanError:
        never = None
    if auto is not None and auto.managed is None:
        assert never is not None
        assert (auto.recipe, auto.python, auto.launch, auto.lock) == (never.recipe, never.python, never.launch,
                                                                      never.lock)
    if never is None and auto is not None:
        assert auto.managed is not None
    assert never is not None or auto is not None or facts.os == "windows" or name in (
        "linux-x86_64-no-avx", "linux-free-threaded-only")  # no AVX: no download helps


def test_never_keeps_the_exit_3_and_the_cpu_only_plan(table):
    never = PlanRequest(python_downloads="never")
    with pytest.raises(PlanError) as caught:
        plan(host_fixture("m1-rosetta-x86-conda-only"), table, never)
    assert "install an arm64 Python 3.12" in (caught.value.fix or "")
    cpu = plan(host_fixture("m3-max-homebrew-python313"), table, never)
    assert cpu.recipe.id == "macos-arm64-cpu-tf2.21" and cpu.managed is None


def test_explicit_python_is_a_host_one_when_there_is_one_else_managed(table):
    xcode = host_fixture("m1-xcode-python39-only")
    asked39 = plan(xcode, table, PlanRequest(python="3.9"))  # asked by name: the host's, end of life or not
    assert asked39.python.executable == "/usr/bin/python3" and asked39.managed is None
    asked11 = plan(xcode, table, PlanRequest(python="3.11"))
    assert asked11.managed is not None and asked11.managed.key == "cpython-3.11-macos-aarch64-none"
    assert asked11.lock.path.endswith("py3.11.txt")
    asked10 = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(python="3.10"))  # past EOL, but asked
    assert asked10.managed is not None and asked10.python.minor == "3.10"
    host12 = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(python="3.12"))
    assert host12.managed is None and host12.python.executable == "/opt/homebrew/bin/python3.12"


def test_end_of_life_is_judged_on_the_plans_date(table):
    before = PlanRequest(today="2025-10-31")  # 3.9's last month: still supported
    assert plan(host_fixture("m1-xcode-python39-only"), table, before).python.executable == "/usr/bin/python3"
    assert plan(host_fixture("m1-xcode-python39-only"), table, PlanRequest(today="2025-11-01")).managed is not None
    # macOS 11: only tensorflow-macos 2.9 fits (3.8-3.10, all past end of life): the host's 3.10 stays,
    # since nothing newer could be downloaded for it
    big_sur = plan(host_fixture("m1-big-sur"), table, PlanRequest())
    assert big_sur.managed is None and big_sur.python.minor == "3.10"


def test_managed_python_flag_prefers_uv_even_with_a_fine_host_python(table):
    chosen = plan(host_fixture("m1-native-homebrew"), table, PlanRequest(managed_python=True))
    assert chosen.managed is not None and chosen.managed.key == "cpython-3.12-macos-aarch64-none"
    assert "/opt/homebrew/bin/python3.12 (3.12.4): --managed-python asks for a uv-managed Python" in chosen.passed_over


def test_linux_hosts_get_a_glibc_build_of_their_arch(table):
    chosen = plan(host_fixture("linux-x86_64-python39-only"), table, PlanRequest())
    assert chosen.recipe.id == "linux-x86_64-cpu-tf2.21"  # the default, not 2.20 on an end-of-life 3.9
    assert chosen.managed is not None and chosen.managed.key == "cpython-3.13-linux-x86_64-gnu"
    graviton = replace(host_fixture("linux-aarch64-graviton"), pythons=[])
    assert plan(graviton, table, PlanRequest()).managed.key == "cpython-3.13-linux-aarch64-gnu"


def test_no_managed_build_where_tfsetup_does_not_offer_one(table):
    assert managed_key("windows", "x86_64", "3.12", None) is None
    assert managed_key("linux", "x86_64", "3.12", None) is None  # musl (or unknown libc): TF wheels need glibc
    with pytest.raises(PlanError):
        plan(replace(host_fixture("windows-cpu"), pythons=[]), table, PlanRequest())


def test_python_downloads_must_be_auto_or_never(table):
    with pytest.raises(PlanError) as caught:
        plan(host_fixture("m2-no-python"), table, PlanRequest(python_downloads="always"))
    assert caught.value.exit_code == EXIT_BAD_INPUT


def test_end_of_life_data():
    assert eol_month("3.9") == "October 2025" and eol_month("3.99") is None
    assert is_eol("3.9", "2026-12-07") and is_eol("3.10", "2026-11-01") and not is_eol("3.10", "2026-10-31")
    assert not is_eol("3.11", "2026-12-07") and not is_eol("3.99", "2026-12-07")
