"""The managed Python build a team lock pins (team/lockfile.py's [section.python_build], team/python_build.py,
managed_python.python_list_for, request.python_settings): the lock text and its parsing, the choice of a
build from a downloads list, and the one-build list uv is given. Files in a tmp dir; no uv run."""
from __future__ import annotations

import json

import pytest

from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.managed_python import python_list_for, read_list
from tfsetup.pythons import PythonBuild
from tfsetup.recipes import load_recipes
from tfsetup.request import env_python_settings, python_settings
from tfsetup.team.config import ProjectConfig
from tfsetup.team.lockfile import _digest, parse_python_build, read_team_lock, render_lock, section_specs
from tfsetup.team.python_build import (lock_builds, pick_build, release_of, request_for, sha_from_sums, sums_url,
                                       wheelhouse_list)

TABLE = load_recipes()
SHA = "ab" * 32
PINNED = f"six==1.17.0 \\\n    --hash=sha256:{'a' * 64}\n"
GITHUB = "https://github.com/astral-sh/python-build-standalone/releases/download"
BUILD = PythonBuild(key="cpython-3.11.14-linux-x86_64-gnu", version="3.11.14", release="20251217", sha256=SHA,
                    url=f"{GITHUB}/20251217/cpython-3.11.14%2B20251217-x86_64-unknown-linux-gnu-install_only.tar.gz")


def entry(patch: int, sha: str = SHA, **kw) -> dict:
    doc = {"name": "cpython", "arch": {"family": "x86_64", "variant": None}, "os": "linux", "libc": "gnu",
           "major": 3, "minor": 11, "patch": patch, "prerelease": "", "sha256": sha, "variant": None,
           "url": f"file:///pbs/cpython-3.11.{patch}+local-x86_64-unknown-linux-gnu-install_only.tar.gz"}
    doc.update(kw)
    return doc


def lock_text(config: ProjectConfig, builds=None) -> str:
    specs = section_specs(TABLE, config, ["linux-x86_64"], ["3.11"], [])
    return render_lock(config, specs, [PINNED], builds)


# ---------------------------------------------------------------------------------------------
# the lock's text

def test_a_managed_section_pins_its_build_and_reads_back(tmp_path):
    config = ProjectConfig(path=tmp_path / "tfsetup.toml", managed_python=True)
    text = lock_text(config, {("linux-x86_64", "3.11"): BUILD})
    assert "[section.python_build]" in text and f'sha256 = "{SHA}"' in text
    config.lock_path.write_text(text)
    (section,) = read_team_lock(config.lock_path).sections
    assert section.python_build == BUILD
    assert section.pins() == {"six": "1.17.0"}


def test_an_old_lock_without_a_build_still_loads_and_keeps_its_digest(tmp_path):
    config = ProjectConfig(path=tmp_path / "tfsetup.toml")
    text = lock_text(config)
    assert "python_build" not in text
    config.lock_path.write_text(text)
    (section,) = read_team_lock(config.lock_path).sections
    assert section.python_build is None
    spec = section_specs(TABLE, config, ["linux-x86_64"], ["3.11"], [])[0]
    old_inputs = {"platform": "linux-x86_64", "python": "3.11", "recipe": spec.recipe.id,
                  "requirements": list(spec.requirements), "index_urls": [], "find_links": []}
    assert spec.digest(config) == _digest(old_inputs)  # the digest of every lock made before stays
    managed = ProjectConfig(path=config.path, managed_python=True)
    assert spec.digest(managed) != spec.digest(config)  # turning managed-python on makes the lock stale


@pytest.mark.parametrize("change, why", [
    ({"sha256": "AB" * 32}, "64 lowercase hex"),
    ({"sha256": ""}, "non-empty string keys"),
    ({"key": "cpython-3.11.13-linux-x86_64-gnu"}, "is not uv's key of CPython 3.11.14"),
    ({"version": "3.11"}, "is not uv's key"),
    ({"extra": "x"}, "exactly the non-empty string keys"),
])
def test_a_bad_build_table_is_refused_naming_what(change, why):
    with pytest.raises(ValueError, match=why):
        parse_python_build({**BUILD.to_json(), **change})


