"""prove/trees.py: a second proof of the same inputs reuses the tree the first fetched (issue 22), never
one of other inputs, never an incomplete one; at most three are kept; TFSETUP_NO_CACHE=1 fetches every
time. The fetch is faked at the OS-command seam (run_step): it writes a tiny TensorFlow-shaped tree."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

import pytest

from tfsetup.backends import get_backend
from tfsetup.backends.base import PackageSource
from tfsetup.prove import fetch as fetch_module
from tfsetup.prove import trees
from tfsetup.prove.proof import fetch_and_prove

from tests.unit.test_macho_reader import GOOD_BINDS, tf_env

PINS = ["tensorflow==2.19.1", "tensorflow-metal==1.2.0"]


@pytest.fixture
def fetches(monkeypatch, tmp_path) -> List[List[str]]:
    """Every fetch's argv; each writes the tree into its --target."""
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TFSETUP_NO_CACHE", raising=False)
    calls: List[List[str]] = []

    def run_step(step: str, argv: Sequence[str], **_kwargs) -> str:
        calls.append(list(argv))
        site = Path(argv[argv.index("--target") + 1])
        tf_env(site, plugin_binds=GOOD_BINDS)
        info = site / "tensorflow-2.19.1.dist-info"
        info.mkdir(parents=True)
        (info / "RECORD").write_text("tensorflow/python/_pywrap_tensorflow_internal.so,,\n")
        return ""

    monkeypatch.setattr(fetch_module, "run_step", run_step)
    return calls


def prove(pins: Sequence[str] = PINS, python: str = "3.11", source: PackageSource = PackageSource(),
          lock: Path = None):
    return fetch_and_prove(get_backend("uv", uv="uv"), "macos-arm64", python, "14.0", "--macos", "pins", source,
                           None, lock=lock, pins=pins)


def tree_root(tmp_path: Path) -> Path:
    return tmp_path / "state" / "prove-trees"


def kept_trees(tmp_path: Path) -> List[str]:
    root = tree_root(tmp_path)
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_a_second_proof_of_the_same_inputs_does_not_fetch(fetches, tmp_path):
    first = prove()
    second = prove(list(reversed(PINS)))  # the same exact pins, in another order
    assert len(fetches) == 1
    assert first.loads and second.loads and first.packages == second.packages == {"tensorflow": "2.19.1"}
    [key] = kept_trees(tmp_path)
    assert (tree_root(tmp_path) / key / trees.MARKER).is_file()
    assert not [p for p in tree_root(tmp_path).iterdir() if p.name.startswith(".")]  # no temporary left


