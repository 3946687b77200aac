"""`scripts/lock_recipes.py --check`'s cached resolutions: a result is reused only while every index page
uv read for it is unchanged (no network: the index fetch and the uv run are replaced)."""
from __future__ import annotations

import stat
from pathlib import Path
from typing import Dict, List

import pytest

from tfsetup.recipes import Recipe
from tfsetup.resolve import ResolveError, uv_compile

from tests.conftest import load_script

lr = load_script("lock_recipes")

URL = "https://pypi.org/simple"
UV_LOG = (
    "DEBUG Using request connect timeout of 10s and read timeout of 30s\n"
    "DEBUG Found stale response for: https://pypi.org/simple/numpy/\n"
    "DEBUG Sending revalidation request for: https://pypi.org/simple/numpy/\n"
    "DEBUG No cache entry for: https://pypi.org/simple/Tensorflow_CPU/\n"
    "DEBUG Found stale response for: https://pypi.org/simple/six/\n"
    "DEBUG Sending revalidation request for: https://pypi.org/simple/six/\n"
    "DEBUG Found stale response for: https://files.pythonhosted.org/packages/59/03/9a/"
    "tensorflow_cpu-2.19.1-cp311-cp311-manylinux_2_17_x86_64.whl\n"
)


def _recipe() -> Recipe:
    return Recipe(id="linux-x86_64-cpu-test", os="linux", machine="x86_64", accelerator="cpu",
                  distribution="tensorflow-cpu", tensorflow="2.19.1", pythons=("3.11",), default=False,
                  status="legacy", summary="", notes="", sources=("https://pypi.org/simple/tensorflow-cpu/",),
                  min_glibc="2.28", requirements=("numpy<2.2",))


def _doc(*files: str, yanked: bool = False) -> Dict[str, object]:
    return {"meta": {"api-version": "1.1"}, "versions": sorted({f.split("-")[1] for f in files}),
            "files": [{"filename": f, "hashes": {"sha256": f"{i:064x}"}, "yanked": yanked} for i, f in enumerate(files)]}


NUMPY = "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl"
TF = "tensorflow_cpu-2.19.1-cp311-cp311-manylinux_2_17_x86_64.whl"
SIX = "six-1.17.0-py2.py3-none-any.whl"


class PagesIndex(lr.Index):
    """The index with its HTTP fetch replaced by fixed pages."""

    def __init__(self, pages: Dict[str, Dict[str, object]]) -> None:
        super().__init__(URL)
        self.pages = pages

    def _fetch(self, name: str) -> Dict[str, object]:
        if name not in self.pages:
            raise ResolveError(f"no page {name}")
        return self.pages[name]


def _index(pages: Dict[str, Dict[str, object]]) -> PagesIndex:
    """This run's index, its pages fetched before any resolution (as --check prefetches them)."""
    index = PagesIndex(pages)
    index.prefetch(["numpy", "tensorflow-cpu", "six"])
    return index


@pytest.fixture
def uv_runs(monkeypatch) -> List[List[str]]:
    """Replace the uv command: it 'resolves' to numpy + tensorflow-cpu and logs the pages it read."""
    runs: List[List[str]] = []

    def fake_compile(uv, recipe, python, lines, *, http_log=None, **kw):
        runs.append(list(lines))
        if http_log is not None:
            http_log.append(UV_LOG)
        return "numpy==2.1.3\ntensorflow-cpu==2.19.1\n"

    monkeypatch.setattr(lr, "uv_compile", fake_compile)
    return runs


def _pages(**changed: Dict[str, object]) -> Dict[str, Dict[str, object]]:
    pages = {"numpy": _doc(NUMPY), "tensorflow-cpu": _doc(TF), "six": _doc(SIX)}
    pages.update(changed)
    return pages


def _resolve(index: lr.Index, cache: "lr.ResolutionCache", uv_ver: str = "0.13.10") -> Dict[str, str]:
    return lr.resolve_cached("uv", _recipe(), "3.11", ["tensorflow-cpu==2.19.1", "numpy<2.2"], index, cache, uv_ver)


def test_uv_log_names_the_index_pages_it_read() -> None:
    assert lr.consulted_pages(UV_LOG, URL) == {"numpy", "tensorflow-cpu", "six"}
    assert lr.consulted_pages(UV_LOG, "https://mirror.example/simple/") == set()


