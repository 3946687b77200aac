"""The architecture contract (scripts/check_layers.py) holds, and the checker itself can fail."""
from __future__ import annotations

from tests.conftest import load_script


def _checker():
    return load_script("check_layers")


def test_no_upward_arrow_no_cycle_no_oversized_module():
    assert _checker().check() == []


def test_the_checker_sees_an_upward_arrow_and_a_cycle():
    layers = _checker()
    assert layers.layer_of("tfsetup.doctor.rules") > layers.layer_of("tfsetup.install")
    assert layers.layer_of("tfsetup.commands.install") > layers.layer_of("tfsetup.doctor.apply")
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert layers.find_cycle(graph) == ["a", "b", "c", "a"]
    assert layers.find_cycle({"a": {"b"}, "b": set()}) == []
    assert layers.layer_of("tfsetup.not_listed_anywhere") == -1  # a new module must be given a layer
