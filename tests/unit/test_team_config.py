"""Project config, flag merging and the team lock's pure parts (no network)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE, TfsetupError
from tfsetup.recipes import load_recipes
from tfsetup.team.config import ConfigError, find_config, load_config
from tfsetup.team.lockfile import (read_team_lock, render_lock, section_specs,
                                   stale_reasons)
from tfsetup.request import Flags, merge
from tfsetup.team.wheelhouse import LockText, wanted_wheels

TABLE = load_recipes()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_found_from_a_subdirectory_and_pyproject_table(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.tfsetup]\ntensorflow = "2.19"\n')
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    found = find_config(deep)
    assert found == tmp_path / "pyproject.toml"
    assert load_config(found).tensorflow == "2.19"
    # a tfsetup.toml nearer the start wins; a pyproject without the table is not a config
    write(deep / "tfsetup.toml", 'python = "3.11"\n')
    assert find_config(deep) == deep / "tfsetup.toml"
    write(tmp_path / "other" / "pyproject.toml", '[project]\nname = "y"\n')
    assert find_config(tmp_path / "other") == tmp_path / "pyproject.toml"


def test_every_key(tmp_path):
    write(tmp_path / "extra.txt", "# team extras\npandas==2.2.3  # data\n\nrequests>=2\n")
    cfg = load_config(write(tmp_path / "tfsetup.toml", """
