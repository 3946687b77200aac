"""Doctor: a venv whose base Python is gone (issue 21 item 4). The facts come from the env's files
(pyvenv.cfg, its dist-infos) since its python cannot start; the rule names the missing path and how
it happens; the repair rebuilds it on a Python of the same minor, the host's or a managed one."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import host_fixture
from tests.unit.test_doctor_rules import TABLE, by_id, mac_stack
from tfsetup.doctor.explain import explain
from tfsetup.env.facts import inspect_env, missing_base_python
from tfsetup.doctor.repair import needs_rebuild, plan_repair
from tfsetup.doctor.rules import diagnose, gone_how

CELLAR = "/opt/homebrew/Cellar/python@3.11/3.11.7/Frameworks/Python.framework/Versions/3.11/bin"


def dead_venv(root: Path, home: str, link: bool = True) -> Path:
    """A venv as `python -m venv` leaves it, whose base interpreter was then deleted."""
    env = root / "env"
    (env / "bin").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\nversion = 3.11.7\n")
    if link:
        os.symlink(f"{home}/python3.11", env / "bin" / "python")
    site = env / "lib" / "python3.11" / "site-packages"
    for name, version in (("tensorflow", "2.19.1"), ("pandas", "2.2.3")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return env


def test_inspect_reads_a_dead_venv_from_its_files(tmp_path):
    env = dead_venv(tmp_path, str(tmp_path / "gone" / "bin"))
    facts = inspect_env(env)  # does not try to run it, does not fail
    assert facts.base_python_missing == str(tmp_path / "gone" / "bin" / "python3.11")
    assert facts.version == "3.11.7" and facts.minor == "3.11"
    assert facts.version_of("tensorflow") == "2.19.1" and facts.version_of("pandas") == "2.2.3"


def test_home_without_an_interpreter_is_missing_even_with_a_copied_python(tmp_path):
    env = dead_venv(tmp_path, str(tmp_path / "gone"), link=False)
    (env / "bin" / "python").write_text("")  # `venv --copies`: a file, but its home is gone
    missing, home = missing_base_python(env, env / "bin" / "python")
    assert missing == str(tmp_path / "gone" / "python3.11") and home == str(tmp_path / "gone")
    live = tmp_path / "live"
    live.mkdir()
    (live / "python3").write_text("")
    (env / "pyvenv.cfg").write_text(f"home = {live}\n")
    assert missing_base_python(env, env / "bin" / "python") == ("", str(live))


def test_the_finding_names_the_path_and_how_it_happens():
    env = replace(mac_stack(), base_python_missing=f"{CELLAR}/python3.11", base_home=CELLAR, python="/work/env/bin/python")
    finding = by_id(diagnose(env, host_fixture("m1-native-homebrew"), TABLE), "base-python-missing")
    assert finding.severity == "error"
    assert f"{CELLAR}/python3.11 no longer exists" in finding.message
    assert "Homebrew removes an old Cellar version after `brew upgrade`" in finding.message
    assert finding.fix.startswith("`tfsetup doctor --fix /work/env` rebuilds it on a Python 3.11")
    assert f"pyvenv.cfg: home = {CELLAR}" in finding.evidence
    assert finding.sources and needs_rebuild([finding])


@pytest.mark.parametrize("path,how", [
    ("/Users/me/.pyenv/versions/3.11.7/bin/python3.11", "pyenv uninstall"),
    ("/Users/me/.local/share/uv/python/cpython-3.11.7-macos-aarch64-none/bin/python3.11", "uv python uninstall"),
    ("/Library/Frameworks/Python.framework/Versions/3.11/bin/python3.11", "python.org"),
    ("/opt/homebrew/opt/python@3.11/bin/python3.11", "brew uninstall"),
    ("/srv/py/bin/python3", "moved or deleted"),
    ("/tmp/pythons/cpython-3.11-linux-x86_64-gnu/bin/python3.11", "uv python uninstall"),  # UV_PYTHON_INSTALL_DIR
])
def test_how_a_base_python_goes_away(path, how):
    assert how in gone_how(path)


def test_the_repair_rebuilds_on_the_same_minor_host_or_managed():
    env = replace(mac_stack(), base_python_missing=f"{CELLAR}/python3.11", base_home=CELLAR)
    findings = diagnose(env, host_fixture("m2-homebrew-python311"), TABLE)
    on_host = plan_repair(findings, env, host_fixture("m2-homebrew-python311"), TABLE, "uv", "uv")
    assert on_host.rebuild and on_host.plan is not None and on_host.plan.recipe.id == "macos-arm64-metal-tf2.19"
    assert on_host.plan.python.executable == "/opt/homebrew/bin/python3.11"
    assert "base-python-missing" in on_host.addresses
    # no Python 3.11 left on the Mac: a managed one, same minor, same recipe
    managed = plan_repair(findings, env, host_fixture("m2-no-python"), TABLE, "uv", "uv")
    assert managed.plan is not None and managed.plan.managed is not None
    assert managed.plan.managed.key == "cpython-3.11-macos-aarch64-none"
    assert managed.plan.recipe.id == "macos-arm64-metal-tf2.19"
    assert "a Python 3.11 uv downloads (cpython-3.11-macos-aarch64-none)" in managed.actions[0].summary


def test_explain_reads_the_dyld_and_bad_interpreter_lines():
    dyld = ("dyld[8108]: Library not loaded: '/usr/local/Cellar/python@3.10/3.10.6_1/Frameworks/Python.framework/"
            "Versions/3.10/Python'")
    (finding,) = explain(dyld)
    assert finding.id == "base-python-missing"
    assert "(/usr/local/Cellar/python@3.10/3.10.6_1/Frameworks/Python.framework/Versions/3.10/Python)" in finding.message
    (bad,) = explain("zsh: ./env/bin/pip: bad interpreter: /opt/homebrew/opt/python@3.11/bin/python3.11: "
                     "no such file or directory")
    assert bad.id == "base-python-missing" and "/opt/homebrew/opt/python@3.11/bin/python3.11" in bad.message
    # TensorFlow's own "Library not loaded" (the Metal plug-in) is not this
    assert [f.id for f in explain("Library not loaded: @rpath/_pywrap_tensorflow_internal.so")] != ["base-python-missing"]
