"""request.py: flags over the project config, and the one rule for the env a command means."""
from __future__ import annotations

from pathlib import Path

import pytest

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.request import Flags, default_env, env_or_default, making_env_default, merge


def test_default_env_order(tmp_path):
    """project env > $VIRTUAL_ENV > ./.venv > $CONDA_PREFIX > this Python's env only if it has TF > none."""
    own = Path("/own")
    assert default_env({}, tmp_path, None, None) is None  # tfsetup's own tool env is never a target
    assert default_env({}, tmp_path, None, own) == own
    assert default_env({"CONDA_PREFIX": "/c"}, tmp_path, None, own) == Path("/c")
    (tmp_path / ".venv").mkdir()
    assert default_env({"CONDA_PREFIX": "/c"}, tmp_path, None, own) == tmp_path / ".venv"
    assert default_env({"VIRTUAL_ENV": "/v"}, tmp_path, None, own) == Path("/v")
    project_env = tmp_path / "tfenv"
    assert default_env({"VIRTUAL_ENV": "/v"}, tmp_path, project_env, own) == Path("/v")  # not made yet
    project_env.mkdir()
    assert default_env({"VIRTUAL_ENV": "/v"}, tmp_path, project_env, own) == project_env


def test_an_activated_tool_env_is_skipped_unless_it_holds_tensorflow(tmp_path):
    tool = tmp_path / "tool-env"
    tool.mkdir()
    # the dedicated tool env (no TensorFlow) activated: never the default, the next candidate is
    assert default_env({"VIRTUAL_ENV": str(tool)}, tmp_path, None, None, tool_env=tool) is None
    (tmp_path / ".venv").mkdir()
    assert default_env({"VIRTUAL_ENV": str(tool)}, tmp_path, None, None, tool_env=tool) == tmp_path / ".venv"
    # tfsetup installed into a TensorFlow env: that env is a fine default
    assert default_env({"VIRTUAL_ENV": str(tool)}, tmp_path, None, tool, tool_env=tool) == tool


def test_env_or_default_names_the_fix_when_there_is_no_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(key, raising=False)
    assert env_or_default(Path("given")) == Path("given")
    with pytest.raises(TfsetupError) as info:
        env_or_default(None)
    assert info.value.exit_code == EXIT_BAD_INPUT and "tfsetup install" in info.value.fix


def test_flags_override_and_contradictions_are_bad_input():
    with pytest.raises(TfsetupError, match="--cpu-only contradicts --accelerator metal"):
        Flags(cpu_only=True, accelerator="metal")
    with pytest.raises(TfsetupError, match="--keras must be 2 or 3"):
        Flags(keras=1)
    settings = merge(Flags(tf="2.19", keras=2, path=Path("/envs/tf")), None)
    assert settings.request.tf == "2.19" and settings.request.keras == 2 and settings.target == Path("/envs/tf")
    assert merge(Flags(cpu_only=True), None).request.accelerator == "cpu"
    assert merge(Flags(), None).target == Path(".venv")


def test_python_downloads_from_flags_config_and_offline():
    from tfsetup.team.config import ProjectConfig

    assert merge(Flags(), None).request.python_downloads == "auto"
    assert merge(Flags(offline=True), None).request.python_downloads == "never"  # no network: none to fetch
    assert merge(Flags(offline=True, python_downloads="auto"), None).request.python_downloads == "auto"
    cfg = ProjectConfig(path=Path("/p/tfsetup.toml"), python_downloads="never", managed_python=True,
                        python_mirror="file:///srv/pbs", python_downloads_json_url="https://x/list.json")
    settings = merge(Flags(offline=True), cfg)
    assert settings.request.python_downloads == "never" and settings.request.managed_python is True
    assert settings.python_source.mirror == "file:///srv/pbs" and settings.python_source.offline is True
    assert settings.python_source.downloads_json_url == "https://x/list.json"
    local = ProjectConfig(path=Path("/p/tfsetup.toml"), python_mirror="file:///srv/pbs")
    assert merge(Flags(offline=True), local).request.python_downloads == "auto"  # uv reads file:// offline
    assert merge(Flags(python_downloads="never"), ProjectConfig(path=Path("/p/t.toml"), python_downloads="auto")
                 ).request.python_downloads == "never"  # the flag over the config