def test_a_build_of_another_minor_than_its_section_is_exit_2(tmp_path):
    config = ProjectConfig(path=tmp_path / "tfsetup.toml", managed_python=True)
    other = PythonBuild(key="cpython-3.12.1-linux-x86_64-gnu", version="3.12.1", release="local", sha256=SHA,
                        url="file:///x.tar.gz")
    config.lock_path.write_text(lock_text(config, {("linux-x86_64", "3.11"): other}))
    with pytest.raises(TfsetupError) as caught:
        read_team_lock(config.lock_path)
    assert caught.value.exit_code == EXIT_BAD_INPUT and "Python 3.12.1 is not a 3.11" in caught.value.message


# ---------------------------------------------------------------------------------------------
# choosing the build

def test_the_newest_final_build_of_the_minor_for_that_platform_is_picked():
    doc = {"cpython-3.11.9-linux-x86_64-gnu": entry(9),
           "cpython-3.11.12-linux-x86_64-gnu": entry(12),
           "cpython-3.11.13rc1-linux-x86_64-gnu": entry(13, prerelease="rc1"),
           "cpython-3.11.14-linux-aarch64-gnu": entry(14, arch={"family": "aarch64", "variant": None}),
           "cpython-3.11.15+freethreaded-linux-x86_64-gnu": entry(15, variant="freethreaded"),
           "cpython-3.12.1-linux-x86_64-gnu": entry(1, minor=12)}
    key, found = pick_build(doc, "cpython-3.11-linux-x86_64-gnu")
    assert key == "cpython-3.11.12-linux-x86_64-gnu" and found["patch"] == 12
    assert pick_build(doc, "cpython-3.10-linux-x86_64-gnu") is None


def test_request_keys_of_team_platforms():
    assert request_for("macos-arm64", "3.12") == "cpython-3.12-macos-aarch64-none"
    assert request_for("linux-x86_64-cuda", "3.11") == "cpython-3.11-linux-x86_64-gnu"
    assert request_for("windows-x86_64", "3.11") is None


def test_release_and_sums_of_an_archive_url():
    assert release_of(BUILD.url) == "20251217"
    assert release_of("file:///pbs/cpython-3.11.7+local-x86_64-unknown-linux-gnu-install_only.tar.gz") == "local"
    assert release_of("https://example.com/python.tar.gz") == "unknown"
    assert sums_url(BUILD.url, None) == f"{GITHUB}/20251217/SHA256SUMS"
    assert sums_url(BUILD.url, "file:///mirror/") == "file:///mirror/20251217/SHA256SUMS"
    sums = f"{'c' * 64}  other.tar.gz\n{SHA}  cpython-3.11.14+20251217-x86_64-unknown-linux-gnu-install_only.tar.gz\n"
    assert sha_from_sums(sums, BUILD.url) == SHA
    assert sha_from_sums(sums, BUILD.url.replace("3.11.14", "3.11.13")) is None


def test_lock_builds_read_the_projects_list_only_when_the_python_is_managed(tmp_path):
    listing = tmp_path / "downloads.json"
    listing.write_text(json.dumps({"cpython-3.11.12-linux-x86_64-gnu": entry(12)}))
    config = ProjectConfig(path=tmp_path / "tfsetup.toml", managed_python=True, python_downloads_json_url=str(listing))
    builds = lock_builds(config, [("linux-x86_64", "3.11"), ("windows-x86_64", "3.11")])
    assert list(builds) == [("linux-x86_64", "3.11")]  # Windows: no managed Python there
    build = builds[("linux-x86_64", "3.11")]
    assert (build.key, build.version, build.release, build.sha256) == \
        ("cpython-3.11.12-linux-x86_64-gnu", "3.11.12", "local", SHA)
    assert lock_builds(ProjectConfig(path=config.path, python_downloads_json_url=str(listing)),
                       [("linux-x86_64", "3.11")]) == {}
    with pytest.raises(TfsetupError) as caught:
        lock_builds(config, [("macos-arm64", "3.11")])
    assert caught.value.exit_code == EXIT_BAD_INPUT and "no build for macos-arm64 py3.11" in caught.value.message


# ---------------------------------------------------------------------------------------------
# the list uv is given at install