def test_a_page_fingerprint_sees_a_new_file_and_a_yank_but_not_key_order() -> None:
    base = lr.page_fingerprint(_doc(NUMPY))
    assert lr.page_fingerprint(_doc(NUMPY, "numpy-2.1.4-cp311-cp311-manylinux_2_17_x86_64.whl")) != base
    assert lr.page_fingerprint(_doc(NUMPY, yanked=True)) != base
    reordered = {k: v for k, v in reversed(list(_doc(NUMPY).items()))}
    assert lr.page_fingerprint(reordered) == base


def test_a_resolution_is_reused_while_the_pages_are_unchanged(tmp_path: Path, uv_runs) -> None:
    cache = lr.ResolutionCache(tmp_path)
    assert _resolve(_index(_pages()), cache) == {"numpy": "2.1.3", "tensorflow-cpu": "2.19.1"}
    again = lr.ResolutionCache(tmp_path)  # the next run: a new index fetch, the same pages
    assert _resolve(_index(_pages()), again) == {"numpy": "2.1.3", "tensorflow-cpu": "2.19.1"}
    assert len(uv_runs) == 1 and (cache.resolved, again.reused) == (1, 1)


@pytest.mark.parametrize("changed", [
    {"numpy": _doc(NUMPY, "numpy-2.1.4-cp311-cp311-manylinux_2_17_x86_64.whl")},  # a new release
    {"tensorflow-cpu": _doc(TF, yanked=True)},  # a yank
    {"six": _doc(SIX, "six-1.18.0-py2.py3-none-any.whl")},  # a page uv read that is not in the result
], ids=["new-release", "yank", "page-read-not-pinned"])
def test_a_changed_page_runs_uv_again(tmp_path: Path, uv_runs, changed) -> None:
    _resolve(_index(_pages()), lr.ResolutionCache(tmp_path))
    _resolve(_index(_pages(**changed)), lr.ResolutionCache(tmp_path))
    assert len(uv_runs) == 2


def test_a_page_that_cannot_be_fetched_runs_uv_again(tmp_path: Path, uv_runs) -> None:
    _resolve(_index(_pages()), lr.ResolutionCache(tmp_path))
    pages = _pages()
    del pages["six"]
    _resolve(_index(pages), lr.ResolutionCache(tmp_path))
    assert len(uv_runs) == 2


def test_another_uv_version_or_no_cache_runs_uv_again(tmp_path: Path, uv_runs) -> None:
    _resolve(_index(_pages()), lr.ResolutionCache(tmp_path))
    _resolve(_index(_pages()), lr.ResolutionCache(tmp_path), uv_ver="0.14.0")
    _resolve(_index(_pages()), lr.ResolutionCache(tmp_path), uv_ver="?")  # version unknown: never reused
    _resolve(_index(_pages()), lr.ResolutionCache(None))
    assert len(uv_runs) == 4


def test_a_log_that_misses_a_resolved_package_is_not_stored(tmp_path: Path, monkeypatch) -> None:
    runs = []

    def fake_compile(uv, recipe, python, lines, *, http_log=None, **kw):
        runs.append(1)
        http_log.append("DEBUG Found stale response for: https://pypi.org/simple/numpy/\n")
        return "numpy==2.1.3\ntensorflow-cpu==2.19.1\n"

    monkeypatch.setattr(lr, "uv_compile", fake_compile)
    for _ in range(2):
        _resolve(_index(_pages()), lr.ResolutionCache(tmp_path))
    assert len(runs) == 2 and not list(tmp_path.iterdir())


def test_a_damaged_entry_is_ignored(tmp_path: Path, uv_runs) -> None:
    _resolve(_index(_pages()), lr.ResolutionCache(tmp_path))
    (entry,) = tmp_path.iterdir()
    entry.write_text(entry.read_text().replace('"2.1.3"', '"2.1.3'))
    assert _resolve(_index(_pages()), lr.ResolutionCache(tmp_path)) == {"numpy": "2.1.3", "tensorflow-cpu": "2.19.1"}
    assert len(uv_runs) == 2