tensorflow = "2.19.1"
python = "3.11"
env = "envs/tf"
cpu-only = true
packages = ["six==1.17.0"]
requirements = "extra.txt"
index-url = "https://pypi.example.org/simple"
extra-index-urls = ["https://mirror.example.org/simple"]
find-links = ["wheels", "https://files.example.org/wheels/"]
platforms = ["macos-arm64", "linux-x86_64"]
python-downloads = "never"
managed-python = true
python-mirror = "https://mirror.example.org/python-build-standalone"
python-downloads-json-url = "pythons.json"
"""))
    assert cfg.env_path() == tmp_path / "envs" / "tf"
    assert (cfg.python_downloads, cfg.managed_python) == ("never", True)
    assert cfg.python_mirror == "https://mirror.example.org/python-build-standalone"
    assert cfg.python_downloads_json_url == str(tmp_path / "pythons.json")  # relative to the config file
    assert cfg.extra_requirements() == ["six==1.17.0", "pandas==2.2.3", "requests>=2"]
    assert cfg.find_links_resolved() == [str(tmp_path / "wheels"), "https://files.example.org/wheels/"]
    assert cfg.index_urls() == ["https://pypi.example.org/simple", "https://mirror.example.org/simple"]


@pytest.mark.parametrize("text, words", [
    ('tensorflw = "2.19"\n', ["'tensorflw' is not a known setting"]),
    ('tensorflow = 2.19\n', ["'tensorflow'", "quoted string"]),
    ('python = 3.10\n', ["'python'", "quoted string", "bare 3.10 as 3.1"]),
    ('env = ""\n', ["'env'", "non-empty string"]),
    ('tensorflow = "latest"\n', ["'tensorflow'", "2.19"]),
    ('python = "3"\n', ["'python'"]),
    ('cpu-only = "yes"\n', ["'cpu-only'", "true or false"]),
    ('packages = "pandas"\n', ["'packages'", "list"]),
    ('packages = ["-e ."]\n', ["'packages'", "not a requirement"]),
    ('packages = ["--index-url=https://evil.example/simple pandas"]\n', ["not a requirement"]),
    ('packages = ["pkg @ https://example.org/pkg.whl"]\n', ["direct URL"]),
    ('index-url = "pypi.org"\n', ["'index-url'", "URL"]),
    ('index-url = "https://x.org/simple; rm -rf ~"\n', ["'index-url'"]),
    ('platforms = ["amiga"]\n', ["unknown platform 'amiga'"]),
    ('python-downloads = "always"\n', ["'python-downloads'", '"auto" or "never"']),
    ('managed-python = "yes"\n', ["'managed-python'", "true or false"]),
    ('python-mirror = "mirror.example.org"\n', ["'python-mirror'", "URL"]),
    ('tensorflow = "2.19"\ntensorflow = "2.18"\n', ["not valid TOML"]),
])
def test_bad_values_name_the_key_and_file(tmp_path, text, words):
    path = write(tmp_path / "tfsetup.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert str(path) in caught.value.message
    for word in words:
        assert word in caught.value.message


def test_pyproject_table_errors_name_the_dotted_key(tmp_path):
    path = write(tmp_path / "pyproject.toml", '[tool.tfsetup]\ncpu_only = true\n')
    with pytest.raises(ConfigError, match=r"'tool\.tfsetup\.cpu_only' is not a known setting"):
        load_config(path)


def test_requirements_file_lines_are_checked(tmp_path):
    write(tmp_path / "extra.txt", "pandas==2.2.3\n--extra-index-url https://evil.example/simple\n")
    cfg = load_config(write(tmp_path / "tfsetup.toml", 'requirements = "extra.txt"\n'))
    with pytest.raises(ConfigError, match=r"extra\.txt:2"):
        cfg.extra_requirements()


def test_flags_override_the_config(tmp_path):
    cfg = load_config(write(tmp_path / "tfsetup.toml",
                            'tensorflow = "2.19"\npython = "3.11"\ncpu-only = true\nenv = "tfenv"\n'
                            'find-links = ["wh"]\nindex-url = "https://a.example/simple"\n'))
    from_config = merge(Flags(), cfg)
    assert (from_config.request.tf, from_config.request.python, from_config.request.accelerator) == \
        ("2.19", "3.11", "cpu")
    assert from_config.target == tmp_path / "tfenv"
    assert from_config.source.index_url == "https://a.example/simple"
    assert from_config.source.find_links == [str(tmp_path / "wh")]
    flagged = merge(Flags(tf="2.15", python="3.10", path=Path("elsewhere"), index_url="https://b.example/simple"),
                    cfg)
    assert (flagged.request.tf, flagged.request.python) == ("2.15", "3.10")
    assert flagged.target == Path("elsewhere")
    assert flagged.source.index_url == "https://b.example/simple"
    outside = merge(Flags(), None)
    assert outside.target == Path(".venv") and outside.request.accelerator is None


def test_offline_engine_arguments():
    """Offline with a wheelhouse: only the wheelhouse. Offline without one: only uv's cache (keyed by
    the index, so the index URL stays). pip has no cache-only mode: no index at all."""
    from tfsetup.backends.base import PackageSource

    uv = {"no_network": ["--offline"], "no_index": ["--no-index"]}
    pip = {"no_network": ["--no-index"], "no_index": []}
    house = PackageSource(index_url="https://a.example/simple", find_links=["/wh"], offline=True)
    assert house.args(**uv) == ["--offline", "--no-index", "--find-links", "/wh"]
    assert house.args(**pip) == ["--no-index", "--find-links", "/wh"]
    cache_only = merge(Flags(offline=True, index_url="https://a.example/simple"), None).source
    assert cache_only.args(**uv) == ["--offline", "--index-url", "https://a.example/simple"]
    assert cache_only.args(**pip)[0] == "--no-index"
    online = PackageSource(index_url="https://a.example/simple", extra_index_urls=["https://b.example/simple"])
    assert online.args(**uv) == online.args(**pip) == [
        "--index-url", "https://a.example/simple", "--extra-index-url", "https://b.example/simple"]


def _config(tmp_path, text):
    return load_config(write(tmp_path / "tfsetup.toml", text))


def test_section_specs_pick_the_platform_recipes(tmp_path):
    cfg = _config(tmp_path, 'platforms = ["macos-arm64", "linux-x86_64", "linux-x86_64-cuda"]\n'
                            'packages = ["pandas==2.2.3"]\n')
    specs = section_specs(TABLE, cfg, cfg.platforms, [], cfg.extra_requirements())
    by_platform = {s.platform: s for s in specs}
    # no Python given: the newest every platform's recipe supports (Metal stops at 3.12)
    assert {s.python for s in specs} == {"3.12"}
    assert by_platform["macos-arm64"].recipe.id == "macos-arm64-metal-tf2.19"
    assert by_platform["linux-x86_64"].recipe.id == "linux-x86_64-cpu-tf2.21"
    assert by_platform["linux-x86_64-cuda"].recipe.id == "linux-x86_64-cuda-tf2.21"
    assert all(s.requirements[-1] == "pandas==2.2.3" for s in specs)
    cpu = _config(tmp_path, 'platforms = ["macos-arm64"]\ncpu-only = true\n')
    assert section_specs(TABLE, cpu, cpu.platforms, ["3.13"], [])[0].recipe.id == "macos-arm64-cpu-tf2.21"


def test_section_specs_refuse_what_cannot_exist(tmp_path):
    cfg = _config(tmp_path, 'tensorflow = "2.21"\nplatforms = ["macos-arm64"]\n')
    with pytest.raises(TfsetupError) as caught:  # no Metal recipe for 2.21: the plug-in does not load
        section_specs(TABLE, cfg, cfg.platforms, [], [])
    assert caught.value.exit_code == EXIT_NO_RECIPE
    cfg = _config(tmp_path, 'platforms = ["macos-arm64"]\n')
    with pytest.raises(TfsetupError, match="supports Python 3.13"):
        section_specs(TABLE, cfg, cfg.platforms, ["3.13"], [])


def test_lock_round_trip_and_staleness(tmp_path):
    cfg = _config(tmp_path, 'platforms = ["macos-arm64", "linux-x86_64"]\npython = "3.11"\n'
                            'packages = ["six==1.17.0"]\n')
    specs = section_specs(TABLE, cfg, cfg.platforms, ["3.11"], cfg.extra_requirements())
    text = "six==1.17.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    cfg.lock_path.write_text(render_lock(cfg, specs, [text, text]))
    lock = read_team_lock(cfg.lock_path)
    assert [(s.platform, s.python, s.recipe) for s in lock.sections] == \
        [("macos-arm64", "3.11", "macos-arm64-metal-tf2.19"), ("linux-x86_64", "3.11", "linux-x86_64-cpu-tf2.21")]
    assert lock.sections[0].pins() == {"six": "1.17.0"}
    assert stale_reasons(lock, cfg, specs) == []
    # a changed extra package makes every section stale; a dropped platform is reported too
    changed = _config(tmp_path, 'platforms = ["linux-x86_64"]\npython = "3.11"\npackages = ["six==1.16.0"]\n')
    new_specs = section_specs(TABLE, changed, changed.platforms, ["3.11"], changed.extra_requirements())
    reasons = stale_reasons(lock, changed, new_specs)
    assert any("linux-x86_64 py3.11: the config or recipe changed" in r for r in reasons)
    assert any("macos-arm64 py3.11: no longer asked for" in r for r in reasons)


@pytest.mark.parametrize("mutate, words", [
    (lambda t: t[: len(t) // 2], ["not valid TOML"]),
    (lambda t: t.replace("version = 1", "version = 7"), ["'version' must be 1"]),
    (lambda t: t.replace('python = "3.11"', "python = 3.11", 1), ["section[0]"]),
    (lambda t: t.replace('platform = "linux-x86_64"', 'platform = "vax"'), ["unknown platform"]),
    (lambda t: t.replace("version = 1", "version = 1\nsurprise = true"), ["unknown key 'surprise'"]),
    (lambda t: t.replace("--hash=sha256:", "--hush=sha256:"), ["not a pinned requirement"]),
    (lambda t: t.replace(" \\\n    --hash=sha256:" + "a" * 64, ""), ["no hashes"]),
])
def test_malformed_lock_is_one_clear_error(tmp_path, mutate, words):
    cfg = _config(tmp_path, 'platforms = ["linux-x86_64"]\npython = "3.11"\n')
    specs = section_specs(TABLE, cfg, cfg.platforms, ["3.11"], [])
    good = render_lock(cfg, specs, ["six==1.17.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"])
    cfg.lock_path.write_text(mutate(good))
    with pytest.raises(TfsetupError) as caught:
        read_team_lock(cfg.lock_path)
    assert caught.value.exit_code == EXIT_BAD_INPUT and "tfsetup lock" in (caught.value.fix or "")
    for word in words:
        assert word in caught.value.message


def test_wheelhouse_takes_only_compatible_wheels_the_lock_allows():
    lock = LockText("linux-x86_64", "3.11", "numpy==2.1.3 \\\n    --hash=sha256:" + "d" * 64 +
                    " \\\n    --hash=sha256:" + "e" * 64 + "\nsix==1.17.0 \\\n    --hash=sha256:" + "5" * 64 + "\n")
    listing = {
        ("numpy", "2.1.3"): [
            ("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "d" * 64),
            ("numpy-2.1.3-cp311-cp311-macosx_11_0_arm64.whl", "e" * 64),  # allowed, wrong platform
            ("numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "f" * 64),  # not locked
        ],
        ("six", "1.17.0"): [("six-1.17.0-py2.py3-none-any.whl", "5" * 64), ("six-1.17.0.tar.gz", "6" * 64)],
    }
    wanted = wanted_wheels(lock, lambda n, v: listing[(n, v)])
    assert sorted(w.filename for w in wanted) == [
        "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "six-1.17.0-py2.py3-none-any.whl"]
    with pytest.raises(TfsetupError, match="no wheel of numpy==2.1.3"):
        wanted_wheels(LockText("windows-x86_64", "3.11", lock.requirements), lambda n, v: listing[(n, v)])


def test_the_readme_example_config_is_valid_and_plans_what_the_readme_says(tmp_path):
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    block = readme.split("## For teams", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = _config(tmp_path, block)  # as copied: no file it names needs to exist yet
    specs = section_specs(TABLE, cfg, cfg.platforms, [cfg.python], cfg.extra_requirements())
    assert {s.platform: s.recipe.tensorflow for s in specs} == {
        "macos-arm64": "2.19.1", "macos-x86_64": "2.16.2", "linux-x86_64": "2.21.0", "linux-x86_64-cuda": "2.21.0"}
    assert all(s.requirements[-1:] == ("pandas==2.2.3",) for s in specs)
    # its commented-out `requirements` line, once that file exists, adds to the extras
    write(tmp_path / "requirements-ml.txt", "scikit-learn>=1.5\n")
    cfg = _config(tmp_path, block.replace('# requirements = "requirements-ml.txt"', 'requirements = "requirements-ml.txt"'))
    specs = section_specs(TABLE, cfg, cfg.platforms, [cfg.python], cfg.extra_requirements())
    assert all(s.requirements[-2:] == ("pandas==2.2.3", "scikit-learn>=1.5") for s in specs)


def test_flags_choose_among_the_lock_sections_never_outside_them():
    from tfsetup.plan import PlanRequest
    from tfsetup.team.lockfile import LockSection, TeamLock
    from tfsetup.team.project import sections_for_request

    def section(python, recipe):
        return LockSection("linux-x86_64", python, recipe, "x86_64-manylinux_2_28", "d", "")

    both = [section("3.11", "linux-x86_64-cpu-tf2.21"), section("3.12", "linux-x86_64-cpu-tf2.21")]
    lock = TeamLock(path=Path("/team/tfsetup.lock"), inputs={}, sections=tuple(both))
    assert sections_for_request(lock, both, TABLE, PlanRequest()) == both
    assert sections_for_request(lock, both, TABLE, PlanRequest(python="3.12")) == both[1:]
    assert sections_for_request(lock, both, TABLE, PlanRequest(tf="2.21")) == both
    for request in (PlanRequest(python="3.13"), PlanRequest(tf="2.19"),
                    PlanRequest(recipe_id="linux-x86_64-cpu-tf2.19")):
        with pytest.raises(TfsetupError) as caught:
            sections_for_request(lock, both, TABLE, request)
        assert caught.value.exit_code == EXIT_BAD_INPUT and "not in tfsetup.lock" in caught.value.message
        assert "--no-project" in caught.value.fix
