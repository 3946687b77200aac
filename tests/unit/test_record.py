"""record.py: the env record is written atomically, read defensively, and says what the env holds."""
from __future__ import annotations

import json

from tfsetup.env.record import RECORD_FILE, describe, is_verified, read_record, user_packages, verification_state, with_user_packages, write_record


def test_write_then_read_round_trips_and_leaves_no_temporary(tmp_path):
    record = {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21", "distribution": "tensorflow-cpu",
              "packages": {"tensorflow-cpu": "2.21.0"}, "verification": {"ok": True, "checks": []}}
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECORD_FILE]
    assert describe(record) == "linux-x86_64-cpu-tf2.21 (tensorflow-cpu 2.21.0)"


def test_unreadable_records_are_none_never_an_error(tmp_path):
    assert read_record(tmp_path) is None
    (tmp_path / RECORD_FILE).write_text("{not json")
    assert read_record(tmp_path) is None
    (tmp_path / RECORD_FILE).write_text(json.dumps([1, 2]))
    assert read_record(tmp_path) is None
    (tmp_path / RECORD_FILE).write_text("[" * 100_000 + "]" * 100_000)
    assert read_record(tmp_path) is None
    (tmp_path / RECORD_FILE).unlink()
    (tmp_path / RECORD_FILE).symlink_to("/dev/zero")
    assert read_record(tmp_path) is None


def test_verification_states():
    assert verification_state({"verification": {"ok": True}}) == "ok" and is_verified({"verification": {"ok": True}})
    assert verification_state({"verification": {"ok": False}}) == "failed"
    assert verification_state({"verification": None}) == "not-verified" and not is_verified({"verification": None})
    assert verification_state(None) == "not-verified" and not is_verified(None)


def test_user_packages_merge_or_replace():
    record = {"user_packages": {"pandas": "2.2.3"}}
    assert user_packages(with_user_packages(record, {"tabulate": "0.9.0"})) == {"pandas": "2.2.3", "tabulate": "0.9.0"}
    assert user_packages(with_user_packages(record, {"tabulate": "0.9.0"}, replace=True)) == {"tabulate": "0.9.0"}
    assert user_packages({"user_packages": ["not", "a", "dict"]}) == {}


def test_add_upgrade_and_remove_change_only_envs_with_a_record(tmp_path):
    """tfsetup_env (add, upgrade, list/remove): a venv without tfsetup-env.json is not tfsetup's (exit 2,
    naming the missing file); the same venv with a record is accepted, record and all."""
    import os
    import sys

    import pytest

    from tfsetup.envs import tfsetup_env
    from tfsetup.errors import TfsetupError

    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.symlink(sys.executable, env / "bin" / "python")
    with pytest.raises(TfsetupError) as caught:
        tfsetup_env(env)
    assert caught.value.exit_code == 2 and caught.value.message == f"{env} is not an env tfsetup made " \
        "(no tfsetup-env.json)"
    record = {"schema": 1, "recipe": "r"}
    write_record(env, record)
    opened = tfsetup_env(env)
    assert (opened.path, opened.record) == (env, record)
    (env / "pyvenv.cfg").unlink()  # a record alone is not enough either
    with pytest.raises(TfsetupError, match=r"no pyvenv\.cfg"):
        tfsetup_env(env)


def test_describe_a_damaged_record_names_what_it_can_and_never_raises():
    """A record whose `packages` is not a table (hand-edited, or another tool's file) still describes:
    remove's question and list's lines must not crash on it (a survivor of the mutation run)."""
    assert describe({"recipe": "linux-x86_64-cpu-tf2.21", "packages": ["tensorflow-cpu"]}) == "linux-x86_64-cpu-tf2.21"
    assert describe({"recipe": "r", "packages": "x", "distribution": "tensorflow"}) == "r"
    assert describe({"packages": {"tensorflow": "2.21.0"}}) == ""
    assert describe(None) == ""
