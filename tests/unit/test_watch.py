"""scripts/watch.py, its pure parts: which releases the table has not seen, which Pythons a wheel set
serves, and the candidate row it writes (which the table's own loader must accept)."""
from __future__ import annotations

import json

from packaging.version import Version

from tfsetup.recipes import load_recipes

from tests.conftest import REPO, load_script

watch = load_script("watch")
lr = watch.lr


def test_unseen_is_newer_than_every_pin_or_uploaded_since_the_table():
    pinned = {Version("0.6.0"), Version("0.5.1")}
    wheels = {Version(v): ["w.whl"] for v in ("0.5.1", "0.5.2", "0.6.0", "0.7.0", "0.8.0rc1")}
    uploaded = {Version("0.5.2"): "2026-12-01T00:00:00Z", Version("0.7.0"): "2026-11-16T16:20:26Z",
                Version("0.8.0rc1"): "2026-12-02T00:00:00Z"}
    since = "2026-11-30T00:00:00Z"
    assert watch.unseen_releases(pinned, wheels, uploaded, since, pre=False) == [Version("0.5.2"), Version("0.7.0")]
    assert Version("0.8.0rc1") in watch.unseen_releases(pinned, wheels, uploaded, since, pre=True)
    old_patch = {Version("0.5.3"): ["w.whl"]}
    assert watch.unseen_releases(pinned, old_patch, {Version("0.5.3"): "2026-01-01T00:00:00Z"}, since, False) == []


def test_first_upload_is_the_earliest_file():
    listing = {"1.0": [lr.IndexFile("a-1.0-py3-none-any.whl", "a", upload_time="2026-02-01T00:00:00Z"),
                       lr.IndexFile("a-1.0.tar.gz", "b", upload_time="2026-01-01T00:00:00Z")]}
    assert watch.first_upload(listing) == {Version("1.0"): "2026-01-01T00:00:00Z"}
    doc = {"files": [{"filename": "a-1.0-py3-none-any.whl", "hashes": {"sha256": "c"},
                      "upload-time": "2026-03-01T00:00:00Z"}]}
    assert lr.parse_pep691(doc, "a")["1.0"][0].upload_time == "2026-03-01T00:00:00Z"


def test_mac_pythons_reads_the_wheel_tags():
    wheels = ["tensorflow-2.19.1-cp311-cp311-macosx_12_0_arm64.whl",
              "tensorflow-2.19.1-cp312-cp312-macosx_12_0_arm64.whl",
              "tensorflow-2.19.1-cp313-cp313-manylinux_2_17_x86_64.whl",
              "tensorflow_metal-1.2.0-cp39-cp39-macosx_12_0_x86_64.whl"]
    assert watch.mac_pythons(wheels) == {"3.11", "3.12"}


def test_the_candidate_row_loads_with_the_table(tmp_path):
    table = load_recipes(None)
    recipe_id, text = watch.candidate_row(table, "tensorflow", "2.23.0", "1.3.0", ["3.11", "3.12"], "13.0",
                                          "2026-12-07")
    assert recipe_id == "macos-arm64-metal-tf2.23"
    copy = tmp_path / "recipes.toml"
    copy.write_text((REPO / "recipes" / "recipes.toml").read_text(encoding="utf-8") + text, encoding="utf-8")
    (tmp_path / "locks").symlink_to(REPO / "recipes" / "locks")
    row = next(r for r in load_recipes(copy).recipes if r.id == recipe_id)
    assert (row.tensorflow, row.plugin_version, row.pythons, row.min_os, row.default) == \
        ("2.23.0", "1.3.0", ("3.11", "3.12"), "13.0", False)
    assert "scripts/watch.py" in row.notes


def test_every_watched_package_the_table_pins_is_found():
    pinned = watch.pinned_versions(load_recipes(None))
    assert Version("2.19.1") in pinned["tensorflow"] and Version("1.2.0") in pinned["tensorflow-metal"]
    for name in ("numpy", "ml-dtypes", "protobuf", "keras", "tf-keras"):
        assert pinned[name], name


def test_a_dependency_release_is_news_for_every_lock_still_behind_it():
    table = load_recipes(None)
    everyone = watch.lagging(table, "numpy", Version("99.0"))
    assert len(everyone) == sum(1 for r in table.recipes for lock in r.locks.values() if "numpy" in lock.pins)
    assert watch.lagging(table, "numpy", Version("0.1")) == []  # every lock is at or past it


def test_a_candidate_rows_notes_name_what_its_proofs_load_only_on_demand(tmp_path):
    """`--write` makes a row the fast tests accept: an on-demand binary needing a newer macOS than min_os
    is named in the notes with that macOS (tests/unit/test_prove.py checks it of every row)."""
    proofs = tmp_path / "proofs"
    proofs.mkdir()
    gcs = "tensorflow_io_gcs_filesystem/core/python/ops/libtensorflow_io_gcs_filesystem.so"
    (proofs / "py3.11.json").write_text(json.dumps({"on_demand": [
        {"file": gcs, "minos": "14.0"}, {"file": "tensorflow/lite/libfoo.so", "minos": "12.0"}]}))
    (proofs / "py3.12.json").write_text(json.dumps({"on_demand": [{"file": gcs, "minos": "13.0"}]}))
    sentence = watch.on_demand_note(proofs, "12.1")
    assert "tensorflow-io-gcs-filesystem's binary needs macOS 14.0" in sentence and "lite" not in sentence
    assert watch.on_demand_note(proofs, "14.0") == ""  # nothing newer than min_os: nothing to say
    table = load_recipes(None)
    recipe_id, row = watch.candidate_row(table, "tensorflow", "2.23.0", "1.3.0", ["3.11"], "12.1", "2026-12-07")
    text = (REPO / "recipes" / "recipes.toml").read_text(encoding="utf-8") + row
    copy = tmp_path / "recipes.toml"
    copy.write_text(watch.add_to_notes(text, recipe_id, sentence), encoding="utf-8")
    (tmp_path / "locks").symlink_to(REPO / "recipes" / "locks")
    written = next(r for r in load_recipes(copy).recipes if r.id == recipe_id)
    assert written.notes.endswith(sentence) and "tensorflow-io-gcs-filesystem" in written.notes
    assert "14.0" in written.notes and "then decide whether it becomes the default." in written.notes
