"""`tfsetup lock --platform/--python` adds or replaces sections and never drops one silently (pure part)."""
from __future__ import annotations

from pathlib import Path

from tfsetup.recipes import load_recipes
from tfsetup.team.config import load_config
from tfsetup.team.lockfile import LockSection, TeamLock, plan_lock_update, section_specs

TABLE = load_recipes()


def config_at(tmp_path: Path):
    path = tmp_path / "tfsetup.toml"
    path.write_text('python = "3.11"\nplatforms = ["linux-x86_64", "macos-arm64"]\n')
    return load_config(path)


def lock_of(config, specs, stale=()):
    """A lock holding these specs' sections, up to date unless named in `stale`."""
    sections = tuple(LockSection(s.platform, s.python, s.recipe.id, s.recipe.python_platform,
                                 "0" * 64 if s.platform in stale else s.digest(config),
                                 f"# text of {s.platform} py{s.python}\n") for s in specs)
    return TeamLock(config.lock_path, "x", sections)


def names(specs):
    return [f"{s.platform} py{s.python}" for s in specs]


def test_a_flag_adds_a_section_and_keeps_the_configs(tmp_path):
    config = config_at(tmp_path)
    ours = section_specs(TABLE, config, list(config.platforms), ["3.11"], [])
    asked = section_specs(TABLE, config, ["windows-x86_64"], ["3.12"], [])
    update = plan_lock_update(TABLE, config, asked, ours, lock_of(config, ours), True, [])
    assert names(update.specs) == ["linux-x86_64 py3.11", "macos-arm64 py3.11", "windows-x86_64 py3.12"]
    assert names(update.resolve) == ["windows-x86_64 py3.12"]  # only what was asked is resolved
    assert update.kept[("linux-x86_64", "3.11")] == "# text of linux-x86_64 py3.11\n"
    assert "kept macos-arm64 py3.11 as it is (up to date)" in update.notes


def test_a_flag_replaces_its_own_section_in_place_and_refreshes_stale_ones(tmp_path):
    config = config_at(tmp_path)
    ours = section_specs(TABLE, config, list(config.platforms), ["3.11"], [])
    asked = section_specs(TABLE, config, ["linux-x86_64"], ["3.11"], [])
    existing = lock_of(config, ours, stale=("macos-arm64",))
    update = plan_lock_update(TABLE, config, asked, ours, existing, True, [])
    assert names(update.specs) == ["linux-x86_64 py3.11", "macos-arm64 py3.11"]
    assert names(update.resolve) == ["linux-x86_64 py3.11", "macos-arm64 py3.11"]
    assert update.kept == {}
    assert "resolving macos-arm64 py3.11 too: it is out of date" in update.notes


def test_sections_added_earlier_survive_the_next_flag(tmp_path):
    config = config_at(tmp_path)
    ours = section_specs(TABLE, config, list(config.platforms), ["3.11"], [])
    windows = section_specs(TABLE, config, ["windows-x86_64"], ["3.12"], [])
    existing = lock_of(config, ours + windows)
    asked = section_specs(TABLE, config, ["linux-x86_64-cuda"], ["3.11"], [])
    update = plan_lock_update(TABLE, config, asked, ours, existing, True, [])
    assert names(update.specs) == ["linux-x86_64 py3.11", "macos-arm64 py3.11", "windows-x86_64 py3.12",
                                   "linux-x86_64-cuda py3.11"]
    assert names(update.resolve) == ["linux-x86_64-cuda py3.11"]


def test_without_flags_the_config_decides_and_says_what_it_dropped(tmp_path):
    config = config_at(tmp_path)
    ours = section_specs(TABLE, config, list(config.platforms), ["3.11"], [])
    windows = section_specs(TABLE, config, ["windows-x86_64"], ["3.12"], [])
    update = plan_lock_update(TABLE, config, ours, [], lock_of(config, ours + windows), False, [])
    assert names(update.specs) == names(ours) == names(update.resolve)
    assert len(update.notes) == 1 and update.notes[0].startswith(
        "dropped windows-x86_64 py3.12 from tfsetup.lock: not in tfsetup.toml's platforms/python")
