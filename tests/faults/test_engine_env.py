"""Issue 11 item 11: the user's engine settings cannot change where or what tfsetup installs.

PIP_TARGET / PIP_PREFIX / PIP_USER with the pip engine, UV_LINK_MODE=symlink, UV_EXCLUDE,
UV_CONSTRAINT, UV_PYTHON with uv: the install still yields a real, complete env (every lock package
present, no symlink into a cache, nothing written to the places those settings name).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults import harness as h


def assert_complete(target: Path, elsewhere: Path) -> None:
    site = next((target / "lib").glob("python3*/site-packages"))
    assert (site / "tensorflow" / "__init__.py").is_file()
    assert list(site.glob("tensorflow_cpu-2.21.0.dist-info"))  # every lock package (the lock has one)
    for path in site.rglob("*"):
        if path.is_symlink():  # a link into uv's cache would die with the cache
            real = os.path.realpath(path)
            assert real.startswith(str(target)), f"{path} -> {real}"
    assert h.python_runs(target)
    assert not elsewhere.exists() or not any(elsewhere.rglob("*")), "something was installed elsewhere"


CASES = {
    "PIP_TARGET (pip)": ("pip", lambda d: {"PIP_TARGET": str(d)}),
    "PIP_PREFIX (pip)": ("pip", lambda d: {"PIP_PREFIX": str(d)}),
    "PIP_USER (pip)": ("pip", lambda d: {"PIP_USER": "1", "PYTHONUSERBASE": str(d)}),
    "UV_LINK_MODE=symlink": ("uv", lambda d: {"UV_LINK_MODE": "symlink", "UV_CACHE_DIR": str(d / "cache")}),
    "UV_EXCLUDE": ("uv", lambda d: {"UV_EXCLUDE": "tensorflow-cpu"}),
    "UV_CONSTRAINT": ("uv", lambda d: {"UV_CONSTRAINT": str(d.parent / "constraint.txt")}),
    "UV_PYTHON": ("uv", lambda d: {"UV_PYTHON": "/nonexistent/python"}),
}


# pip's cases take ~6 s each (pip itself): the full run's, not the fast tier's
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if CASES[c][0] == "pip" else c
                                  for c in CASES])
def test_ambient_engine_settings_do_not_change_the_env(fake, work, tmp_path, case):
    backend, settings = CASES[case]
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "constraint.txt").write_text("tensorflow-cpu==0.0.1\n")
    env = settings(elsewhere)
    target = work / "env"
    proc = h.run(*fake.install_args(target, "--no-verify", "--backend", backend), cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    cache = elsewhere / "cache"
    assert_complete(target, elsewhere if not cache.exists() else tmp_path / "nothing")
    if case.startswith("UV_LINK_MODE"):
        site = next((target / "lib").glob("python3*/site-packages"))
        assert not (site / "tensorflow" / "__init__.py").is_symlink()


@pytest.mark.slow  # ~6 s
def test_an_active_env_of_the_user_is_not_touched(fake, work, tmp_path):
    """VIRTUAL_ENV / CONDA_PREFIX of the user's shell: the engines get an explicit environment without
    them, so nothing lands in the active env and the new env is complete."""
    import subprocess
    import sys

    active = tmp_path / "active"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(active)], check=True)
    before = h.manifest(active)
    for backend in ("uv", "pip"):
        target = work / f"env-{backend}"
        proc = h.run(*fake.install_args(target, "--no-verify", "--backend", backend), cwd=work,
                     env={"VIRTUAL_ENV": str(active), "CONDA_PREFIX": str(active), "UV_PROJECT_ENVIRONMENT": str(active)})
        assert proc.returncode == 0, proc.stderr
        assert_complete(target, tmp_path / "nothing")
    assert h.manifest(active) == before