def test_different_inputs_get_different_trees(fetches, tmp_path):
    lock = tmp_path / "a.lock"
    lock.write_text("tensorflow==2.19.1 --hash=sha256:00\n")
    prove()
    prove(["tensorflow==2.19.1"])
    prove(python="3.12")
    prove(source=PackageSource(index_url="https://mirror.example/simple"))
    prove(pins=[], lock=lock)
    lock.write_text("tensorflow==2.19.1 --hash=sha256:01\n")
    prove(pins=[], lock=lock)
    assert len(fetches) == 6  # each fetched: none took another's tree
    base = ("macos-arm64", "3.11", ("aarch64-apple-darwin", {}), None, PINS, PackageSource())
    variants = [("macos-x86_64", *base[1:]), (base[0], "3.12", *base[2:]),
                (*base[:2], ("aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "13.0"}), *base[3:]),
                (*base[:4], PINS[:1], base[5]), (*base[:5], PackageSource(offline=True)),
                (*base[:5], PackageSource(find_links=[str(tmp_path)]))]
    keys = {trees.tree_key(*args) for args in [base, *variants]}
    assert len(keys) == 1 + len(variants)


def test_an_incomplete_tree_is_never_used_and_is_removed(fetches, tmp_path):
    prove()
    [key] = kept_trees(tmp_path)
    (tree_root(tmp_path) / key / trees.MARKER).unlink()  # as if the marker were never written
    assert prove().loads
    assert len(fetches) == 2
    assert (tree_root(tmp_path) / key / trees.MARKER).is_file()  # the fresh, complete one


def test_a_failed_fetch_leaves_no_tree(fetches, tmp_path, monkeypatch):
    def broken(step: str, argv: Sequence[str], **_kwargs) -> str:
        site = Path(argv[argv.index("--target") + 1])
        (site / "half").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch_module, "run_step", broken)
    with pytest.raises(KeyboardInterrupt):
        prove()
    assert list(tree_root(tmp_path).iterdir()) == []


def test_pruning_keeps_the_three_used_last(fetches, tmp_path):
    for age, version in enumerate(("2.16.2", "2.17.1", "2.18.1")):
        before = set(kept_trees(tmp_path))
        prove([f"tensorflow=={version}"])
        [key] = set(kept_trees(tmp_path)) - before
        os.utime(tree_root(tmp_path) / key / trees.MARKER, (1000 + age, 1000 + age))  # used in this order
    prove(["tensorflow==2.16.2"])  # a use: now the newest
    assert len(fetches) == 3
    prove(["tensorflow==2.19.1"])  # a fourth: the one used longest ago (2.17.1) goes
    assert len(fetches) == 4 and len(kept_trees(tmp_path)) == 3
    prove(["tensorflow==2.16.2"])
    prove(["tensorflow==2.18.1"])
    assert len(fetches) == 4
    prove(["tensorflow==2.17.1"])
    assert len(fetches) == 5


def test_no_cache_fetches_every_time(fetches, tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_NO_CACHE", "1")
    prove()
    prove()
    assert len(fetches) == 2 and not tree_root(tmp_path).exists()


def test_keep_fetches_into_the_given_folder(fetches, tmp_path):
    site = tmp_path / "mine" / "site-packages"
    result = fetch_and_prove(get_backend("uv", uv="uv"), "macos-arm64", "3.11", "14.0", "--macos", "pins",
                             PackageSource(), None, pins=PINS, keep=site)
    assert result.loads and (site / "tensorflow-2.19.1.dist-info").is_dir()
    assert fetches[0][fetches[0].index("--target") + 1] == str(site) and not tree_root(tmp_path).exists()


def test_a_tree_a_proof_is_reading_is_never_pruned(fetches, tmp_path):
    """Two proofs at once (or the release watch's): pruning must not pull a tree from under a proof that is
    reading it, which would report its files missing. It is removed once no proof holds it."""
    prove(["tensorflow==2.16.2"])
    [held_key] = kept_trees(tmp_path)
    os.utime(tree_root(tmp_path) / held_key / trees.MARKER, (1000, 1000))  # the one used longest ago
    with trees.held_tree(tree_root(tmp_path), held_key, lambda site: None) as (site, reused):
        assert reused and (site / "tensorflow").is_dir()
        for version in ("2.17.1", "2.18.1", "2.19.1"):  # three newer trees: the held one is over KEEP
            prove([f"tensorflow=={version}"])
        assert held_key in kept_trees(tmp_path) and len(kept_trees(tmp_path)) == 4
        assert (site / "tensorflow").is_dir()
    os.utime(tree_root(tmp_path) / held_key / trees.MARKER, (1000, 1000))
    prove(["tensorflow==2.20.0"])  # the next prune: nobody holds it now
    assert held_key not in kept_trees(tmp_path) and len(kept_trees(tmp_path)) == 3


def test_a_prune_that_wins_the_race_is_seen_by_the_proof_that_loses_it(fetches, tmp_path, monkeypatch):
    """A prune moves a tree away between a proof's open of its marker and its lock: the proof sees the
    marker is no longer the tree's and fetches a fresh one instead of reading a deleted tree."""
    prove()
    [key] = kept_trees(tmp_path)
    real_lock = trees._lock

    def lock_after_a_prune(handle, exclusive, wait=True):
        if not exclusive:
            trees._remove(tree_root(tmp_path), tree_root(tmp_path) / key)  # the other process's prune
        return real_lock(handle, exclusive, wait)

    monkeypatch.setattr(trees, "_lock", lock_after_a_prune)
    assert trees._hold(tree_root(tmp_path) / key) is None
    monkeypatch.setattr(trees, "_lock", real_lock)
    assert prove().loads and len(fetches) == 2
