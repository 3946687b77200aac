"""`tfsetup explain` with the recipes table: real error texts under tests/fixtures/errors/incompatible/
are named by the signatures of the table's [[incompatible]] entries (not by the built-in rules)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tfsetup.doctor.explain import explain
from tfsetup.recipes import load_recipes

from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
TABLE = load_recipes(REPO / "recipes" / "recipes.toml")
FILES = sorted((FIXTURES / "errors" / "incompatible").glob("*.txt"))


def test_there_are_fixtures():
    assert len(FILES) >= 3


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_names_its_entry(path: Path):
    expected = path.name.split("--")[0]
    text = path.read_text(encoding="utf-8")
    findings = explain(text, TABLE)
    assert [f.id for f in findings] == [expected]  # exactly its finding: no extra, wrong ones
    (finding,) = findings
    assert finding.data.get("incompatible"), "matched by a table entry"
    entries = {e.id: e for e in TABLE.incompatible}
    for entry_id in finding.data["incompatible"]:
        assert entries[entry_id].finding == expected
    assert finding.evidence and all(line.strip() in text for line in finding.evidence if not line.endswith(" ..."))
    notes = (FIXTURES / "errors" / "SOURCES.md").read_text(encoding="utf-8")
    assert f"incompatible/{path.name}" in notes


def test_runtime_version_import_error_names_the_gencode_entries():
    text = "ImportError: cannot import name 'runtime_version' from 'google.protobuf' (/x/google/protobuf/__init__.py)"
    (finding,) = explain(text, TABLE)
    assert finding.id == "protobuf-mismatch"
    assert {"tf-2.20-protobuf-older-than-gencode", "tf-2.21-protobuf-older-than-gencode"} <= set(
        finding.data["incompatible"])


def test_every_entry_and_recipe_cites_a_source():
    for entry in TABLE.incompatible:
        assert entry.sources and entry.severity in ("error", "warning", "info"), entry.id
    for recipe in TABLE.recipes:
        assert recipe.sources, recipe.id