def project(tmp_path: Path, text: str = 'env = "tfenv"\n') -> Path:
    """A project folder (a repository root, so the search stops there) with its tfsetup.toml."""
    folder = tmp_path / "proj"
    (folder / ".git").mkdir(parents=True)
    (folder / "tfsetup.toml").write_text(text)
    return folder


def test_load_project_finds_the_config_upwards_unless_told_not_to(tmp_path):
    from tfsetup.request import load_project

    folder = project(tmp_path)
    (folder / "src").mkdir()
    found = load_project(cwd=folder / "src")
    assert found is not None and found.path == folder / "tfsetup.toml" and found.env == "tfenv"
    assert load_project(no_project=True, cwd=folder / "src") is None


def test_without_a_path_the_projects_env_is_the_one_meant_and_a_given_path_never_reads_the_project(
        tmp_path, monkeypatch):
    for key in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(key, raising=False)
    folder = project(tmp_path)
    (folder / "tfenv").mkdir()
    monkeypatch.chdir(folder)
    assert env_or_default(None) == folder / "tfenv"
    (folder / "tfsetup.toml").chmod(0o666)  # now refused when read: a named PATH does not read it
    assert env_or_default(Path("given")) == Path("given")


def test_own_env_is_this_python_when_a_tensorflow_distribution_is_installed(tmp_path, monkeypatch):
    import sys

    from tfsetup.request import own_env_with_tf

    assert own_env_with_tf() is None  # the test env holds no TensorFlow
    info = tmp_path / "site" / "tensorflow_cpu-2.16.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow-cpu\nVersion: 2.16.1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert own_env_with_tf() == Path(sys.prefix)


def test_prereleases_and_the_index_only_when_asked():
    from tfsetup.team.config import ProjectConfig

    assert merge(Flags(), None).request.pre is False
    assert merge(Flags(index_url="https://mirror/simple"), None).source.index_url == "https://mirror/simple"
    cfg = ProjectConfig(path=Path("/p/tfsetup.toml"), index_url="https://team/simple",
                        extra_index_urls=("https://extra/simple",))
    assert merge(Flags(), cfg).source.index_url == "https://team/simple"
    flagged = merge(Flags(index_url="https://mirror/simple"), cfg).source
    assert flagged.index_url == "https://mirror/simple" and flagged.extra_index_urls == []


def test_plan_for_project_with_no_config_a_config_and_extra_packages_without_a_lock(tmp_path):
    from tests.conftest import host_fixture
    from tests.unit.test_doctor_rules import TABLE
    from tfsetup.plan import plan
    from tfsetup.request import plan_for_project
    from tfsetup.team.config import ProjectConfig

    host = host_fixture("linux-x86_64-avx")
    plain = merge(Flags(), None)
    chosen, record = plan_for_project(plain, host, TABLE)
    assert chosen == plan(host, TABLE, plain.request) and record == {}

    folder = project(tmp_path)
    cfg = ProjectConfig(path=folder / "tfsetup.toml")
    chosen, record = plan_for_project(merge(Flags(), cfg), host, TABLE)
    assert chosen == plan(host, TABLE, plain.request)
    assert record == {"project": {"config": str(folder / "tfsetup.toml")}}

    with pytest.raises(TfsetupError) as caught:
        plan_for_project(merge(Flags(), ProjectConfig(path=folder / "tfsetup.toml", packages=("pandas",))),
                         host, TABLE)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert str(caught.value) == "tfsetup.toml lists extra packages but there is no tfsetup.lock"


def test_the_keras_error_is_named_before_a_contradiction():
    with pytest.raises(TfsetupError, match="--keras must be 2 or 3, not 1"):
        Flags(keras=1, cpu_only=True, accelerator="metal")


