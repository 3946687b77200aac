"""The hash shrinking of scripts/lock_recipes.py: pure, no network."""
from __future__ import annotations

import pytest

from tests.conftest import load_script

lr = load_script("lock_recipes")

NUMPY = [
    ("numpy-2.1.3-cp311-cp311-macosx_10_9_x86_64.whl", "a" * 64),
    ("numpy-2.1.3-cp311-cp311-macosx_11_0_arm64.whl", "b" * 64),
    ("numpy-2.1.3-cp311-cp311-macosx_14_0_arm64.whl", "c" * 64),  # newer macOS: must be kept
    ("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "d" * 64),
    ("numpy-2.1.3-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "e" * 64),
    ("numpy-2.1.3-cp311-cp311-musllinux_1_1_x86_64.whl", "f" * 64),
    ("numpy-2.1.3-cp311-cp311-win_amd64.whl", "1" * 64),
    ("numpy-2.1.3-cp312-cp312-macosx_11_0_arm64.whl", "2" * 64),
    ("numpy-2.1.3.tar.gz", "3" * 64),
]


def test_macos_arm64_keeps_all_os_versions_and_drops_the_rest() -> None:
    tags = lr.compatible_tags("macos", "arm64", "3.11")
    assert lr.filter_hashes(tags, NUMPY) == ["b" * 64, "c" * 64]


def test_macos_x86_64() -> None:
    assert lr.filter_hashes(lr.compatible_tags("macos", "x86_64", "3.11"), NUMPY) == ["a" * 64]


def test_linux_and_windows() -> None:
    assert lr.filter_hashes(lr.compatible_tags("linux", "x86_64", "3.11"), NUMPY) == ["d" * 64]
    assert lr.filter_hashes(lr.compatible_tags("linux", "aarch64", "3.11"), NUMPY) == ["e" * 64]
    assert lr.filter_hashes(lr.compatible_tags("windows", "x86_64", "3.11"), NUMPY) == ["1" * 64]


def test_universal2_abi3_and_pure_wheels() -> None:
    files = [
        ("pkg-1.0-cp39-abi3-macosx_10_9_universal2.whl", "a" * 64),
        ("pkg-1.0-py3-none-any.whl", "b" * 64),
        ("pkg-1.0-py2-none-any.whl", "c" * 64),
        ("pkg-1.0-cp313-cp313-macosx_11_0_arm64.whl", "d" * 64),
        ("pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "e" * 64),
        ("not-a-wheel.egg", "f" * 64),
    ]
    assert lr.filter_hashes(lr.compatible_tags("macos", "arm64", "3.11"), files) == ["a" * 64, "b" * 64]
    assert lr.filter_hashes(lr.compatible_tags("linux", "x86_64", "3.11"), files) == ["b" * 64, "e" * 64]


def test_small_explicit_tag_set() -> None:
    tags = frozenset(lr.ptags.parse_tag("cp311-cp311-macosx_12_0_arm64"))
    assert lr.filter_hashes(tags, NUMPY) == []
    tags = frozenset(lr.ptags.parse_tag("cp311-cp311-macosx_11_0_arm64"))
    assert lr.filter_hashes(tags, NUMPY + NUMPY) == ["b" * 64]  # unique


def _recipe(**kw):
    from tfsetup.recipes import Recipe

    base = dict(id="r", os="macos", machine="arm64", accelerator="cpu", distribution="tensorflow",
                tensorflow="2.19.1", pythons=("3.11",), default=False, status="stable", summary="",
                notes="", sources=("x",), min_os="12.0")
    base.update(kw)
    return Recipe(**base)


def test_shrink_fails_loudly_on_sdist_only(monkeypatch: pytest.MonkeyPatch) -> None:
    listing = {"numpy": NUMPY, "sdistonly": [("sdistonly-1.0.tar.gz", "9" * 64)]}
    monkeypatch.setattr("tfsetup.resolve.version_files", lambda name, version, index_url=lr.INDEX_URL: listing[name])
    entries = [("numpy", "2.1.3", []), ("sdistonly", "1.0", [])]
    with pytest.raises(lr.LockError, match="sdistonly==1.0"):
        lr.shrink(_recipe(), "3.11", entries)
    kept = lr.shrink(_recipe(), "3.11", entries[:1])
    assert kept == [("numpy", "2.1.3", ["b" * 64, "c" * 64])]


def test_render_and_parse_round_trip() -> None:
    from tfsetup.recipes import parse_lock_text

    entries = [("numpy", "2.1.3", ["b" * 64, "c" * 64]), ("tensorflow", "2.19.1", ["d" * 64])]
    text = lr.render_lock(_recipe(), "3.11", entries, today="2026-01-01")
    assert "MACOSX_DEPLOYMENT_TARGET=12.0" in text and "# date: 2026-01-01" in text
    assert parse_lock_text(text, "x") == {"numpy": "2.1.3", "tensorflow": "2.19.1"}
    assert lr.parse_uv_output(text) == entries


def test_a_lock_records_its_cutoff_and_nothing_else_that_changes_between_runs() -> None:
    entries = [("numpy", "2.1.3", ["b" * 64])]
    first = lr.render_lock(_recipe(), "3.11", entries, resolved="2026-12-07T10:00:00Z", uv="0.13.9")
    again = lr.render_lock(_recipe(), "3.11", entries, resolved="2026-12-07T10:00:00Z", uv="0.13.9")
    assert first == again
    assert lr.lock_cutoff(first) == "2026-12-07T10:00:00Z" and "# date: 2026-12-07" in first
    assert lr.lock_cutoff(first.replace("# exclude-newer", "# other")) is None
    assert lr.check_cutoff("2026-12-07") == "2026-12-07T00:00:00Z"
    with pytest.raises(Exception, match="not a UTC time"):
        lr.check_cutoff("yesterday")


def test_build_lock_passes_the_cutoff_to_uv(monkeypatch) -> None:
    seen = {}

    def fake_compile(uv, recipe, python, lines, **kw):
        seen.update(kw)
        return "numpy==2.1.3 \\\n    --hash=sha256:" + "b" * 64 + "\n"

    monkeypatch.setattr(lr, "uv_compile", fake_compile)
    monkeypatch.setattr(lr, "shrink", lambda recipe, python, entries, index_url=None: list(entries))
    result = lr.build_lock("uv", _recipe(), "3.11", cutoff="2026-11-16T00:00:00Z")
    assert seen["exclude_newer"] == "2026-11-16T00:00:00Z"
    assert result.text is not None and lr.lock_cutoff(result.text) == "2026-11-16T00:00:00Z"


def test_drift_in_a_package_with_a_security_note_comes_first() -> None:
    from dataclasses import replace

    recipe = replace(_recipe(), security_notes=("urllib3 2.6.3 (Python 3.9 lock): CVE-X fixed in 2.7.0 - https://x",))
    drift = ["~ idna 3.10 -> 3.11", "~ urllib3 2.6.3 -> 2.7.0", "+ six==1.17.0"]
    out = lr.security_first(recipe, drift)
    assert out[0].startswith("~ urllib3 2.6.3 -> 2.7.0") and "security" in out[0]
    assert out[1:] == ["~ idna 3.10 -> 3.11", "+ six==1.17.0"]
