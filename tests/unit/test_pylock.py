"""team/pylock.py: a lock section -> PEP 751 pylock text that keeps only the section's pins and hashes,
parses back as TOML, and is known stale when the section changes."""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest

from tfsetup.errors import TfsetupError
from tfsetup.team.lockfile import LockSection, TeamLock
from tfsetup.team.pylock import (pylock_name, pylock_packages, render_pylock, section_digest, stale_pylocks,
                                 write_pylocks)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

A, B, C = "a" * 64, "b" * 64, "c" * 64
REQUIREMENTS = f"""six==1.17.0 \\
    --hash=sha256:{A}
numpy==2.1.3 \\
    --hash=sha256:{B}
"""
SECTION = LockSection("linux-x86_64", "3.11", "linux-x86_64-cpu-tf2.21", "x86_64-manylinux_2_28", "d", REQUIREMENTS)


def uv_pylock(numpy_version: str = "2.1.3", extra_wheel: bool = True, six: bool = True) -> str:
    six_block = f'''
[[packages]]
name = "six"
version = "1.17.0"
wheels = [{{ url = "https://x/six-1.17.0-py2.py3-none-any.whl", size = 11, hashes = {{ sha256 = "{A}" }} }}]
''' if six else ""
    other = f', {{ url = "https://x/numpy-other.whl", size = 3, hashes = {{ sha256 = "{C}" }} }}' if extra_wheel else ""
    return f'''lock-version = "1.0"
created-by = "uv"
{six_block}
[[packages]]
name = "NumPy"
version = "{numpy_version}"
wheels = [{{ url = "https://x/numpy-2.1.3-cp311.whl", upload-time = 2024-11-02T17:00:00Z, size = 99, hashes = {{ sha256 = "{B}" }} }}{other}]
'''


def test_only_the_sections_hashes_are_kept_and_the_text_parses():
    packages = pylock_packages(SECTION, uv_pylock())
    assert [(n, v, [w.sha256 for w in ws]) for n, v, ws in packages] == [("six", "1.17.0", [A]),
                                                                           ("numpy", "2.1.3", [B])]
    text = render_pylock(SECTION, packages, datetime.date(2026, 12, 7))
    doc = tomllib.loads(text)
    assert doc["lock-version"] == "1.0" and doc["requires-python"] == "==3.11.*"
    assert doc["environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
    assert doc["packages"][1]["wheels"] == [{"url": "https://x/numpy-2.1.3-cp311.whl", "size": 99,
                                             "hashes": {"sha256": B}}]
    assert doc["tool"]["tfsetup"]["requirements-sha256"] == section_digest(SECTION)


@pytest.mark.parametrize("answer,says", [(uv_pylock(numpy_version="2.2.0"), "pins 2.1.3"),
                                         (uv_pylock(six=False), "lacks six"),
                                         (uv_pylock(extra_wheel=False).replace(B, C), "no wheel of numpy")])
def test_an_answer_that_is_not_the_section_is_refused(answer, says):
    with pytest.raises(TfsetupError) as caught:
        pylock_packages(SECTION, answer)
    assert says in str(caught.value)


def test_written_files_are_current_until_the_section_changes(tmp_path: Path):
    lock = TeamLock(tmp_path / "tfsetup.lock", "i", (SECTION,))
    assert stale_pylocks(lock, tmp_path) == []  # none written: nothing to say
    written = write_pylocks(lock, tmp_path, lambda section: uv_pylock(), today=lambda: datetime.date(2026, 12, 7))
    assert [p.name for p in written] == [pylock_name(SECTION)] == ["pylock.linux-x86_64-py311.toml"]
    assert stale_pylocks(lock, tmp_path) == []
    changed = LockSection(*[getattr(SECTION, f) for f in ("platform", "python", "recipe", "python_platform",
                                                           "inputs")], REQUIREMENTS.replace("1.17.0", "1.16.0"))
    reasons = stale_pylocks(TeamLock(lock.path, "i", (changed,)), tmp_path)
    assert reasons and "does not match linux-x86_64 py3.11" in reasons[0]
    (tmp_path / "pylock.windows-x86_64-py311.toml").write_text('lock-version = "1.0"\n')
    assert any("has no section" in r for r in stale_pylocks(lock, tmp_path))
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_recipes_lock_becomes_one_section_per_python_named_without_dots():
    from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
    from tfsetup.recipes import load_recipes
    from tfsetup.team.pylock import recipe_pylock_name, recipe_sections

    recipe = next(r for r in load_recipes(None).recipes if r.id == "macos-arm64-metal-tf2.19")
    (section,) = recipe_sections(recipe, ["3.11"])
    assert (section.platform, section.python, section.recipe, section.python_platform) == \
        ("macos-arm64", "3.11", recipe.id, recipe.python_platform)
    assert section.pins()["tensorflow-metal"] == "1.2.0"
    assert recipe_pylock_name(section) == "pylock.macos-arm64-metal-tf2_19-py311.toml"
    with pytest.raises(TfsetupError) as caught:
        recipe_sections(recipe, ["3.13"])  # no Metal wheel for cp313: the row has no such lock
    assert caught.value.exit_code == EXIT_BAD_INPUT and "3.10" in caught.value.fix
