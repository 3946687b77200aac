"""Hints a newcomer acts on (issue 14 item 8): each names what is nearest, true on this host, and the next step."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tfsetup.backends.base import PackageSource
from tfsetup.doctor.explain import explain, with_host
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE
from tfsetup.backends.hints import backend_fix, lock_fix
from tfsetup.plan import PlanError, PlanRequest, plan
from tfsetup.recipes import load_recipes
from tfsetup.verify import parse_events

from tests.conftest import host_fixture

LINUX = host_fixture("linux-x86_64-avx")
TABLE = load_recipes()


def refusal(facts, request) -> PlanError:
    with pytest.raises(PlanError) as caught:
        plan(facts, TABLE, request)
    return caught.value


def test_nearest_tf_is_the_closest_working_minor_on_each_side():
    err = refusal(LINUX, PlanRequest(tf="2.16"))
    assert err.exit_code == EXIT_NO_RECIPE
    # 2.15 is one minor away, 2.19 three: both offered, nearer first; never the table's default 2.21
    assert err.fix.startswith("nearest working choice: --tf 2.15 (linux-x86_64-cpu-tf2.15: TensorFlow 2.15.1, ")
    assert " or --tf 2.19 (linux-x86_64-cpu-tf2.19: TensorFlow 2.19.1, " in err.fix
    assert "--tf 2.21" not in err.fix


def test_unknown_tf_lists_only_versions_this_host_has_recipes_for():
    err = refusal(LINUX, PlanRequest(tf="2.99"))
    assert err.exit_code == EXIT_BAD_INPUT
    assert err.message.startswith("no recipe for TensorFlow 2.99; the recipes that fit this host have 2.21, ")
    listed = err.message.split(" have ", 1)[1]
    assert "2.16" not in listed and "2.9" not in listed  # Intel-Mac / macOS 11 rows: not for this Linux host
    assert "2.18" not in listed  # CUDA only, and this host has no NVIDIA GPU
    assert err.fix == "pass one of those with --tf, or leave --tf out for this host's default"


def test_python_3_alone_asks_for_a_minor_version():
    err = refusal(LINUX, PlanRequest(python="3"))
    assert err.message == "--python takes a minor version like 3.12, not 3"
    assert "needs Python 3" not in err.message
    assert refusal(LINUX, PlanRequest(python="2.7")).message.startswith("Python 2.7 is not supported")


@pytest.mark.parametrize("message", [
    # uv 0.5+: the cache holds the index pages but not a wheel
    "Network connectivity is disabled, but the requested data wasn't found in the cache for: "
    "`https://files.pythonhosted.org/packages/x/tensorflow_cpu-2.21.0-cp311-none-any.whl`",
    "error: No solution found when resolving dependencies: Because absl-py was not found in the cache",
    "Failed to fetch: `https://pypi.org/simple/absl-py/` (offline)",
])
def test_offline_with_nothing_cached_is_never_an_unreachable_index(message):
    fix = backend_fix(message, PackageSource(offline=True))
    assert fix is not None and fix.startswith("offline, and the wheels are not in the local cache")
    assert "could not be reached" not in fix
    online = backend_fix("Failed to connect to pypi.org", PackageSource())
    assert online is not None and "could not be reached" in online


def test_a_timed_out_probe_is_marked_as_such():
    result = parse_events('{"event": "start", "id": "tf-import"}\n', -9, "", timed_out=True)
    assert result.timed_out and result.check("tf-import").message == "timed out"
    crashed = parse_events('{"event": "start", "id": "tf-import"}\n', -4, "")
    assert not crashed.timed_out and crashed.to_json()["timed_out"] is False


LINUX_SIGILL = "Illegal instruction (core dumped)\n"


def test_sigill_on_a_host_with_avx_points_elsewhere():
    findings = explain(LINUX_SIGILL)
    assert "probably lacks AVX" in findings[0].message  # not knowing the host: the likely cause
    here = with_host(findings, LINUX_SIGILL, LINUX)
    assert here[0].id == "illegal-instruction"
    assert "This machine's CPU has AVX (avx, avx2" in here[0].message
    assert "lacks AVX" not in here[0].message and "faulthandler" in here[0].fix
    no_avx = host_fixture("linux-x86_64-no-avx")
    assert with_host(findings, LINUX_SIGILL, no_avx) == findings  # the CPU may well be the cause
    mac_log = "zsh: illegal hardware instruction  python -c 'import tensorflow'\n"
    assert with_host(explain(mac_log), mac_log, LINUX) == explain(mac_log)
    assert with_host(findings, LINUX_SIGILL, replace(LINUX, os="macos")) == findings


def test_a_kept_in_place_repair_leaves_no_backup_and_names_none(tmp_path, isolated_state):
    """doctor --fix's in-place path: the backup is deleted on success, so no line may point at it."""
    from tfsetup.txn import Transaction

    target = tmp_path / "env"
    (target / "bin").mkdir(parents=True)
    (target / "pyvenv.cfg").write_text("home = /usr/bin\n")
    said = []
    with Transaction(target, said.append) as txn:
        backup = txn.backup()
        assert backup.is_dir()
        (target / "bin" / "new").write_text("repaired\n")
        txn.keep()
    assert not backup.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "state"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["env"]
    assert not any("backup:" in line or str(backup) in line for line in said)


def test_a_lock_section_uv_cannot_resolve_names_the_config_or_the_extra_packages():
    unreachable = "error: Failed to fetch: `https://pypi.org/simple/numpy/`\n  Caused by: dns error: failed to lookup"
    assert "index URLs in tfsetup.toml" in lock_fix(unreachable, "tfsetup.toml")
    assert "extra packages" in lock_fix("No solution found when resolving dependencies", "tfsetup.toml")
