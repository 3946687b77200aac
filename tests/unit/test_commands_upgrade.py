"""commands/upgrade.py: `tfsetup upgrade` plans first (nothing changes), says when the env is up to date
(exit 0), asks before replacing it (a no: exit 1, the env untouched; no terminal and no --yes: exit 2).
The swap itself: tests/faults/test_lifecycle.py."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from tfsetup.commands import upgrade
from tfsetup.env.record import read_record
from tfsetup.envs.upgrade import choose_plan
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.host.detect import detect_host
from tfsetup.recipes import load_recipes

from tests.unit.helpers import live_env
from tests.unit.test_commands import FakeTerminal

POSIX = pytest.mark.skipif(os.name == "nt", reason="a POSIX venv layout")


def run(path: Path, yes: bool = False, terminal: Any = None,
        shown: Optional[List[Any]] = None) -> upgrade.UpgradeOutcome:
    return upgrade.run(path, None, None, yes, lambda line: None, lambda stage, event: None,
                       show=(shown.append if shown is not None else None),
                       terminal=terminal or FakeTerminal(tty=False))


def refused(call, says: str) -> TfsetupError:
    with pytest.raises(TfsetupError) as caught:
        call()
    assert caught.value.exit_code == EXIT_BAD_INPUT and says in caught.value.message, caught.value.render()
    return caught.value


def test_a_bad_path_or_an_env_tfsetup_did_not_make_is_refused_before_any_work(isolated_state):
    refused(lambda: run(Path("-env")), "starts with '-'")
    plain = isolated_state / "plain"
    plain.mkdir()
    error = refused(lambda: run(plain), "is not an env tfsetup made")
    assert error.fix


@POSIX
def test_an_env_that_follows_a_project_lock_is_upgraded_through_the_project(isolated_state):
    env = live_env(isolated_state / "env", {"schema": 1, "recipe": "r", "project": {"lock": "tfsetup.lock"}})
    error = refused(lambda: run(env, yes=True), "follows the project's tfsetup.lock")
    assert "`tfsetup lock`" in error.fix


@POSIX
def test_an_env_on_the_newest_recipe_and_lock_is_up_to_date_and_exits_0(isolated_state):
    record: Dict[str, Any] = {"schema": 1}
    chosen = choose_plan(record, detect_host(), load_recipes(None), None)
    record.update(recipe=chosen.recipe.id, lock={"digest": chosen.lock.digest})
    env = live_env(isolated_state / "env", record)
    shown: List[Any] = []
    outcome = run(env, shown=shown)  # no terminal, no --yes: nothing to ask
    assert outcome.exit_code == 0 and [p.up_to_date for p in shown] == [True]
    doc = outcome.to_json()
    assert (doc["up_to_date"], doc["upgraded"], doc["declined"]) == (True, False, False)


@POSIX
def test_an_older_env_needs_a_yes_and_a_no_leaves_it_as_it_was(isolated_state):
    env = live_env(isolated_state / "env", {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.15"})
    error = refused(lambda: run(env), "needs confirmation, and stdin is not a terminal")
    assert error.fix == "pass --yes to upgrade without asking"
    terminal = FakeTerminal(tty=True, answer=False)
    outcome = run(env, terminal=terminal)
    assert outcome.exit_code == 1 and outcome.to_json()["declined"] is True
    assert len(terminal.asked) == 1 and terminal.asked[0].startswith(f"Upgrade {env} to ")
    assert read_record(env) == {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.15"}
