"""Fixtures of the unit tier (the helpers every tier shares are in tests/conftest.py)."""
from __future__ import annotations

import pytest

from tfsetup.recipes import RecipeTable, load_recipes


@pytest.fixture(scope="module")
def table() -> RecipeTable:
    """The bundled recipes table, as the planner gets it (loaded once per test module)."""
    return load_recipes()
