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


# ---------------------------------------------------------------------------------------------
# branches scripts/mutation.py found untested

BASE = ROW.format(id="a", os="linux", default="true")


@pytest.mark.parametrize("extra, message", [
    ("pythons = \"3.11\"\n", "'pythons' must be list, got '3.11'"),
    ("keras = true\n", "'keras' must be int, got True"),
    ("tensorflow = \"two point one\"\n", "'tensorflow' is not a version: 'two point one'"),
    ("pythons = []\n", "'pythons' must be a non-empty list like [\"3.11\", \"3.12\"], got []"),
    ("pythons = [\"3\"]\n", "got ['3']"),
    ("sources = [\"\"]\n", "'sources' must be a list of non-empty strings"),
    ("sources = [1]\n", "'sources' must be a list of non-empty strings"),
    ("env = { lower = \"1\" }\n", "'env' must map UPPER_CASE variable names to strings"),
    ("env = { TF_X = 1 }\n", "'env' must map UPPER_CASE variable names to strings"),
])
def test_a_malformed_recipe_key_names_the_key(tmp_path, extra, message):
    lines = [ln for ln in BASE.splitlines() if not ln.startswith(extra.split(" = ")[0] + " = ")]
    with pytest.raises(RecipeError) as info:
        load_recipes(_table(tmp_path, "schema = 1\n" + "\n".join(lines) + "\n" + extra))
    assert message in info.value.message


def test_unknown_keys_at_the_top_and_in_an_incompatible_entry_are_named(tmp_path):
    with pytest.raises(RecipeError, match=r"unknown key\(s\) recipes"):
        load_recipes(_table(tmp_path, "schema = 1\nrecipes = []\n" + BASE))
    entry = ('\n[[incompatible]]\nid = "x"\nfinding = "f"\nmessage = "m"\nfix = "f"\n'
             'sources = ["https://example.org"]\nwhen_os = "linux"\n')
    with pytest.raises(RecipeError, match=r"incompatible\[0\]: unknown key\(s\) when_os"):
        load_recipes(_table(tmp_path, "schema = 1\n" + BASE + entry))


def test_optional_recipe_flags_default_to_false(tmp_path):
    lines = [ln for ln in BASE.splitlines() if not ln.startswith("default = ")]
    (recipe,) = load_recipes(_table(tmp_path, "schema = 1\n" + "\n".join(lines) + "\n")).recipes
    assert recipe.default is False and recipe.requires_avx is False


def test_a_bad_lock_line_is_quoted_up_to_80_characters():
    line = "x" * 80 + "QQ not pinned"
    with pytest.raises(RecipeError) as info:
        parse_lock_text(line + "\n", "lock")
    assert repr(line[:80]) in info.value.message and "Q" not in info.value.message


def test_resolver_input_and_python_platform_of_bundled_recipes():
    table = load_recipes()
    metal = table.by_id("macos-arm64-metal-tf2.15")
    assert metal.resolver_input() == ["tensorflow==2.15.1", "tensorflow-metal==1.1.0", "numpy<2"]
    metal = table.by_id("macos-arm64-metal-tf2.19")
    linux = table.by_id("linux-x86_64-cpu-tf2.21")
    assert linux.python_platform == "x86_64-manylinux_2_28"
    assert metal.python_platform == "aarch64-apple-darwin"


def test_a_recipe_is_its_row_not_the_locks_or_env_beside_it():
    from dataclasses import replace

    recipe = load_recipes().by_id("linux-x86_64-cpu-tf2.21")
    assert replace(recipe, locks={}, env={"X": "1"}) == recipe  # a table found with or without its locks
    assert len({recipe, replace(recipe, locks={})}) == 1  # hashable: usable as a key
