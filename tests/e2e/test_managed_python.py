"""A native Python on demand, for real (issue 21): uv's own `uv python install` path, fed a local
python-build-standalone shaped archive through a downloads list (`python-downloads-json-url` in the
project's tfsetup.toml), into a managed-Python store inside the test's tmp dir (UV_PYTHON_INSTALL_DIR,
never the user's ~/.local/share/uv)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import host_fixture
from tests.e2e.helpers import PY, json_out, manifest, run_tfsetup


def _project(root: Path, downloads_json: Path, more: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tfsetup.toml").write_text(f'python-downloads-json-url = "{downloads_json}"\n{more}')
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Every network but 127.0.0.1 is unreachable: a proxy on a closed port (as in test_team.py), and uv offline.
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "UV_OFFLINE": "1"}


def _env(tmp: Path) -> dict:
    # HOME too: uv would link python3.X into ~/.local/bin without --no-bin; this one is looked at
    return {"UV_PYTHON_INSTALL_DIR": str(tmp / "uv-pythons"), "HOME": str(tmp / "home")}


def test_plan_chooses_a_managed_python_when_the_host_has_none_of_that_minor(tmp_path):
    facts = host_fixture("linux-x86_64-avx")
    doc = facts.to_json()
    doc["pythons"] = [p for p in doc["pythons"] if not p["version"].startswith(PY + ".")]
    host_file = tmp_path / "host.json"
    host_file.write_text(json.dumps(doc))
    proc = run_tfsetup("plan", "--host-file", str(host_file), "--python", PY, "--no-project", "--json")
    assert proc.returncode == 0, proc.stderr
    python = json_out(proc)["python"]
    assert python["source"] == "managed" and python["executable"] is None
    assert python["uv_request"] == f"cpython-{PY}-linux-x86_64-gnu"
    shown = run_tfsetup("plan", "--host-file", str(host_file), "--python", PY, "--no-project")
    assert f"python  {PY}.x (managed: downloaded by uv, native x86_64, ~30 MB)" in shown.stdout
    never = run_tfsetup("plan", "--host-file", str(host_file), "--python", PY, "--no-project",
                        "--python-downloads", "never")
    assert never.returncode == 3 and f"no Python {PY} on this host" in never.stdout + never.stderr


@pytest.mark.parametrize("broken", ["tampered", "missing"])
def test_a_bad_archive_is_exit_4_and_nothing_changes(broken, local_python_build, tmp_path):
    listing = (local_python_build.tampered_json if broken == "tampered" else local_python_build.missing_json)(tmp_path)
    root = _project(tmp_path / "proj", listing)
    target = root / "env"
    # an env there, replaced (--force) only if everything works
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    before = manifest(root)
    env = _env(tmp_path)
    proc = run_tfsetup("install", str(target), "--python", PY, "--managed-python", "--force", "--json",
                       cwd=root, env=env)
    assert proc.returncode == 4, proc.stderr
    doc = json_out(proc)
    assert f"could not install Python {PY} ({local_python_build.request}) through uv" in doc["error"]
    if broken == "tampered":
        assert "Hash mismatch" in doc["error"] and "does not match its sha256" in doc["fix"]
    else:
        assert "python-mirror" in doc["fix"]
    assert manifest(root) == before
    installed = tmp_path / "uv-pythons"
    assert not installed.exists() or not [p for p in installed.iterdir() if p.name.startswith("cpython")]


@pytest.mark.slow
def test_install_fetches_the_python_through_uv_and_the_env_verifies(local_python_build, tmp_path):
    root = _project(tmp_path / "proj", local_python_build.downloads_json, "managed-python = true\n")
    target = root / "env"
    env = _env(tmp_path)
    proc = run_tfsetup("install", str(target), "--python", PY, "--json", cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert doc["verified"] is True
    python = doc["plan"]["python"]
    store = tmp_path / "uv-pythons"
    assert python["source"] == "managed" and python["version"] == local_python_build.version
    assert python["executable"].startswith(str(store))
    assert "python" in doc["timings"]
    assert f"Installed Python {local_python_build.version}" in proc.stderr  # the download's progress
    home = (target / "pyvenv.cfg").read_text()
    assert str(store) in home  # the env is built on the managed Python
    assert not (tmp_path / "home" / ".local" / "bin").exists()  # --no-bin: nothing on the user's PATH
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert record["python"]["version"] == local_python_build.version
    # again: the Python is there, the env is up to date, nothing is fetched
    again = run_tfsetup("install", str(target), "--python", PY, "--json", cwd=root, env=env)
    assert again.returncode == 0 and json_out(again)["unchanged"] is True, again.stderr
    assert os.path.exists(python["executable"])

    # the base Python goes away (`uv python uninstall`, a Homebrew cleanup): doctor says so in the fast
    # pass, and --fix rebuilds the env on Python 3.X, carrying the user's package: the project says
    # managed-python, so uv fetches it again from the project's downloads list (the local build)
    from tfsetup.backends.uv import find_uv

    added = subprocess.run([find_uv(), "pip", "install", "--quiet", "--python", str(target / "bin" / "python"),
                            "six==1.17.0"], capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    shutil.rmtree(store)
    found = run_tfsetup("doctor", str(target), "--json", env=env)
    assert found.returncode == 1, found.stderr
    finding = next(f for f in json_out(found)["findings"] if f["id"] == "base-python-missing")
    assert str(store) in finding["message"] and "uv python uninstall" in finding["message"]
    assert "--fix" in finding["fix"]
    fixed = run_tfsetup("doctor", str(target), "--fix", "--yes", "--json", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert json_out(fixed)["repaired"] is True
    assert not [f for f in json_out(fixed)["findings_after"] if f["severity"] == "error"]
    assert str(store) in (target / "pyvenv.cfg").read_text()
    assert json.loads((target / "tfsetup-env.json").read_text())["python"]["version"] == local_python_build.version
    rebuilt = subprocess.run([str(target / "bin" / "python"), "-c", "import six, sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True)
    assert rebuilt.returncode == 0 and rebuilt.stdout.strip() == str(tuple(int(p) for p in PY.split("."))), rebuilt

    # upgrade reads the project's list too: pointed at one whose sha256 is wrong, with no Python installed,
    # it fails at the Python (uv refuses the archive), exit 4, and the env is as it was
    (root / "tfsetup.toml").write_text(f'python-downloads-json-url = "{local_python_build.tampered_json(tmp_path)}"\n'
                                       "managed-python = true\n")
    before = manifest(target)
    moved = run_tfsetup("upgrade", str(target), "--tf", "2.20", "--yes", "--json",
                        env=dict(env, UV_PYTHON_INSTALL_DIR=str(tmp_path / "uv-pythons-2")))
    assert moved.returncode == 4, moved.stderr
    assert "Hash mismatch" in json_out(moved)["error"], json_out(moved)
    assert manifest(target) == before


def test_offline_without_that_python_is_exit_4_naming_the_fix(tmp_path):
    """--offline: uv may use only a Python already installed (or a file:// source); none here."""
    target = tmp_path / "env"
    proc = run_tfsetup("install", str(target), "--python", PY, "--managed-python", "--offline", "--no-project",
                       "--python-downloads", "auto", "--json", env=_env(tmp_path))  # offline alone: never
    assert proc.returncode == 4, proc.stderr
    doc = json_out(proc)
    assert "Network connectivity is disabled" in doc["error"]
    assert f"offline, and Python {PY} is not installed" in doc["fix"] and "python-mirror" in doc["fix"]
    assert not target.exists() and not (tmp_path / "home" / ".local").exists()


@pytest.mark.network  # tfsetup's own dependencies come from the index
def test_onboard_without_python3_uses_uv_and_a_python_it_installs(local_python_build, tmp_path):
    """No python3 on PATH (TFSETUP_PYTHON=uv stands in for a Mac whose /usr/bin/python3 is the Command
    Line Tools' stub), the uv binary from a local file: uv installs the tool env's Python (the local
    build, through its downloads list) and tfsetup runs from it."""
    from tfsetup.backends.uv import find_uv

    home = tmp_path / "home"
    home.mkdir()
    bare_bin = tmp_path / "bin"  # only what a shell script needs, no Python
    bare_bin.mkdir()
    for tool in ("sh", "uname", "dirname", "basename", "mkdir", "rm", "cat", "date", "find", "sort", "cksum",
                 "readlink", "ln", "grep", "env", "cp"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bare_bin / tool)
    # the network settings stay (proxies, certificates); every Python and env variable goes
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "VIRTUAL_ENV", "TFSETUP_", "PYENV",
                                                                    "PYTHON", "CONDA"))}
    env.update({"HOME": str(home), "PATH": str(bare_bin), "TFSETUP_PYTHON": "uv", "TFSETUP_UV": find_uv(),
           "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv-pythons"),
           "UV_PYTHON_DOWNLOADS_JSON_URL": str(local_python_build.downloads_json),
           "TFSETUP_STATE_DIR": str(tmp_path / "state"), "SHELL": "/bin/sh"})
    from tests.conftest import REPO

    proc = subprocess.run(["sh", str(REPO / "scripts" / "onboard.sh"), "--no-modify-path", "--help"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "creating the tool env with" in proc.stderr and "uv venv --managed-python" in proc.stderr
    tool_env = home / ".local" / "share" / "tfsetup" / "tool-env"
    cfg = (tool_env / "pyvenv.cfg").read_text()
    assert str(tmp_path / "uv-pythons") in cfg  # the tool env runs on the Python uv installed
    assert "Usage" in proc.stdout and "install" in proc.stdout  # `tfsetup install --help` ran from it


@pytest.mark.slow
@pytest.mark.network  # `tfsetup lock` resolves the stack on the index
def test_a_team_lock_pins_the_build_the_wheelhouse_carries_it_and_an_offline_install_uses_only_that(
        local_python_build, tmp_path):
    # the team's own copy of the build, listed where the project says: it goes away before the offline install
    served = tmp_path / "served"
    served.mkdir()
    archive = served / local_python_build.archive.name
    shutil.copyfile(local_python_build.archive, archive)
    listing = json.loads(local_python_build.downloads_json.read_text())
    listing[local_python_build.key]["url"] = archive.as_uri()
    (served / "downloads.json").write_text(json.dumps(listing))
    root = _project(tmp_path / "team", served / "downloads.json", f'python = "{PY}"\nmanaged-python = true\n')

    locked = run_tfsetup("lock", "--json", cwd=root)
    assert locked.returncode == 0, locked.stderr
    (section,) = json_out(locked)["sections"]
    assert section["python_build"] == {"key": local_python_build.key, "version": local_python_build.version,
                                       "release": "local", "sha256": local_python_build.sha256,
                                       "url": archive.as_uri()}
    assert f'sha256 = "{local_python_build.sha256}"' in (root / "tfsetup.lock").read_text()
    assert run_tfsetup("lock", "--check", cwd=root).returncode == 0

    house = tmp_path / "house"
    made = run_tfsetup("wheelhouse", str(house), "--json", cwd=root)
    assert made.returncode == 0, made.stderr
    assert json_out(made)["python_archives"] == [archive.name]
    assert _sha256(house / "python" / archive.name) == local_python_build.sha256
    carried = json.loads((house / "python-downloads.json").read_text())[local_python_build.key]
    assert carried["url"] == "python/" + archive.name.replace("+", "%2B") and carried["sha256"] == section[
        "python_build"]["sha256"]

    # a machine with no network, no Python 3.X in uv's store and an empty uv cache: only the wheelhouse
    # (the cache is this test's own, deleted with it: wheels read from a wheelhouse are unpacked into a
    # cache bucket of their own, ~1.5 GB that no other test would use)
    shutil.rmtree(served)
    env = dict(_env(tmp_path), UV_CACHE_DIR=str(tmp_path / "cache"), **NO_NETWORK)
    target = root / "env"
    proc = run_tfsetup("install", str(target), "--offline", "--find-links", str(house), "--json", cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert doc["verified"] is True
    python = doc["plan"]["python"]
    assert python["version"] == local_python_build.version and python["uv_request"] == local_python_build.key
    assert python["build"]["sha256"] == local_python_build.sha256
    assert python["executable"].startswith(str(tmp_path / "uv-pythons"))

    # the wheelhouse's archive changed (same name, other bytes): uv refuses it against the lock's sha256
    tampered = tmp_path / "tampered"
    shutil.copytree(house, tampered, copy_function=os.link)
    bad = tampered / "python" / archive.name
    data = bad.read_bytes()
    bad.unlink()  # break the hard link before writing
    bad.write_bytes(data + b"\0")
    before = manifest(root)
    fresh = dict(env, UV_PYTHON_INSTALL_DIR=str(tmp_path / "uv-pythons-2"))
    refused = run_tfsetup("install", str(target), "--force", "--offline", "--find-links", str(tampered), "--json",
                          cwd=root, env=fresh)
    assert refused.returncode == 4, refused.stderr
    assert "Hash mismatch" in json_out(refused)["error"] and "does not match its sha256" in json_out(refused)["fix"]
    assert manifest(root) == before
    # ... and a list rewritten to match the other bytes is refused before uv runs: the lock decides
    relisted = json.loads((tampered / "python-downloads.json").read_text())
    relisted[local_python_build.key]["sha256"] = _sha256(bad)
    (tampered / "python-downloads.json").write_text(json.dumps(relisted))
    refused = run_tfsetup("install", str(target), "--force", "--offline", "--find-links", str(tampered), "--json",
                          cwd=root, env=fresh)
    assert refused.returncode == 4, refused.stderr
    assert "but the team lock pins" in json_out(refused)["error"]
    assert manifest(root) == before
    store = tmp_path / "uv-pythons-2"
    assert not store.exists() or not [p for p in store.iterdir() if p.name.startswith("cpython")]
