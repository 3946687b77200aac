"""What a replace drops or changes: one answer (record.replace_changes) for install --force, upgrade and
doctor's rebuild (issue 18, item 6). The commands themselves: tests/faults/test_lifecycle.py."""
from __future__ import annotations

from tfsetup.env.facts import EnvFacts
from tfsetup.doctor.repair import plan_repair
from tfsetup.doctor.rules import diagnose
from tfsetup.env.record import NOT_CARRIED_BY_INSTALL, replace_changes

from tests.conftest import host_fixture
from tests.unit.test_doctor_rules import _table_with_locks, d, mac_stack

RECORD = {"recipe": "r", "python": {"version": "3.12.4"}, "lock": {"pins": {"numpy": "2.1.3"}},
          "user_packages": {"pandas": "2.2.3", "numpy": "2.1.3"}}


def test_install_drops_every_added_package_and_says_the_python_moves():
    changes = replace_changes(RECORD, "3.13.1", {"numpy": "2.2.6"}, added={"tabulate": "0.9.0"})
    assert [(x.name, x.version, x.reason) for x in changes.dropped] == [
        ("pandas", "2.2.3", NOT_CARRIED_BY_INSTALL), ("tabulate", "0.9.0", NOT_CARRIED_BY_INSTALL)]
    assert changes.python_changes and changes.lines() == [
        f"your added packages pandas 2.2.3, tabulate 0.9.0 will not be carried over ({NOT_CARRIED_BY_INSTALL})",
        "the env's Python changes: 3.12.4 -> 3.13.1"]
    doc = changes.to_json()
    assert doc["python"] == {"from": "3.12.4", "to": "3.13.1", "changes": True}
    assert [x["package"] for x in doc["dropped"]] == ["pandas", "tabulate"]


def test_what_is_carried_or_locked_is_not_dropped_and_each_gets_its_own_reason():
    changes = replace_changes(RECORD, "3.12.4", {"numpy": "2.1.3"}, added={"tabulate": "0.9.0", "oldlib": "1.0"},
                              carried=["pandas", "tabulate"], reasons={"oldlib": "requires numpy<2"})
    assert [(x.name, x.reason) for x in changes.dropped] == [("oldlib", "requires numpy<2")]
    assert not changes.python_changes and changes.lines() == [
        "your added packages oldlib 1.0 will not be carried over (requires numpy<2)"]
    nothing = replace_changes(None, "3.12.4", {}, python_now="3.12.4")
    assert not nothing.anything and nothing.lines() == [] and nothing.to_json()["python"]["changes"] is False
    broken = replace_changes(None, "3.12.4", {}, unlisted="its python does not run")
    assert broken.anything and "could not be listed (its python does not run)" in broken.lines()[0]


def test_doctor_rebuild_says_the_python_change_and_carries_the_users_packages(tmp_path):
    pins = {"tensorflow": "2.19.1", "tensorflow-metal": "1.2.0", "numpy": "2.1.3", "keras": "3.10.0"}
    table = _table_with_locks(tmp_path, {"macos-arm64-metal-tf2.19/py3.12.txt": pins})
    env = mac_stack(tf="2.16.2", metal=None, machine="x86_64", arm64_capable=False,
                    tags=("cp311-cp311-macosx_10_15_x86_64",))
    env = EnvFacts(**{**env.__dict__, "distributions": {**env.distributions,
                                                       "pandas": d("pandas", "2.2.3", ("numpy>=1.23.2",))}})
    host = host_fixture("m1-rosetta-universal2")
    rp = plan_repair(diagnose(env, host, table), env, host, table, engine="uv", uv="/bin/uv")
    rebuild = rp.actions[0]
    assert rebuild.kind == "rebuild"
    assert rebuild.replace is not None and rebuild.to_json()["replace"] == rebuild.replace
    assert rebuild.replace["python"] == {"from": "3.11.9", "to": "3.12.7", "changes": True}
    assert rebuild.replace["dropped"] == []  # pandas is reinstalled (the next action)
    assert rebuild.summary.endswith("; the env's Python changes: 3.11.9 -> 3.12.7")
