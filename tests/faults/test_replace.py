"""Issue 20 class 5: user data and concurrent changes survive every replace. One replace step (build.py
build_verify_promote + Transaction.promote's check) for upgrade and doctor's rebuild: the foreign-files
check of `install --force`, the record re-read under the lock; and nothing written in place into a file
a repair's hard-link backup shares."""
from __future__ import annotations

import json
from pathlib import Path

from tests.faults import harness as h
from tests.faults.test_doctor_faults import bare_env, doctor, uv_offline
from tests.e2e.helpers import env_record, installed_versions
from tests.faults.test_lifecycle import stack, tfsetup, verified_env  # noqa: F401 (fixtures)


def _env20(stack, work) -> Path:  # noqa: F811
    env = work / "env"
    proc = h.run(*stack.install_args(env, "--tf", "2.20"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    return env


def test_upgrade_never_deletes_a_user_file_in_the_env(stack, work):  # noqa: F811
    env = _env20(stack, work)
    (env / "notebooks").mkdir()
    (env / "notebooks" / "analysis.ipynb").write_text('{"cells": []}\n')
    before = h.manifest(env)
    proc = tfsetup(stack, "upgrade", str(env), "--yes", "--json", "--recipes-file", str(stack.table), cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert "notebooks" in json.loads(proc.stdout)["error"]
    h.error_line(proc.stderr)
    assert h.manifest(env) == before and h.leftovers(work) == []


def test_upgrade_racing_add_never_loses_the_added_package(stack, work, tmp_path):  # noqa: F811
    """upgrade plans (reads the record), then `add` runs to its end before upgrade takes the lock (held there
    by TFSETUP_TEST_PAUSE); upgrade must not swap in an env without the added package."""
    env = _env20(stack, work)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    up = h.start("upgrade", str(env), "--yes", "--json", "--recipes-file", str(stack.table), cwd=work,
                 env=dict(stack.env(), TFSETUP_TEST_PAUSE="upgrade-planned", TFSETUP_TEST_PAUSE_DIR=str(ctl)))
    try:
        h.wait_for_file(ctl / "ready", watch=up)
        added = tfsetup(stack, "add", "tabulate", "--env", str(env), cwd=work)
        assert added.returncode == 0, added.stderr
    finally:
        (ctl / "release").touch()
    code = up.finish(180)
    assert installed_versions(env).get("tabulate") == "0.9.0" and env_record(env)["user_packages"] == {"tabulate": "0.9.0"}
    assert code == 4, up.stderr
    assert "changed by another tfsetup" in json.loads(up.stdout)["error"]
    again = tfsetup(stack, "upgrade", str(env), "--yes", "--json", "--recipes-file", str(stack.table), cwd=work)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["carried"] == {"tabulate": {"from": "0.9.0", "to": "0.9.0"}}
    assert installed_versions(env).get("tabulate") == "0.9.0" and h.leftovers(work) == []


def test_a_failed_repair_restores_activate_exactly_each_time(fake, work):
    """The recipe sets a variable (exported by bin/activate): the repair writes activate anew and renames it,
    never appends in place, so the restored env's activate is the one it had, after any number of tries."""
    table = fake.table.read_text().replace('summary =', 'env = {TF_USE_LEGACY_KERAS = "1"}\nsummary =')
    recipes = work.parent / "recipes with env" / "recipes.toml"
    recipes.parent.mkdir()
    recipes.write_text(table)
    (recipes.parent / "locks").symlink_to(fake.table.parent / "locks")
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    args = doctor(fake, env_dir)
    args[args.index("--recipes-file") + 1] = str(recipes)
    for _ in range(2):
        proc = h.run(*args, env=uv_offline(fake), cwd=work)
        assert proc.returncode == 4 and json.loads(proc.stdout)["restored"] is True, proc.stdout + proc.stderr
        assert h.manifest(env_dir) == before, (env_dir / "bin" / "activate").read_text()[-300:]
    assert sorted(p.name for p in work.iterdir()) == ["my env"]