def test_a_managed_python_only_when_asked_and_the_projects_find_links_from_its_folder(tmp_path):
    from tfsetup.team.config import ProjectConfig

    assert merge(Flags(), None).request.managed_python is False
    assert merge(Flags(managed_python=True), None).request.managed_python is True
    cfg = ProjectConfig(path=tmp_path / "tfsetup.toml", find_links=("wheels", "https://h/w/"))
    links = merge(Flags(find_links=("https://given/",)), cfg).source.find_links
    assert links == ["https://given/", str((tmp_path / "wheels").resolve()), "https://h/w/"]


def test_a_project_with_a_lock_plans_from_the_lock_and_an_unusable_one_is_named(tmp_path):
    from tests.conftest import host_fixture
    from tests.unit.test_doctor_rules import TABLE
    from tfsetup.request import plan_for_project
    from tfsetup.team.config import ProjectConfig

    folder = project(tmp_path)
    (folder / "tfsetup.lock").write_text("this is not a lock\n")
    with pytest.raises(TfsetupError) as caught:
        plan_for_project(merge(Flags(), ProjectConfig(path=folder / "tfsetup.toml")),
                         host_fixture("linux-x86_64-avx"), TABLE)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert str(caught.value).startswith(f"{folder / 'tfsetup.lock'} is not valid TOML")


def test_install_defaults_to_the_project_env_else_dot_venv_never_the_active_one(tmp_path, monkeypatch):
    """The same rule as default_env, less what only an existing env can be: install never replaces an env
    just because it is activated."""
    project_env = tmp_path / "proj" / ".tf"  # not made yet: install makes it
    assert making_env_default(project_env) == project_env
    assert making_env_default(None) == Path(".venv")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "conda"))
    assert merge(Flags(), None).target == Path(".venv")


def test_a_config_that_says_cpu_only_yields_to_an_accelerator_flag():
    from tfsetup.team.config import ProjectConfig

    cpu_project = ProjectConfig(path=Path("tfsetup.toml"), cpu_only=True)
    assert merge(Flags(), cpu_project).request.accelerator == "cpu"
    assert merge(Flags(accelerator="metal"), cpu_project).request.accelerator == "metal"
    assert merge(Flags(), ProjectConfig(path=Path("tfsetup.toml"))).request.accelerator is None
    assert merge(Flags(), None).request.accelerator is None  # the flags' default is not CPU-only
    assert merge(Flags(cpu_only=True), None).request.accelerator == "cpu"


def test_upgrade_and_doctor_read_the_python_settings_of_the_project_the_record_names(tmp_path):
    from tfsetup.request import env_python_settings

    config = tmp_path / "tfsetup.toml"
    config.write_text('python-mirror = "https://mirror.example.org/pbs"\nmanaged-python = true\n'
                      'python-downloads = "never"\n')
    named = env_python_settings({"project": {"config": str(config)}})
    assert (named.source.mirror, named.managed, named.downloads) == ("https://mirror.example.org/pbs", True, "never")
    for record in (None, {}, {"project": {"config": str(tmp_path / "gone.toml")}}):
        defaults = env_python_settings(record)
        assert (defaults.source.mirror, defaults.managed, defaults.downloads) == (None, False, "auto")


def test_extra_packages_without_a_team_lock_are_refused_before_any_planning(tmp_path):
    """The config's mistake is named even where the planner would have failed for another reason."""
    from tests.conftest import host_fixture
    from tfsetup.recipes import load_recipes
    from tfsetup.request import plan_for_project
    from tfsetup.team.config import load_config

    config = tmp_path / "tfsetup.toml"
    config.write_text('packages = ["pandas==2.2.3"]\n')
    settings = merge(Flags(tf="9.99"), load_config(config))  # no recipe has TF 9.99: plan() would fail
    with pytest.raises(TfsetupError) as caught:
        plan_for_project(settings, host_fixture("linux-x86_64-avx"), load_recipes(None))
    assert caught.value.exit_code == EXIT_BAD_INPUT and "no tfsetup.lock" in caught.value.message
