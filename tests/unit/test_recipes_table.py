"""Facts the recipes table must keep (each checked against PyPI or the wheels; see the rows' notes)."""
from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement

from tfsetup.recipes import load_recipes

REPO = Path(__file__).resolve().parents[2]
TABLE = load_recipes(REPO / "recipes" / "recipes.toml")
BY_ID = {r.id: r for r in TABLE.recipes}
INCOMPATIBLE = {e.id: e for e in TABLE.incompatible}


def test_min_os_is_the_binaries_minos():
    assert BY_ID["macos-arm64-metal-tf2.19"].min_os == "12.1"
    assert BY_ID["macos-arm64-metal-tf2.18"].min_os == "12.1"
    assert BY_ID["macos11-arm64-cpu-tfmacos2.9"].min_os == "11.3"
    assert BY_ID["macos-arm64-metal-tf2.19"].macos_target == "12.1"


def test_keras2_rows_pin_the_matching_tf_keras_and_set_the_env():
    rows = [r for r in TABLE.recipes if r.keras_package == "tf-keras"]
    assert {r.platform for r in rows} >= {"macos-arm64", "linux-x86_64", "linux-aarch64", "windows-x86_64"}
    for r in rows:
        assert r.keras == 2 and r.env == {"TF_USE_LEGACY_KERAS": "1"}, r.id
        assert r.distribution == "tensorflow", r.id  # tf-keras requires `tensorflow` by name
        (tfk,) = [Requirement(x) for x in r.requirements if Requirement(x).name == "tf-keras"]
        assert str(tfk.specifier).lstrip("=").startswith(r.tf_minor + "."), r.id


def test_prerelease_rows_say_they_install_keras_nightly():
    for r in TABLE.recipes:
        if r.status == "prerelease":
            assert r.keras_package == "keras-nightly" and any("keras-nightly" in w for w in r.warnings), r.id


def test_python_39_has_a_tf_220_row_on_every_platform_with_220_wheels():
    for platform in ("macos-arm64", "linux-x86_64", "linux-aarch64", "windows-x86_64"):
        rows = [r for r in TABLE.recipes if r.platform == platform and r.tensorflow == "2.20.0"]
        assert rows and all("3.9" in r.pythons and not r.default for r in rows), platform


def test_cuda_221_pins_the_tested_cuda_set():
    reqs = {Requirement(x).name: str(Requirement(x).specifier) for x in BY_ID["linux-x86_64-cuda-tf2.21"].requirements}
    assert reqs["nvidia-cudnn-cu12"] == "==9.3.0.75" and reqs["nvidia-cuda-runtime-cu12"] == "==12.5.82"


def test_disputed_entries_are_warnings():
    assert INCOMPATIBLE["metal-1.1-tf-2.16-keras3"].severity == "warning"
    assert INCOMPATIBLE["tf-2.15-keras-3"].severity == "warning"
    assert "hence the jump" not in BY_ID["macos-arm64-metal-tf2.15"].notes


def test_security_notes_cite_their_advisory():
    for r in TABLE.recipes:
        for note in r.security_notes:
            assert ("GHSA-" in note or "CVE-" in note or "reported, unconfirmed" in note) and "http" in note, (r.id, note)
