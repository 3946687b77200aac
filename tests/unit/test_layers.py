"""The architecture contract (scripts/check_layers.py) holds, and each of its rules fires on a planted tree."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tests.conftest import load_script

# A small package that keeps every rule: each test plants one breach into it and expects exactly its line.
CLEAN: Dict[str, str] = {
    "installer/tfsetup/__init__.py": '__version__ = "0"\n',
    "installer/tfsetup/errors.py": "class TfsetupError(Exception):\n    pass\n",
    "installer/tfsetup/env/__init__.py": "",
    "installer/tfsetup/env/record.py": "from tfsetup import errors\nfrom tfsetup.errors import TfsetupError\n",
    "installer/tfsetup/probes/__init__.py": "",
    "installer/tfsetup/probes/facts.py": ("import json\n\n\ndef tf_version():\n"
                                         "    import tensorflow  # lazy: only in the env's Python\n"
                                         "    return json.dumps(tensorflow.__version__)\n"),
    "installer/tfsetup/verify.py": "from tfsetup.env import record\nfrom . import errors\n",
    "installer/tfsetup/commands/__init__.py": "from tfsetup.commands import install, plan\n",  # not a sibling
    "installer/tfsetup/commands/_common.py": "from tfsetup import verify\n",
    "installer/tfsetup/commands/install.py": "from tfsetup.commands import _common\n",
    "installer/tfsetup/commands/plan.py": ("from tfsetup.commands._common import verify\n"
                                           "from ._common import verify\n"),
    "installer/tfsetup/cli.py": "def main():\n    from tfsetup.commands import install\n    return install\n",
    "scripts/tool.py": ("import tfsetup.verify\nfrom tfsetup import verify\n"
                        "from tfsetup.env.record import TfsetupError\n"
                        "print(verify.record, tfsetup.verify.errors, tfsetup.__version__, TfsetupError)\n"),
}
LAYERS: List[Tuple[str, ...]] = [
    ("tfsetup", "tfsetup.errors"),
    ("tfsetup.env", "tfsetup.probes"),
    ("tfsetup.verify",),
    ("tfsetup.commands",),
    ("tfsetup.cli",),
]


def _checker():
    return load_script("check_layers")


def planted(tmp_path: Path, changes: Dict[str, Optional[str]], layers: Sequence[Tuple[str, ...]] = LAYERS) -> List[str]:
    """The checker's findings on CLEAN with `changes` (path -> new text; None removes the file)."""
    files = dict(CLEAN)
    files.update(changes)
    for rel, text in files.items():
        if text is not None:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text, encoding="utf-8")
    return _checker().check(tmp_path / "installer" / "tfsetup", tmp_path / "scripts", layers)


def test_the_real_tree_keeps_every_rule():
    assert _checker().check() == []


def test_the_real_layers_are_ordered_and_name_each_module_once():
    layers = _checker()
    assert layers.layer_of("tfsetup.doctor.rules") > layers.layer_of("tfsetup.install")
    assert layers.layer_of("tfsetup.commands.install") > layers.layer_of("tfsetup.doctor.apply")
    assert layers.layer_of("tfsetup.not_listed_anywhere") == -1  # a new module must be given a layer
    assert layers.listed_twice() == []


def test_the_planted_clean_tree_passes(tmp_path):
    assert planted(tmp_path, {}) == []


def test_find_cycle():
    layers = _checker()
    assert layers.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert layers.find_cycle({"a": {"b"}, "b": set()}) == []


def test_an_upward_arrow(tmp_path):
    found = planted(tmp_path, {"installer/tfsetup/errors.py": "from tfsetup.probes import facts\n"})
    assert found == ["[upward] tfsetup.errors (layer 0) imports tfsetup.probes.facts (layer 1): an arrow pointing up"]


def test_a_type_only_import_is_an_arrow_and_closes_a_cycle(tmp_path):
    found = planted(tmp_path, {"installer/tfsetup/env/record.py": (
        "from typing import TYPE_CHECKING\n\nfrom tfsetup import errors\n\n"
        "if TYPE_CHECKING:  # pragma: no cover\n    from tfsetup.verify import VerifyResult\n")})
    assert found == [
        "[upward] tfsetup.env.record (layer 1) imports tfsetup.verify (layer 2): an arrow pointing up",
        "[cycle] import cycle: tfsetup.verify -> tfsetup.env.record -> tfsetup.verify",
        "[cycle] folder cycle: tfsetup.verify -> tfsetup.env -> tfsetup.verify",
    ]


def test_a_type_only_cycle_within_one_layer(tmp_path):
    layers = [("tfsetup", "tfsetup.errors"), ("tfsetup.env", "tfsetup.probes", "tfsetup.verify"),
              ("tfsetup.commands",), ("tfsetup.cli",)]
    found = planted(tmp_path, {"installer/tfsetup/env/record.py": (
        "import typing\n\nif typing.TYPE_CHECKING:\n    import tfsetup.verify\n")}, layers)
    assert found == ["[cycle] import cycle: tfsetup.verify -> tfsetup.env.record -> tfsetup.verify",
                     "[cycle] folder cycle: tfsetup.verify -> tfsetup.env -> tfsetup.verify"]


