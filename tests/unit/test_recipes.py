"""recipes.py validation: a malformed table or lock is one clear error naming the file and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from tfsetup.errors import EXIT_BAD_INPUT
from tfsetup.recipes import RecipeError, load_recipes, parse_lock_text

ROW = """
[[recipe]]
id = "{id}"
os = "{os}"
machine = "x86_64"
accelerator = "cpu"
distribution = "tensorflow-cpu"
tensorflow = "2.21.0"
pythons = ["3.11"]
default = {default}
status = "stable"
summary = "s"
notes = "n"
sources = ["https://pypi.org/simple/tensorflow-cpu/"]
"""


def _table(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "recipes.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_bundled_table_loads_with_a_lock_for_every_python():
    table = load_recipes()
    assert table.recipes and table.incompatible
    for recipe in table.recipes:
        assert set(recipe.locks) == set(recipe.pythons), recipe.id


@pytest.mark.parametrize("body, message", [
    ("", "missing key 'schema'"),
    ("schema = 2\n", "'schema' must be 1"),
    ("schema = 1\n" + ROW.format(id="a", os="linux", default="true") + "colour = 'red'\n", "unknown key(s) colour"),
    ("schema = 1\n" + ROW.format(id="A b", os="linux", default="true"), "id 'A b' must be lowercase"),
    ("schema = 1\n" + ROW.format(id="a", os="beos", default="true"), "no platform beos-x86_64"),
    ("schema = 1\n" + ROW.format(id="a", os="linux", default="true") + ROW.format(id="a", os="linux", default="false"),
     "duplicate recipe id 'a'"),
    ("schema = 1\n" + ROW.format(id="a", os="linux", default="true") + ROW.format(id="b", os="linux", default="true"),
     "two defaults for linux"),
    ("schema = 1\n[[recipe\n", "is not valid TOML"),
])
def test_a_malformed_table_names_the_problem(tmp_path, body, message):
    with pytest.raises(RecipeError) as info:
        load_recipes(_table(tmp_path, body))
    assert message in info.value.message
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_a_lock_must_be_pinned_and_hashed():
    with pytest.raises(RecipeError, match="not a pinned requirement"):
        parse_lock_text("numpy>=2 --hash=sha256:" + "0" * 64 + "\n", "lock")
    with pytest.raises(RecipeError, match="no hashes"):
        parse_lock_text("numpy==2.1.3\n", "lock")
    with pytest.raises(RecipeError, match="empty"):
        parse_lock_text("# nothing\n", "lock")
    assert parse_lock_text("NumPy==2.1.3 \\\n    --hash=sha256:" + "0" * 64 + "\n", "lock") == {"numpy": "2.1.3"}
