"""The planner's order: "the newest fitting recipe wins" on hosts where the default recipe is rejected
and several older ones fit (a Python 3.9-only host: Debian 11, a Mac with only Xcode's python3).

Each case names what an older-wins planner would give instead, so a flipped sort key, a reversed
ranking or a loop that keeps the last fit fails here.
"""
from __future__ import annotations

from dataclasses import replace

from tfsetup.plan import PlanError, PlanRequest, _ranked, plan

from tests.conftest import host_fixture


# The host's own Pythons only: these are the rules among them (test_plan_managed.py adds uv's).
HOST_ONLY = PlanRequest(python_downloads="never")


def fitting(facts, table, request=HOST_ONLY):
    """Every recipe that alone would be planned for this host (newest first, by TensorFlow version)."""
    out = []
    for recipe in table.recipes:
        try:
            chosen = plan(facts, table, replace(request, recipe_id=recipe.id))
        except PlanError:  # a rejection (exit 3) or a refused request; any other exception is a bug
            continue
        if chosen.recipe.id == recipe.id and chosen.recipe.status != "prerelease":
            out.append(recipe)
    return sorted(out, key=lambda r: r.tf_version, reverse=True)


def test_python39_only_linux_gets_the_newest_tf_that_supports_39(table):
    facts = host_fixture("linux-x86_64-python39-only")
    chosen = plan(facts, table, HOST_ONLY)
    # the default (2.21) needs 3.10+; 2.20, 2.19 and 2.15 all fit 3.9: the newest wins, not 2.15
    assert chosen.recipe.id == "linux-x86_64-cpu-tf2.20"
    assert chosen.packages["tensorflow-cpu"] == "2.20.0"
    assert [r.recipe for r in chosen.rejected][:1] == ["linux-x86_64-cpu-tf2.21"]
    assert any("Python 3.9 is not supported" in reason for r in chosen.rejected for reason in r.reasons)
    older = [r.id for r in fitting(facts, table) if r.accelerator == "cpu"]
    assert older[:3] == ["linux-x86_64-cpu-tf2.20", "linux-x86_64-cpu-tf2.19", "linux-x86_64-cpu-tf2.15"], older


def test_python39_only_gpu_host_keeps_cuda_with_its_newest_39_recipe(table):
    facts = replace(host_fixture("linux-x86_64-h100"), pythons=host_fixture("linux-x86_64-python39-only").pythons)
    chosen = plan(facts, table, HOST_ONLY)
    # cuda 2.21 (default) needs 3.10+; cuda 2.18 and 2.15 fit: 2.18, and still CUDA rather than CPU
    assert chosen.recipe.id == "linux-x86_64-cuda-tf2.18"
    assert chosen.recipe.accelerator == "cuda"


def test_python39_only_mac_cpu_only_gets_2_20_not_2_15(table):
    facts = host_fixture("m1-xcode-python39-only")
    assert plan(facts, table, HOST_ONLY).recipe.id == "macos-arm64-metal-tf2.19"  # the default fits 3.9
    chosen = plan(facts, table, replace(HOST_ONLY, accelerator="cpu"))
    # the CPU default (2.21) needs 3.10+; 2.20, 2.19 and 2.15 fit
    assert chosen.recipe.id == "macos-arm64-cpu-tf2.20"
    assert chosen.python.executable == "/usr/bin/python3"
    assert [r.id for r in fitting(facts, table, replace(HOST_ONLY, accelerator="cpu"))][:3] == [
        "macos-arm64-cpu-tf2.20", "macos-arm64-cpu-tf2.19", "macos-arm64-cpu-tf2.15"]


def test_without_the_metal_default_the_newest_older_metal_set_wins(table):
    """A table whose Metal default is gone (e.g. yanked): 2.18 + metal 1.2.0, not 2.15 + metal 1.1.0."""
    facts = host_fixture("m1-xcode-python39-only")
    smaller = replace(table, recipes=tuple(r for r in table.recipes if r.id != "macos-arm64-metal-tf2.19"))
    chosen = plan(facts, smaller, HOST_ONLY)
    assert chosen.recipe.id == "macos-arm64-metal-tf2.18"
    assert chosen.packages["tensorflow-metal"] == "1.2.0"


def test_a_requested_minor_picks_its_newest_patch_and_the_default_breaks_ties(table):
    facts = host_fixture("linux-x86_64-avx")
    # same TensorFlow (2.21.0) twice: the default Keras 3 set, not the Keras 2 one
    assert plan(facts, table, PlanRequest(tf="2.21")).recipe.id == "linux-x86_64-cpu-tf2.21"
    # --pre allows the pre-release, it does not prefer it over the stable default
    assert plan(facts, table, PlanRequest(pre=True)).recipe.id == "linux-x86_64-cpu-tf2.21"


def test_ranking_is_accelerator_then_stable_then_default_then_newest(table):
    ranked = [r for r in _ranked(table, "cuda") if r.platform == "linux-x86_64"]
    accels = [r.accelerator for r in ranked]
    assert accels == sorted(accels, key=lambda a: (a != "cuda", a != "cpu"))  # best accelerator first
    for accel in ("cuda", "cpu"):
        rows = [r for r in ranked if r.accelerator == accel]
        stable = [r for r in rows if r.status != "prerelease"]
        assert rows[: len(stable)] == stable  # pre-releases last
        assert stable[0].default
        rest = [r.tf_version for r in stable[1:]]
        assert rest == sorted(rest, reverse=True), [r.id for r in stable]  # then newest first


def test_team_locks_rank_a_platforms_recipes_as_the_planner_does(table):
    from pathlib import Path

    from tfsetup.team.config import ProjectConfig
    from tfsetup.team.lockfile import recipes_for

    planner = [r for r in _ranked(table, "metal") if r.platform == "macos-arm64" and r.accelerator == "metal"
               and r.status != "prerelease"]
    assert recipes_for(table, "macos-arm64", ProjectConfig(path=Path("/p/tfsetup.toml"))) == planner
    assert planner[0].default and len(planner) > 2
