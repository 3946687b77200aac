"""doctor/catalog.py: one table of finding kinds that the rules, the repair planner and explain share."""
from __future__ import annotations

from tfsetup.doctor.catalog import (CATALOG, MANUAL, REBUILD, REBUILD_IDS, STACK, STACK_IDS, VERIFY, VERIFY_IDS,
                                    sources_of)
from tfsetup.doctor.explain import RULES
from tfsetup.recipes import load_recipes


def test_every_finding_the_code_or_the_table_can_produce_has_a_kind():
    explained = {rule.id for rule in RULES}
    tabled = {entry.finding for entry in load_recipes().incompatible}
    assert explained <= set(CATALOG) and tabled <= set(CATALOG), (explained | tabled) - set(CATALOG)


def test_repair_kinds():
    assert {"rosetta-python", "x86-wheel-on-arm64", "conda-x86-on-arm64"} <= REBUILD_IDS
    assert {"numpy-abi-mismatch", "metal-plugin-abi-mismatch", "conflicting-tf-distributions"} <= STACK_IDS
    assert "not-verified" in VERIFY_IDS
    assert not (STACK_IDS & REBUILD_IDS) and not (STACK_IDS & VERIFY_IDS) and not (REBUILD_IDS & VERIFY_IDS)
    manual = set(CATALOG) - STACK_IDS - REBUILD_IDS - VERIFY_IDS  # what the repair planner leaves to the user
    assert {"no-avx", "macos-too-old"} <= manual and all(CATALOG[i].repair == MANUAL for i in manual)
    assert {k.repair for k in CATALOG.values()} == {STACK, VERIFY, REBUILD, MANUAL}


def test_sources_are_public_urls():
    for kind in CATALOG.values():
        assert all(url.startswith("https://") for url in kind.sources), kind.id
    assert sources_of("not-a-finding") == ()