def test_a_sideways_import_between_commands(tmp_path):
    found = planted(tmp_path, {
        "installer/tfsetup/commands/install.py": "from tfsetup.commands.plan import verify\n",
        "installer/tfsetup/commands/plan.py": "from . import install\n",
        "installer/tfsetup/commands/_common.py": "from tfsetup.commands import plan\n",
    })
    assert [line for line in found if line.startswith("[sideways]")] == [
        "[sideways] tfsetup.commands._common imports its sibling tfsetup.commands.plan: shared helpers "
        "belong in tfsetup.commands._common",
        "[sideways] tfsetup.commands.install imports its sibling tfsetup.commands.plan: shared helpers "
        "belong in tfsetup.commands._common",
        "[sideways] tfsetup.commands.plan imports its sibling tfsetup.commands.install: shared helpers "
        "belong in tfsetup.commands._common",
    ]


def test_a_command_importing_its_package(tmp_path):
    found = planted(tmp_path, {"installer/tfsetup/commands/__init__.py": "NAMES = []\n",
                               "installer/tfsetup/commands/plan.py": "from tfsetup.commands import NAMES\n"})
    assert found == ["[sideways] tfsetup.commands.plan imports its sibling tfsetup.commands: shared helpers "
                     "belong in tfsetup.commands._common"]


def test_a_module_listed_in_two_layers(tmp_path):
    layers = [("tfsetup", "tfsetup.errors"), ("tfsetup.env", "tfsetup.probes", "tfsetup.errors"),
              ("tfsetup.verify",), ("tfsetup.commands", "tfsetup.verify"), ("tfsetup.cli",)]
    assert planted(tmp_path, {}, layers) == [
        "[layers] tfsetup.errors is listed in two layers of scripts/check_layers.py",
        "[layers] tfsetup.verify is listed in two layers of scripts/check_layers.py",
    ]


def test_a_module_in_no_layer(tmp_path):
    assert planted(tmp_path, {"installer/tfsetup/new.py": ""}) == [
        "[layers] tfsetup.new: not in any layer of scripts/check_layers.py"]


def test_a_probe_importing_tfsetup(tmp_path):
    found = planted(tmp_path, {"installer/tfsetup/probes/facts.py": "from tfsetup import errors\n",
                               "installer/tfsetup/probes/__init__.py": "from .. import errors\n"})
    assert found == [
        "[probe] tfsetup.probes imports tfsetup.errors: probes run inside other Pythons, where tfsetup is "
        "not installed",
        "[probe] tfsetup.probes.facts imports tfsetup.errors: probes run inside other Pythons, where tfsetup "
        "is not installed",
    ]


def test_an_import_inside_a_function_needs_a_lazy_comment(tmp_path):
    found = planted(tmp_path, {
        "installer/tfsetup/verify.py": (
            "from tfsetup.env import record\n\n\n"
            "def check():\n    from tfsetup import errors\n    return errors\n\n\n"
            "class Probe:\n    def run(self):\n        import json\n        return json\n\n\n"
            "def later():\n    from tfsetup.errors import (  # lazy: start-up time\n        TfsetupError)\n"
            "    import shlex  # noqa: F401  lazy: only on macOS\n    return TfsetupError\n"),
        "installer/tfsetup/env/record.py": ("try:\n    import tomllib\nexcept ImportError:\n    tomllib = None\n"
                                            "\n\ndef empty():\n    # lazy: (a comment on another line)\n"
                                            "    import os\n    return os\n"),
    })
    assert found == [
        "[function-import] tfsetup.env.record:9: an import inside a function, without a `# lazy: WHY` comment",
        "[function-import] tfsetup.verify:5: an import inside a function, without a `# lazy: WHY` comment",
        "[function-import] tfsetup.verify:11: an import inside a function, without a `# lazy: WHY` comment",
    ]


def test_a_lazy_comment_must_say_why(tmp_path):
    found = planted(tmp_path, {"installer/tfsetup/verify.py": "def check():\n    import json  # lazy:\n"})
    assert found == ["[function-import] tfsetup.verify:2: an import inside a function, without a "
                     "`# lazy: WHY` comment"]


def test_a_script_using_a_private_name(tmp_path):
    found = planted(tmp_path, {"scripts/lock.py": (
        "import tfsetup._hidden\nimport tfsetup.verify as v\nfrom tfsetup import verify\n"
        "from tfsetup.verify import _file_version\nfrom tfsetup._hidden import name\n"
        "print(verify._cache, v._rule, tfsetup.verify._x, verify.record, v.__name__)\n"
        "class Mine:\n    def __init__(self):\n        self._own = 1\n")})
    assert found == [
        "[script-private] scripts/lock.py:1: import tfsetup._hidden: a private tfsetup name",
        "[script-private] scripts/lock.py:4: from tfsetup.verify import _file_version: a private tfsetup name",
        "[script-private] scripts/lock.py:5: from tfsetup._hidden import name: a private tfsetup name",
        "[script-private] scripts/lock.py:6: tfsetup.verify._x: a private tfsetup name",
        "[script-private] scripts/lock.py:6: v._rule: a private tfsetup name",
        "[script-private] scripts/lock.py:6: verify._cache: a private tfsetup name",
    ]


def test_an_oversized_module_must_say_why(tmp_path):
    long_body = "x = 1\n" * 401
    found = planted(tmp_path, {"installer/tfsetup/errors.py": long_body,
                               "installer/tfsetup/env/record.py": '"""Over 400 lines because ..."""\n' + long_body})
    assert found == ["[size] tfsetup.errors: 401 lines (> 400) and no 'Over 400 lines because' in its docstring"]
