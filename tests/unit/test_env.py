"""env/__init__.py: `Env`, one env at one path as a command sees it: resolved once for every spelling,
its record read once (and again only when asked)."""
from __future__ import annotations

import os

from tfsetup.env import Env
from tfsetup.env.paths import env_python
from tfsetup.env.record import write_record

RECORD = {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21", "distribution": "tensorflow-cpu",
          "packages": {"tensorflow-cpu": "2.21.0"}, "lock": {"pins": {"numpy": "2.1.3"}},
          "user_packages": {"pandas": "2.2.3"}}


def test_every_spelling_of_a_path_is_the_same_env(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    real = os.path.realpath(tmp_path / "real")
    assert str(Env.at("real").path) == real
    assert str(Env.at(tmp_path / "link").path) == real  # a link to a directory: that directory
    assert str(Env.at(tmp_path / "x" / ".." / "real" / "").path) == real
    assert Env.at(tmp_path / "link", follow=False).path.name == "link"  # remove refuses the link itself
    assert repr(Env.at("real")) == f"Env({real!r})"


def test_the_record_is_read_once_and_again_only_on_reread(tmp_path):
    env = Env.at(tmp_path)
    assert env.record is None and env.describe() == "" and env.pins == {} and env.user_packages == {}
    write_record(tmp_path, RECORD)
    assert env.record is None  # read once: a command sees one state of the env
    assert env.reread() == RECORD and env.record == RECORD
    assert env.describe() == "linux-x86_64-cpu-tf2.21 (tensorflow-cpu 2.21.0)"
    assert env.pins == {"numpy": "2.1.3"} and env.user_packages == {"pandas": "2.2.3"}


def test_python_is_the_envs_interpreter_path(tmp_path):
    env = Env.at(tmp_path)
    assert env.python == env_python(env.path) and env.python.parent.parent == env.path
