"""Invariants of the planner over every host-facts fixture × many flag combinations (issue 18, item 8).

Not examples: for each combination, whatever it plans or refuses,
- every recipe row of the host's platform appears exactly once: chosen, or "not chosen" with a reason;
- every hint (a warning's "For Metal: ...", a refusal's "nearest working choice", a row's "--recipe ID
  picks it") names flags that were not given as they are, and its request really plans (the recipe the
  hint names).
"""
from __future__ import annotations

import itertools
import re
from typing import Iterator, List, Optional, Tuple

import pytest

from tfsetup.errors import EXIT_NO_RECIPE
from tfsetup.host.facts import HostFacts
from tfsetup.plan import (Hint, Plan, PlanError, PlanRequest, Rejection, host_accelerator, plan,
                          request_flags)
from tfsetup.recipes import RecipeTable

from tests.conftest import FIXTURES, host_fixture

HOSTS = sorted(p.stem for p in (FIXTURES / "hosts").glob("*.json"))
TF = (None, "2.15", "2.19", "2.21", "2.22")  # the default, legacy, the Metal ceiling, newest, pre-release
PYTHON = (None, "3.9", "3.12", "3.13")  # oldest supported, the Metal ceiling, past it
ACCELERATOR = (None, "cpu", "metal", "cuda")


def requests() -> Iterator[PlanRequest]:
    for tf, python, accelerator, pre, keras in itertools.product(TF, PYTHON, ACCELERATOR, (False, True),
                                                                 (None, 2)):
        yield PlanRequest(tf=tf, python=python, accelerator=accelerator, pre=pre, keras=keras)


def given_flags(request: PlanRequest) -> List[str]:
    return [f"{flag} {value}".strip() for flag, value in request_flags(request).items()]


def outcome(facts: HostFacts, table: RecipeTable, request: PlanRequest
            ) -> Tuple[Optional[Plan], Optional[PlanError]]:
    try:
        return plan(facts, table, request), None
    except PlanError as exc:
        return None, exc


def check_hint(facts: HostFacts, table: RecipeTable, request: PlanRequest, hint: Hint) -> None:
    given = given_flags(request)
    assert hint.flags, hint
    assert hint.request != request
    for flag in hint.flags:
        if flag.startswith("without "):
            assert flag[len("without "):] in request_flags(request), (flag, given)
        else:
            assert flag not in given, (flag, given)  # never a flag already given, as it was given
    planned, error = outcome(facts, table, hint.request)
    assert error is None, (request, hint, error and error.message)
    assert planned is not None and planned.recipe.id == hint.recipe, (request, hint)


def no_repeated_flag(text: str, request: PlanRequest) -> None:
    """A suggestion in words names no flag exactly as it was given ("without --x" leaves one out)."""
    text = re.sub(r"without --[a-z-]+( \S+)?", "", text)
    for flag in given_flags(request):
        assert not re.search(re.escape(flag) + r"(?![\w.])", text), (flag, text)


def check_rows(facts: HostFacts, table: RecipeTable, chosen: Optional[str], rejected: List[Rejection]) -> None:
    platform_rows = sorted(r.id for r in table.recipes if r.platform == facts.platform)
    listed = sorted(([chosen] if chosen else []) + [r.recipe for r in rejected])
    assert listed == platform_rows  # each row once: none hidden, none twice
    for rej in rejected:
        assert rej.reasons and all(isinstance(r, str) and r.strip() for r in rej.reasons), rej


@pytest.mark.parametrize("host", HOSTS)
def test_every_row_is_listed_and_every_hint_plans(host: str, table: RecipeTable) -> None:
    facts = host_fixture(host)
    checked = 0
    for request in requests():
        planned, error = outcome(facts, table, request)
        if error is not None and error.exit_code != EXIT_NO_RECIPE:
            continue  # bad input (exit 2: --tf 2.22 on a table without it for this host...): no rows to list
        checked += 1
        if planned is not None:
            check_rows(facts, table, planned.recipe.id, planned.rejected)
            rejected, hints = planned.rejected, planned.hints
            for warning in planned.warnings:  # no warning suggests a flag already given
                no_repeated_flag(warning, request)
            for hint in hints:  # "For Metal: ...": the hint plans the host's best accelerator
                assert any(" ".join(hint.flags) in w for w in planned.warnings), hint
                assert table.by_id(hint.recipe).accelerator == host_accelerator(facts), (request, hint)
        else:
            assert error is not None
            if facts.platform in {r.platform for r in table.recipes}:
                check_rows(facts, table, None, error.rejected)
            rejected, hints = error.rejected, error.hints
            if error.fix and error.fix.startswith("nearest working choice"):
                assert hints, error.fix
                no_repeated_flag(error.fix, request)
            for hint in hints:
                assert hint.text() in (error.fix or ""), hint
        for hint in hints:
            check_hint(facts, table, request, hint)
        for rej in rejected:
            if rej.select is not None:
                check_hint(facts, table, request, rej.select)
                assert rej.select.recipe == rej.recipe
    assert checked > 100  # the combinations really ran


def test_rows_that_fit_but_rank_below_are_listed_with_why(table: RecipeTable) -> None:
    """The three cases of the issue, on a native M1: --keras 2, --pre, --keras 2 --python 3.12."""
    mac = host_fixture("m1-native-homebrew")
    keras2 = plan(mac, table, PlanRequest(keras=2))
    rows = {r.recipe: r for r in keras2.rejected}
    cpu_keras2 = rows["macos-arm64-cpu-tf2.21-keras2"]
    assert cpu_keras2.reasons == [f"fits too, but {keras2.recipe.id} is chosen (Metal comes first on this host)"]
    assert cpu_keras2.select is not None and cpu_keras2.select.flags == ("--recipe macos-arm64-cpu-tf2.21-keras2",)
    pre = plan(mac, table, PlanRequest(pre=True))
    assert [r.reasons for r in pre.rejected if r.recipe == "macos-arm64-cpu-tf2.22rc0"] == \
        [["fits too, but macos-arm64-metal-tf2.19 is chosen (Metal comes first on this host)"]]
    # --keras 2 --python 3.12 once hinted "For Metal: --python 3.12", the flag already given; since the
    # Keras-2 Metal row (TF 2.19.1 + tf-keras 2.19.0) it is Metal itself, and no hint repeats a flag
    on_312 = plan(mac, table, PlanRequest(keras=2, python="3.12"))
    assert on_312.recipe.id == "macos-arm64-metal-tf2.19-keras2"
    assert not any("--python 3.12" in " ".join(h.flags) for h in on_312.hints)
    assert not any("--python 3.12" in w for w in on_312.warnings)
