"""The must-hold / drift split of `scripts/lock_recipes.py --check`: pure, no network."""
from __future__ import annotations

from tfsetup.recipes import Recipe

from tests.conftest import load_script

lr = load_script("lock_recipes")

H_TF, H_NP, H_NP_MAC, H_CN = "a" * 64, "b" * 64, "c" * 64, "d" * 64


def _recipe(**kw) -> Recipe:
    base = dict(id="linux-x86_64-cpu-test", os="linux", machine="x86_64", accelerator="cpu",
                distribution="tensorflow-cpu", tensorflow="2.19.1", pythons=("3.11",), default=False,
                status="legacy", summary="", notes="", sources=("https://pypi.org/simple/tensorflow-cpu/",),
                min_glibc="2.28", requirements=("numpy<2.2",))
    base.update(kw)
    return Recipe(**base)


def _lock(recipe: Recipe, numpy_hashes=(H_NP,)) -> str:
    entries = [("charset-normalizer", "3.5.2", [H_CN]), ("numpy", "2.1.3", list(numpy_hashes)),
               ("tensorflow-cpu", "2.19.1", [H_TF])]
    return lr.render_lock(recipe, "3.11", entries, today="2026-11-25")


def _pep691(files):
    return {"files": [dict(filename=f, hashes={"sha256": h}, yanked=y) for f, h, y in files]}


def _listings(*, cn_patch=False, yank_numpy=False, drop_numpy_hash=False, numpy_gone=False):
    cn = [("charset_normalizer-3.5.2-py3-none-any.whl", H_CN, False)]
    if cn_patch:
        cn.append(("charset_normalizer-3.5.3-py3-none-any.whl", "e" * 64, False))
    np = [] if numpy_gone else [
        ("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
         "f" * 64 if drop_numpy_hash else H_NP, "broken build" if yank_numpy else False),
        ("numpy-2.1.3-cp311-cp311-macosx_14_0_arm64.whl", H_NP_MAC, False),
    ]
    tf = [("tensorflow_cpu-2.19.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", H_TF, False)]
    return {"charset-normalizer": lr.parse_pep691(_pep691(cn), "charset-normalizer"),
            "numpy": lr.parse_pep691(_pep691(np), "numpy"),
            "tensorflow-cpu": lr.parse_pep691(_pep691(tf), "tensorflow-cpu")}


def _pins(text):
    from tfsetup.recipes import parse_lock_text
    return parse_lock_text(text, "x")


def test_a_clean_lock_holds_and_does_not_drift():
    recipe = _recipe()
    text = _lock(recipe)
    report = lr.classify(recipe, "3.11", text, _listings(), resolves_to=_pins(text))
    assert report.ok and report.drift == []


def test_a_newer_patch_release_is_drift_not_failure():
    recipe = _recipe()
    text = _lock(recipe)
    report = lr.classify(recipe, "3.11", text, _listings(cn_patch=True), resolves_to=_pins(text))
    assert report.ok, report.failures
    assert report.drift == ["~ charset-normalizer 3.5.2 -> 3.5.3 (newer on the index)"]


def test_drift_from_a_fresh_resolution_is_not_a_failure():
    recipe = _recipe()
    text = _lock(recipe)
    fresh = dict(_pins(text), **{"charset-normalizer": "3.5.3"})
    report = lr.classify(recipe, "3.11", text, _listings(cn_patch=True), resolves_to=_pins(text), fresh=fresh)
    assert report.ok and report.drift == ["~ charset-normalizer 3.5.2 -> 3.5.3"]


def test_a_pinned_hash_missing_from_the_index_fails():
    recipe = _recipe()
    report = lr.classify(recipe, "3.11", _lock(recipe), _listings(drop_numpy_hash=True))
    assert not report.ok
    assert any("numpy==2.1.3" in f and "not on the index" in f for f in report.failures), report.failures


def test_a_yanked_pin_fails():
    recipe = _recipe()
    report = lr.classify(recipe, "3.11", _lock(recipe), _listings(yank_numpy=True))
    assert [f for f in report.failures if "yanked" in f] == [
        "numpy==2.1.3: yanked (numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl: broken build)"]


def test_a_version_gone_from_the_index_fails():
    recipe = _recipe()
    report = lr.classify(recipe, "3.11", _lock(recipe), _listings(numpy_gone=True))
    assert report.failures == ["numpy==2.1.3: version no longer on the index"]


def test_only_hashes_of_another_platform_fail():
    recipe = _recipe()
    report = lr.classify(recipe, "3.11", _lock(recipe, numpy_hashes=(H_NP_MAC,)), _listings())
    assert report.failures == ["numpy==2.1.3: no pinned hash is a wheel for linux-x86_64 cp311"]


def test_a_lock_that_no_longer_satisfies_the_recipe_fails():
    locked = _recipe()
    text = _lock(locked)
    changed = _recipe(requirements=("numpy<2",), tensorflow="2.19.0")
    report = lr.classify(changed, "3.11", text, _listings(), resolves_to=_pins(text))
    assert any(f.startswith("tensorflow-cpu: pinned 2.19.1") for f in report.failures)
    assert any("requirement numpy<2: pinned numpy==2.1.3" in f for f in report.failures)
    assert any(f.startswith("header input:") for f in report.failures)


def test_a_lock_resolved_for_another_deployment_target_fails():
    old = _recipe(id="mac", os="macos", machine="arm64", distribution="tensorflow", min_glibc=None, min_os="12.0")
    new = _recipe(id="mac", os="macos", machine="arm64", distribution="tensorflow", min_glibc=None, min_os="12.1")
    report = lr.classify(new, "3.11", _lock(old), {})
    assert any("MACOSX_DEPLOYMENT_TARGET=12.1" in f for f in report.failures)


def test_pins_that_stop_resolving_fail():
    recipe = _recipe()
    text = _lock(recipe)
    report = lr.classify(recipe, "3.11", text, _listings(), resolves_to=lr.ResolveError("no solution"))
    assert report.failures == ["the lock's own pins no longer resolve: no solution"]
    extra = dict(_pins(text), six="1.17.0")
    report = lr.classify(recipe, "3.11", text, _listings(), resolves_to=extra)
    assert report.failures == ["the lock's own pins resolve to a different set: + six==1.17.0"]


def test_the_header_records_the_resolutions_cutoff():
    text = lr.render_lock(_recipe(), "3.11", [("numpy", "2.1.3", [H_NP])], resolved="2026-11-30T10:11:12Z", uv="0.13.9")
    head = lr.read_header(text)
    assert head["date"] == "2026-11-30" and head["exclude-newer"] == "2026-11-30T10:11:12Z (uv 0.13.9)"


def test_check_exit_codes_are_documented():
    assert "exit: 0 ok; 1 must-hold failure; 2 usage; 3 drift with --fail-on-drift" in open(lr.__file__).read()
