"""Issue 20 class 4: every file that can steer tfsetup is trust-checked where it is read.

The attack: someone who can write a project's `tfsetup.lock` adds a package with a `.pth` payload to
the host's section (the section digest covers the config, not the section text, so the lock still
looks up to date). The control case proves the attack is real (a lock of yours with that line is
installed and the payload runs); the refused cases prove it is stopped for every config kind, every
"someone else can write it" mode, and for `doctor`, which re-reads the config and lock named in an
env's record.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.faults import harness as h

PLATFORM = f"linux-{h.host_platform()['machine']}"


def attack_project(fake, root: Path, kind: str) -> Path:
    """A project (tfsetup.toml or pyproject.toml) with a wheelhouse holding the fake TensorFlow and
    `evil-helper`, a wheel whose .pth touches root/payload-ran at every interpreter start; its team lock
    lists both (write_lock)."""
    wheels = root / "wheels"
    wheels.mkdir(parents=True)
    shutil.copy(fake.wheel, wheels)
    marker = root / "payload-ran"
    h.build_wheel(wheels, name="evil-helper", version="1.0",
                  files={"evil_helper.pth": f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n".encode()})
    settings = f'python = "{h.PY}"\nfind-links = ["wheels"]\nplatforms = ["{PLATFORM}"]\n'
    config = root / ("tfsetup.toml" if kind == "tfsetup.toml" else "pyproject.toml")
    config.write_text(settings if kind == "tfsetup.toml" else f'[project]\nname = "x"\n\n[tool.tfsetup]\n{settings}')
    write_lock(fake, config, payload=True)
    return config


def write_lock(fake, config: Path, payload: bool) -> None:
    """tfsetup.lock as `tfsetup lock` writes it, its section holding the fake TensorFlow and, with
    `payload`, the evil-helper line someone added (the lock still reads as up to date)."""
    from tfsetup.recipes import load_recipes
    from tfsetup.team.config import load_config
    from tfsetup.team.lockfile import render_lock, section_specs

    project = load_config(config)
    specs = section_specs(load_recipes(fake.table), project, [PLATFORM], [h.PY], [])
    lines = [h.lock_line(fake.wheel)]
    if payload:
        evil = config.parent / "wheels" / "evil_helper-1.0-py3-none-any.whl"
        lines.append(h.lock_line(evil, name="evil-helper", version="1.0"))
    (config.parent / "tfsetup.lock").write_text(render_lock(project, specs, ["\n".join(lines)]))


def install(fake, project: Path) -> subprocess.CompletedProcess:
    return h.run("install", "--recipes-file", str(fake.table), "--offline", "--yes", "--no-verify", "--json",
                 cwd=project)


def assert_refused(proc: subprocess.CompletedProcess, path: Path) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = h.error_line(proc.stderr)
    what = "team lock" if path.name == "tfsetup.lock" else "project file"
    assert f"refusing the {what} {path}" in line, line
    assert "chmod go-w" in json.loads(proc.stdout)["fix"]


def test_control_a_lock_of_yours_is_obeyed_so_the_payload_would_run(fake, work):
    root = work / "project"
    attack_project(fake, root, "pyproject")
    proc = install(fake, root)
    assert proc.returncode == 0, proc.stderr
    subprocess.run([str(root / ".venv" / "bin" / "python"), "-c", "pass"], check=True)
    assert (root / "payload-ran").exists()  # what a world-writable lock would let anyone do


@pytest.mark.parametrize("kind", ["pyproject", "tfsetup.toml"])
@pytest.mark.parametrize("mode", [0o646, 0o602, 0o666, 0o664, 0o620], ids=lambda m: f"{m:o}")
def test_a_lock_others_can_write_is_refused_beside_either_config(fake, work, kind, mode):
    root = work / "project"
    attack_project(fake, root, kind)
    lock = root / "tfsetup.lock"
    lock.chmod(mode)
    proc = install(fake, root)
    assert_refused(proc, lock)
    assert not (root / ".venv").exists() and not (root / "payload-ran").exists()


@pytest.fixture
def project_env(fake, work):
    """An env installed from a project's lock (the lock of yours, with only the fake TensorFlow)."""
    root = work / "project"
    config = attack_project(fake, root, "pyproject")
    write_lock(fake, config, payload=False)
    proc = install(fake, root)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((root / ".venv" / "tfsetup-env.json").read_text())
    assert record["project"]["lock"] == str(root / "tfsetup.lock"), record
    write_lock(fake, config, payload=True)  # then tampered with: the payload line added
    return root


@pytest.mark.parametrize("tampered", ["lock 0o666", "config 0o602", "lock of another user"])
def test_doctor_fix_refuses_a_tampered_project_file_named_in_the_record(fake, project_env, tampered):
    root = project_env
    path = root / ("pyproject.toml" if tampered.startswith("config") else "tfsetup.lock")
    if tampered == "lock of another user":
        os.chown(path, 54321, 54321)  # the tests run as root: any owner can be given
    else:
        path.chmod(int(tampered.split()[-1], 8))
    env = root / ".venv"
    proc = h.run("doctor", str(env), "--fix", "--yes", "--recipes-file", str(fake.table), "--json", cwd=root.parent)
    assert_refused(proc, path)
    assert not (root / "payload-ran").exists()
    assert not list(env.glob("lib/python*/site-packages/evil_helper.pth"))
