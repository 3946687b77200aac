"""probes/__init__.py: a probe's answer read through its own schema table (read_answer)."""
from __future__ import annotations

import pytest

from tfsetup.probes import read_answer

FIELDS = {"version": "", "bits": 0, "archs": [], "free_threaded": False}


def test_missing_or_null_fields_take_their_defaults_and_values_take_the_fields_type():
    assert read_answer({"version": "3.12.4", "bits": "64", "archs": ("x86_64",), "free_threaded": None},
                       FIELDS) == {"version": "3.12.4", "bits": 64, "archs": ["x86_64"], "free_threaded": False}
    assert read_answer({}, FIELDS) == FIELDS
    assert "extra" not in read_answer({"extra": 1}, FIELDS)  # only the schema's fields are read


def test_a_value_that_cannot_be_of_its_type_is_a_value_error_naming_the_field():
    with pytest.raises(ValueError, match=r"the probe's 'bits' is not a int: 'sixty-four'"):
        read_answer({"bits": "sixty-four"}, FIELDS)
    with pytest.raises(ValueError, match="'archs' is not a list"):
        read_answer({"archs": 5}, FIELDS)
