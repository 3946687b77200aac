"""packages.py (the user's packages against a lock's pins) and the record helpers of the env lifecycle:
pure parts, fed with uv's real conflict messages (uv 0.13, recorded)."""
from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from tfsetup.env.facts import EnvFacts
from tfsetup.doctor.rules import diagnose
from tfsetup.errors import TfsetupError
from tfsetup.packages import delta, exact_version, explain_conflict, parse_specs
from tfsetup.env.record import describe, lock_pins, replace_changes, user_packages, verification_state, with_user_packages
from tfsetup.render import replace_question
from tests.conftest import host_fixture

PINS = {"numpy": "2.1.3", "tensorflow-cpu": "2.21.0", "protobuf": "5.29.4", "keras": "3.10.0"}

# `uv pip compile` under numpy==2.1.3, as uv 0.13.9 words it.
SCIPY = """error: No solution found when resolving dependencies:
  cause: Because scipy==1.11.4 depends on numpy>=1.21.6,<1.28.0 and numpy==2.1.3, we can conclude that scipy==1.11.4 cannot be used.
         And because you require scipy==1.11.4, we can conclude that your requirements are unsatisfiable."""
ALL_VERSIONS = """error: No solution found when resolving dependencies:
  cause: Because all versions of oldlib depend on numpy<2 and numpy==2.1.3, we can conclude that all versions of
         oldlib cannot be used."""
NO_WHEEL = """error: No solution found when resolving dependencies:
  cause: Because only foo<=0.1 is available and foo==0.1 has no wheels with a matching Python ABI tag, we can conclude
         that all versions of foo cannot be used.
hint: You require CPython 3.11 (`cp311`)"""


def test_the_pinned_package_a_requirement_would_move_is_named_with_both_versions():
    reason, moves = explain_conflict(SCIPY, PINS)
    assert moves == ["numpy"]
    assert reason == "scipy==1.11.4 needs numpy>=1.21.6,<1.28.0 but the verified set has numpy 2.1.3"
    reason, moves = explain_conflict(ALL_VERSIONS, PINS)
    assert moves == ["numpy"] and reason == "oldlib needs numpy<2 but the verified set has numpy 2.1.3"


def test_a_conflict_without_a_pin_falls_back_to_uvs_cause():
    reason, moves = explain_conflict(NO_WHEEL, PINS)
    assert moves == [] and reason.startswith("Because only foo<=0.1 is available")


def test_stack_packages_are_named_first():
    text = ("Because a==1 depends on protobuf<4 and protobuf==5.29.4 ... And because a==1 depends on numpy<2 and "
            "numpy==2.1.3 we can conclude")
    assert explain_conflict(text, PINS)[1] == ["numpy", "protobuf"]


def test_specs_are_requirements_from_the_index_only():
    assert [str(r) for r in parse_specs(["pandas", "transformers[torch]>=4.40"])] == ["pandas",
                                                                                     "transformers[torch]>=4.40"]
    for bad in (["pan das!"], ["x @ https://example.org/x.whl"], ["--index-url=http://evil"], []):
        with pytest.raises(TfsetupError) as exc:
            parse_specs(bad)
        assert exc.value.exit_code == 2


def test_exact_version_only_for_a_single_pin():
    assert exact_version(Requirement("pandas==2.2.3")) == "2.2.3"
    assert exact_version(Requirement("pandas>=2")) is None
    assert exact_version(Requirement("pandas==2.*")) is None


def test_delta_leaves_out_the_lock_and_what_is_already_installed():
    entries = [("numpy", "2.1.3", ["a"]), ("pandas", "2.2.3", ["b"]), ("tzdata", "2025.1", ["c"]),
               ("six", "1.17.0", ["d"])]
    installed = {"numpy": "2.1.3", "tzdata": "2025.1", "six": "1.16.0"}
    assert [e[0] for e in delta(entries, PINS, installed)] == ["pandas", "six"]


def test_record_helpers():
    record = {"recipe": "linux-x86_64-cpu-tf2.15", "distribution": "tensorflow-cpu",
              "packages": {"tensorflow-cpu": "2.15.1"}, "lock": {"pins": {"numpy": "1.26.4"}}}
    assert verification_state(record) == "not-verified"
    assert verification_state(dict(record, verification={"ok": False})) == "failed"
    assert verification_state(dict(record, verification={"ok": True})) == "ok"
    assert lock_pins(record) == {"numpy": "1.26.4"} and lock_pins({"lock": {}}) == {}
    updated = with_user_packages(with_user_packages(record, {"pandas": "2.2.3"}), {"jupyter": "1.1.1"})
    assert user_packages(updated) == {"jupyter": "1.1.1", "pandas": "2.2.3"} and "user_packages" not in record
    assert describe(record) == "linux-x86_64-cpu-tf2.15 (tensorflow-cpu 2.15.1)"
    changes = replace_changes(dict(updated, python={"version": "3.12.4"}), "3.13.1", {"numpy": "2.1.3"})
    question = replace_question("/e", "tfsetup env", updated, "linux-x86_64-cpu-tf2.21 (tensorflow-cpu 2.21.0)",
                                changes.lines())
    assert "(linux-x86_64-cpu-tf2.15 (tensorflow-cpu 2.15.1) -> linux-x86_64-cpu-tf2.21" in question
    assert "jupyter 1.1.1, pandas 2.2.3 will not be carried over" in question
    assert "the env's Python changes: 3.12.4 -> 3.13.1" in question
    assert replace_question("/e", "virtual environment", None) == \
        "/e is an existing virtual environment. Replace it (it stays intact until the new env has verified)?"


@pytest.mark.parametrize("verification, expected", [(None, True), ({"ok": False, "checks": []}, True),
                                                    ({"ok": True}, False)])
def test_doctor_says_not_verified_until_a_verification_passed(verification, expected):
    env = EnvFacts(path="/e", python="/e/bin/python", version="3.11.7", machine="x86_64",
                   record={"recipe": "r", "verification": verification})
    ids = [f.id for f in diagnose(env, host_fixture("linux-x86_64-avx"), _table())]
    assert ("not-verified" in ids) is expected
    plain = EnvFacts(path="/e", python="/e/bin/python", version="3.11.7", machine="x86_64", record=None)
    assert "not-verified" not in [f.id for f in diagnose(plain, host_fixture("linux-x86_64-avx"), _table())]


def _table():
    from tfsetup.recipes import load_recipes

    return load_recipes(None)
