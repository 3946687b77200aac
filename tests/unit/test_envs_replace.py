"""envs/replace.py: what replacing an env drops and changes, from the env as it is (its probe) or, when
its Python no longer runs, from its record, saying so."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

from tfsetup.env.facts import Distribution, EnvFacts
from tfsetup.env.record import NOT_CARRIED_BY_INSTALL, write_record
from tfsetup.envs.replace import changes_of_replacing, hand_installed

RECORD = {"schema": 1, "recipe": "r", "python": {"version": "3.11.7"}, "lock": {"pins": {"numpy": "2.1.3"}},
          "user_packages": {"pandas": "2.2.3"}}


def facts(*dists: Distribution) -> EnvFacts:
    return EnvFacts(path="/env", python="/env/bin/python", version="3.11.7",
                    distributions={d.key: d for d in dists})


def test_hand_installed_is_the_top_level_packages_outside_the_exclusions():
    env = facts(Distribution("Requests", "2.32.3", ("urllib3>=1.21",)), Distribution("urllib3", "2.2.3"),
                Distribution("numpy", "2.1.3"), Distribution("Rich", "13.9.4"))
    assert hand_installed(env, ["numpy"]) == {"requests": "2.32.3", "rich": "13.9.4"}  # urllib3: required
    assert hand_installed(env, ["numpy", "rich", "requests"]) == {}


def test_nothing_to_replace_is_none(tmp_path):
    assert changes_of_replacing(tmp_path / "missing", "3.12.4", {}) is None
    (tmp_path / "plain").mkdir()
    assert changes_of_replacing(tmp_path / "plain", "3.12.4", {}) is None  # not a venv


def test_an_env_whose_python_is_gone_is_answered_from_its_record(tmp_path):
    env = tmp_path / "env"
    env.mkdir()
    (env / "pyvenv.cfg").write_text(f"home = {tmp_path / 'gone' / 'bin'}\nversion = 3.11.7\n")
    write_record(env, RECORD)
    changes = changes_of_replacing(env, "3.12.4", {"numpy": "2.2.6"})
    assert changes is not None and changes.unknown  # the reason the packages could not be listed
    assert [(d.name, d.version, d.reason) for d in changes.dropped] == [("pandas", "2.2.3", NOT_CARRIED_BY_INSTALL)]
    assert (changes.python_from, changes.python_to, changes.python_changes) == ("3.11.7", "3.12.4", True)
    assert any("could not be listed" in line for line in changes.lines())


@pytest.mark.skipif(os.name == "nt" or platform.python_implementation() != "CPython", reason="a POSIX venv")
def test_a_live_env_is_probed_its_hand_installs_dropped_and_its_python_compared(tmp_path):
    """A venv of this interpreter holding one package installed by hand: it is dropped, the Python stays."""
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    base = Path(os.path.realpath(sys.executable))
    (env / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n")
    (env / "bin" / "python").symlink_to(base)
    site = env / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    (site / "tabulate-0.9.0.dist-info").mkdir(parents=True)
    (site / "tabulate-0.9.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: tabulate\n"
                                                                "Version: 0.9.0\n")
    now = platform.python_version()
    changes = changes_of_replacing(env, now, {})
    assert changes is not None and changes.unknown is None
    assert [(d.name, d.version) for d in changes.dropped] == [("tabulate", "0.9.0")]
    assert changes.python_from == now and not changes.python_changes
    assert changes_of_replacing(env, now, {"tabulate": "0.9.0"}).dropped == ()  # in the new lock: not dropped