def test_uv_gets_exactly_the_locked_build_at_the_wheelhouses_relative_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    house = tmp_path / "house"
    house.mkdir()
    relative = dict(entry(14), url="python/cpython-3.11.14%2B20251217.tar.gz")
    (house / "python-downloads.json").write_text(json.dumps({BUILD.key: relative}))
    written = read_list(python_list_for(BUILD, [None, str(house / "python-downloads.json")]))
    assert list(written) == [BUILD.key]
    assert written[BUILD.key]["sha256"] == SHA and written[BUILD.key]["patch"] == 14
    assert written[BUILD.key]["url"] == (house / "python" / "cpython-3.11.14+20251217.tar.gz").as_uri()
    # no list has it: the lock's own url
    alone = read_list(python_list_for(BUILD, []))
    assert alone[BUILD.key]["url"] == BUILD.url


def test_a_list_naming_another_sha256_than_the_lock_is_exit_4(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    listing = tmp_path / "downloads.json"
    listing.write_text(json.dumps({BUILD.key: entry(14, sha="cd" * 32)}))
    with pytest.raises(TfsetupError) as caught:
        python_list_for(BUILD, [str(listing)])
    assert caught.value.exit_code == EXIT_INSTALL_FAILED and caught.value.details == {"target_unchanged": True}
    assert "but the team lock pins abababababab" in caught.value.message
    assert not (tmp_path / "state" / "python-lists").exists() or not any((tmp_path / "state" / "python-lists").iterdir())


# ---------------------------------------------------------------------------------------------
# the settings: one reader for install, upgrade and doctor --fix

def test_a_wheelhouse_with_archives_lets_an_offline_install_use_them(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    assert python_settings(None, offline=True, find_links=[str(house)]).downloads == "never"
    (house / "python-downloads.json").write_text("{}")
    settings = python_settings(None, offline=True, find_links=["https://example.com/simple", str(house)])
    assert settings.downloads == "auto" and settings.source.offline
    assert settings.source.archives == str(house / "python-downloads.json")


def test_an_envs_project_settings_are_read_from_the_config_its_record_names(tmp_path):
    config = tmp_path / "tfsetup.toml"
    config.write_text('python-downloads-json-url = "list.json"\npython-mirror = "file:///mirror"\n'
                      'managed-python = true\n')
    config.chmod(0o644)
    settings = env_python_settings({"project": {"config": str(config)}})
    assert settings.source.downloads_json_url == str(tmp_path / "list.json")
    assert settings.source.mirror == "file:///mirror" and settings.managed and settings.downloads == "auto"
    assert env_python_settings({}) == python_settings(None)
    assert env_python_settings({"project": {"config": str(tmp_path / "gone.toml")}}) == python_settings(None)
    assert wheelhouse_list([str(tmp_path)]) is None


def test_uv_builtin_list_gives_the_build_and_its_release_sums_the_sha256(tmp_path, monkeypatch):
    """No project list: the newest build `uv python list` knows (a stand-in uv: the OS-command boundary),
    its sha256 from the release's SHA256SUMS, read through the project's python-mirror (a file:// folder)."""
    listed = [{"key": "cpython-3.11.13-linux-x86_64-gnu", "version": "3.11.13",
               "version_parts": {"major": 3, "minor": 11, "patch": 13}, "variant": "default", "url": BUILD.url},
              {"key": "cpython-3.11.14-linux-x86_64-gnu", "version": "3.11.14",
               "version_parts": {"major": 3, "minor": 11, "patch": 14}, "variant": "default", "url": BUILD.url}]
    uv = tmp_path / "uv"
    uv.write_text(f"#!/bin/sh\nprintf '%s' '{json.dumps(listed)}'\n")
    uv.chmod(0o755)
    monkeypatch.setenv("TFSETUP_UV", str(uv))
    mirror = tmp_path / "mirror"
    (mirror / "20251217").mkdir(parents=True)
    (mirror / "20251217" / "SHA256SUMS").write_text(
        f"{SHA}  cpython-3.11.14+20251217-x86_64-unknown-linux-gnu-install_only.tar.gz\n")
    config = ProjectConfig(path=tmp_path / "tfsetup.toml", managed_python=True, python_mirror=mirror.as_uri())
    assert lock_builds(config, [("linux-x86_64", "3.11")]) == {("linux-x86_64", "3.11"): BUILD}
    (mirror / "20251217" / "SHA256SUMS").write_text("")
    with pytest.raises(TfsetupError) as caught:
        lock_builds(config, [("linux-x86_64", "3.11")])
    assert caught.value.exit_code == EXIT_INSTALL_FAILED and "does not list" in caught.value.message