def test_uv_compile_hands_back_the_http_log_and_keeps_it_out_of_errors(tmp_path: Path) -> None:
    """A stand-in uv (the OS command): RUST_LOG asks it for the log; its error comes without the DEBUG lines."""
    uv = tmp_path / "uv"
    uv.write_text("#!/bin/sh\ncat >/dev/null\necho \"DEBUG log=$RUST_LOG https://pypi.org/simple/numpy/\" >&2\n"
                  "echo 'error: No solution found' >&2\nexit 1\n")
    uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
    log: List[str] = []
    with pytest.raises(ResolveError) as caught:
        uv_compile(str(uv), "x86_64-manylinux_2_28", "3.11", ["numpy"], http_log=log)
    assert str(caught.value) == "error: No solution found"
    assert "log=uv_client=debug" in log[0] and lr.consulted_pages(log[0], URL) == {"numpy"}


def _lock_file(tmp_path: Path) -> Path:
    path = tmp_path / "py3.11.txt"
    path.write_text(lr.render_lock(_recipe(), "3.11", [("numpy", "2.1.3", ["0" * 64]),
                                                       ("tensorflow-cpu", "2.19.1", ["0" * 64])], today="2026-12-07"))
    return path


def test_a_fresh_resolution_that_picks_the_pins_stands_for_the_pins_resolution(tmp_path: Path, uv_runs) -> None:
    report = lr.check_lock("uv", _index(_pages()), _recipe(), "3.11", _lock_file(tmp_path))
    assert uv_runs == [["tensorflow-cpu==2.19.1", "numpy<2.2"]]  # one run: the recipe's own input
    assert report.ok and report.drift == []


def test_with_drift_or_with_no_drift_uv_resolves_the_pins(tmp_path: Path, uv_runs, monkeypatch) -> None:
    lr.check_lock("uv", _index(_pages()), _recipe(), "3.11", _lock_file(tmp_path), drift=False)
    assert uv_runs == [["numpy==2.1.3", "tensorflow-cpu==2.19.1"]]
    monkeypatch.setattr(lr, "uv_compile", lambda uv, recipe, python, lines, **kw: uv_runs.append(list(lines)) or
                        ("numpy==2.1.4\ntensorflow-cpu==2.19.1\n" if "numpy<2.2" in lines else
                         "numpy==2.1.3\ntensorflow-cpu==2.19.1\n"))
    report = lr.check_lock("uv", _index(_pages()), _recipe(), "3.11", _lock_file(tmp_path))
    assert uv_runs[1:] == [["tensorflow-cpu==2.19.1", "numpy<2.2"], ["numpy==2.1.3", "tensorflow-cpu==2.19.1"]]
    assert report.drift == ["~ numpy 2.1.3 -> 2.1.4"]


def test_uv_log_tells_which_pages_it_asked_the_index_for() -> None:
    cached = UV_LOG.replace("Sending revalidation request for: https://pypi.org/simple/numpy/",
                            "Found fresh response for: https://pypi.org/simple/numpy/")
    assert lr.pages_from_the_index(UV_LOG, URL) == {"numpy", "tensorflow-cpu", "six"}
    assert lr.pages_from_the_index(cached, URL) == {"tensorflow-cpu", "six"}


@pytest.mark.parametrize("log", [
    UV_LOG.replace("Sending revalidation request for: https://pypi.org/simple/numpy/",
                   "Found fresh response for: https://pypi.org/simple/numpy/"),  # from uv's HTTP cache, unasked
    UV_LOG + "DEBUG No cache entry for: https://pypi.org/simple/protobuf/\n",  # a page this run had not fetched
], ids=["page-from-uvs-http-cache", "page-not-fetched-before-uv"])
def test_a_result_from_pages_this_run_may_not_have_seen_is_not_stored(tmp_path: Path, monkeypatch, log) -> None:
    def fake_compile(uv, recipe, python, lines, *, http_log=None, **kw):
        http_log.append(log)
        return "numpy==2.1.3\ntensorflow-cpu==2.19.1\n"

    monkeypatch.setattr(lr, "uv_compile", fake_compile)
    pages = _pages(protobuf=_doc("protobuf-6.0.0-py3-none-any.whl"))
    _resolve(_index(pages), lr.ResolutionCache(tmp_path))
    assert not list(tmp_path.iterdir())
