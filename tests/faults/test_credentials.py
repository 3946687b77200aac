"""Issue 11 item 10: index credentials, against a real pypiserver that requires a password.

`wheelhouse` and `install` work with `https://user:secret@host/simple`; the secret never appears in
stdout, stderr, the JSON document, the env record or the team lock, nor on any command line tfsetup
starts (the audit hook records every child argv: `ps` would show them to every user); every URL
shown is redacted (`user:****@`); a password written into tfsetup.toml is refused with the fix
(`${TFSETUP_INDEX_PASSWORD}`), which works, and rotating it leaves the team lock up to date.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from tests.e2e.helpers import pypi_server
from tests.faults import harness as h

SECRET = "s3cr3t-Pa55word"
USER = "alice"


@pytest.fixture(scope="module")
def private_index(fake, tmp_path_factory):
    """pypiserver on 127.0.0.1 serving the fake wheelhouse, listing and downloads behind basic auth."""
    from passlib.apache import HtpasswdFile

    root = tmp_path_factory.mktemp("auth-index")
    passwords = HtpasswdFile(str(root / "htpasswd"), new=True)
    passwords.set_password(USER, SECRET)
    passwords.save()
    with pypi_server(fake.wheels, authenticate="list,download", passwords=str(root / "htpasswd")) as base:
        yield base


def secret_free(traps, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text, text
    for rec in h.audit_records(traps):
        assert SECRET not in json.dumps(rec), rec  # no child argv holds it


def test_wheelhouse_from_an_authenticated_index(fake, work, traps, private_index):
    out = work / "wheels"
    proc = h.run("wheelhouse", str(out), "--index-url", f"http://{USER}:{SECRET}@{private_index}",
                 "--recipes-file", str(fake.table), "--python", h.PY, "--no-project", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (out / fake.wheel.name).read_bytes() == fake.wheel.read_bytes()
    secret_free(traps, proc.stdout, proc.stderr, *(p.read_text() for p in out.rglob("*.html")))


def test_a_wrong_password_is_reported_redacted(fake, work, traps, private_index):
    url = f"http://{USER}:{SECRET}-old@{private_index}"
    proc = h.run("wheelhouse", str(work / "wheels"), "--index-url", url, "--recipes-file", str(fake.table),
                 "--python", h.PY, "--no-project", "--json", cwd=work)
    assert proc.returncode != 0
    line = h.error_line(proc.stderr)
    assert f"{USER}:****@127.0.0.1" in line and "fix:" in proc.stderr, line
    doc = json.loads(proc.stdout)
    assert f"{USER}:****@" in doc["error"]
    secret_free(traps, proc.stdout, proc.stderr)


def test_install_from_an_authenticated_index_keeps_the_secret_off_argv(fake, work, traps, private_index, tmp_path):
    target = work / "env"
    proc = h.run("install", str(target), "--python", h.PY, "--recipes-file", str(fake.table), "--yes",
                 "--no-verify", "--json", "--index-url", f"http://{USER}:{SECRET}@{private_index}", cwd=work,
                 env={"UV_CACHE_DIR": str(tmp_path / "empty-cache")})  # a cold cache: uv must ask the index
    assert proc.returncode == 0, proc.stderr
    assert h.python_runs(target)
    installs = [r for r in h.audit_records(traps) if "install" in (r.get("argv") or [])]
    assert installs, "no engine install was seen"
    secret_free(traps, proc.stdout, proc.stderr, (target / "tfsetup-env.json").read_text())


def test_a_password_in_the_project_file_is_refused_and_the_variable_works(fake, work, traps, private_index,
                                                                          tmp_path):
    project = work / "project"
    project.mkdir()
    config = project / "tfsetup.toml"
    config.write_text(f'python = "{h.PY}"\nindex-url = "http://{USER}:{SECRET}@{private_index}"\n')
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", "--json", cwd=project)
    assert proc.returncode == 2, proc.stderr
    line = h.error_line(proc.stderr)
    assert "holds a password" in line and f"{USER}:****@" in line
    assert "TFSETUP_INDEX_PASSWORD" in json.loads(proc.stdout)["fix"]
    secret_free(traps, proc.stdout, proc.stderr)

    config.write_text(f'python = "{h.PY}"\nindex-url = "http://{USER}:${{TFSETUP_INDEX_PASSWORD}}@{private_index}"\n')
    missing = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", cwd=project)
    assert missing.returncode == 2 and "TFSETUP_INDEX_PASSWORD is not set" in h.error_line(missing.stderr)
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", "--json", cwd=project,
                 env={"TFSETUP_INDEX_PASSWORD": SECRET, "UV_CACHE_DIR": str(tmp_path / "cold")})
    assert proc.returncode == 0, proc.stderr
    secret_free(traps, proc.stdout, proc.stderr, (project / ".venv" / "tfsetup-env.json").read_text())


def test_the_lock_digest_ignores_the_password(monkeypatch):
    """The team lock's section digest (what `lock --check` compares) is the same for every password."""
    from types import SimpleNamespace

    from tfsetup.team.config import config_from_table
    from tfsetup.team.lockfile import SectionSpec

    spec = SectionSpec(platform="linux-x86_64", python=h.PY, recipe=SimpleNamespace(id="r"), requirements=("x==1",))

    def digest(url: str) -> str:
        return spec.digest(config_from_table({"index-url": url}, Path("tfsetup.toml")))

    url = "https://alice:${TFSETUP_INDEX_PASSWORD}@example.org/simple"
    monkeypatch.setenv("TFSETUP_INDEX_PASSWORD", "one")
    first = digest(url)
    monkeypatch.setenv("TFSETUP_INDEX_PASSWORD", "two")
    assert digest(url) == first == digest("https://example.org/simple")


def test_every_printed_url_is_redacted():
    from tfsetup.credentials import redact

    assert redact("see https://bob:p%40ss@host/simple and http://TOKEN@h2/x") == \
        "see https://bob:****@host/simple and http://****@h2/x"


# -- issue 20 class 6: find-links credentials, and what `ps` shows while the engine runs ------------------

PS_WRAPPER = '''\
#!{python} -I
# The OS-command boundary (tfsetup honours TFSETUP_UV): while this engine child exists, read every
# process's command line (what `ps` shows every user) and note any that holds the secret; record this
# child's argv and which environment variables carry the secret; then become the real uv.
import json, os, sys
SECRET = {secret!r}
hits = []
for pid in filter(str.isdigit, os.listdir("/proc")):  # not "self": that is this process again
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as fh:
            cmdline = fh.read().decode("utf-8", "replace")
    except OSError:  # gone meanwhile
        continue
    if SECRET in cmdline:
        hits.append({{"pid": int(pid), "cmdline": cmdline.replace("\\0", " ")}})
record = {{"ppid": os.getppid(), "argv": sys.argv[1:], "hits": hits,
          "env_with_secret": sorted(k for k, v in os.environ.items() if SECRET in v)}}
with open({log!r}, "a") as fh:
    fh.write(json.dumps(record) + "\\n")
os.execv({real!r}, [{real!r}] + sys.argv[1:])
'''


def ps_wrapper(root: Path) -> Tuple[Path, Path]:
    from tfsetup.backends.uv import find_uv

    log = root / "engine-argv.jsonl"
    wrapper = root / "uv-ps"
    wrapper.write_text(PS_WRAPPER.format(python=sys.executable, secret=SECRET, log=str(log), real=find_uv()))
    wrapper.chmod(0o755)
    return wrapper, log


def engine_runs(log: Path) -> List[dict]:
    assert log.exists(), "the engine was never started"
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_credentialed_find_links_and_index_never_reach_any_command_line(fake, work, traps, private_index, tmp_path):
    """The README's own form: `${VAR}` in tfsetup.toml for the index and a find-links URL. While each
    engine child runs, no process on the machine (tfsetup included) shows the secret in its command
    line; the engine gets it in its environment; the real install and lock against the password-only
    pypiserver succeed."""
    wrapper, log = ps_wrapper(tmp_path)
    project = work / "project"
    project.mkdir()
    url = f"http://{USER}:${{TFSETUP_INDEX_PASSWORD}}@{private_index}"
    (project / "tfsetup.toml").write_text(
        f'python = "{h.PY}"\nindex-url = "{url}"\nfind-links = ["{url}tensorflow-cpu/"]\n'
        f'platforms = ["linux-{h.host_platform()["machine"]}"]\n')
    env = {"TFSETUP_INDEX_PASSWORD": SECRET, "TFSETUP_UV": str(wrapper), "UV_CACHE_DIR": str(tmp_path / "cold")}
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", "--json", cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    assert h.python_runs(project / ".venv")
    runs = engine_runs(log)
    installs = [r for r in runs if "install" in r["argv"]]
    assert installs, runs
    for run in runs:
        assert run["hits"] == [], run  # no process showed it: not uv, not tfsetup
        assert SECRET not in json.dumps(run["argv"]), run
    assert {"UV_INDEX_URL", "UV_FIND_LINKS"} <= set(installs[0]["env_with_secret"]), installs[0]
    secret_free(traps, proc.stdout, proc.stderr, (project / ".venv" / "tfsetup-env.json").read_text())

    log.unlink()
    locked = h.run("lock", "--recipes-file", str(fake.table), "--json", cwd=project, env=env)
    assert locked.returncode == 0, locked.stderr
    compiles = [r for r in engine_runs(log) if "compile" in r["argv"]]
    assert compiles and all(r["hits"] == [] for r in compiles), compiles
    assert {"UV_DEFAULT_INDEX", "UV_FIND_LINKS"} <= set(compiles[0]["env_with_secret"]), compiles[0]
    secret_free(traps, locked.stdout, locked.stderr, (project / "tfsetup.lock").read_text())


def test_credentialed_find_links_on_the_command_line_stay_off_the_engines(fake, work, traps, private_index,
                                                                            tmp_path):
    """Given as flags, the secret is on tfsetup's own command line (the user typed it there), but on no
    engine's: the only process showing it is tfsetup itself."""
    wrapper, log = ps_wrapper(tmp_path)
    url = f"http://{USER}:{SECRET}@{private_index}"
    proc = h.run("install", str(work / "env"), "--python", h.PY, "--recipes-file", str(fake.table), "--yes",
                 "--no-verify", "--json", "--index-url", url, "--find-links", f"{url}tensorflow-cpu/", cwd=work,
                 env={"TFSETUP_UV": str(wrapper), "UV_CACHE_DIR": str(tmp_path / "cold")})
    assert proc.returncode == 0, proc.stderr
    for run in engine_runs(log):
        assert [hit["pid"] for hit in run["hits"]] == [run["ppid"]], run  # tfsetup's own, nothing else
        assert "tfsetup" in run["hits"][0]["cmdline"], run
    secret_free(traps, proc.stdout, proc.stderr)


@pytest.mark.parametrize("url", ["http://ghp_0123456789abcdef@example.org/simple",
                                 "http://alice:hunter2@example.org/simple"], ids=["token as user", "password"])
@pytest.mark.parametrize("key", ["index-url", "extra-index-urls", "find-links"])
def test_a_literal_secret_in_a_committed_config_is_refused_with_the_fix(fake, work, traps, url, key):
    project = work / "project"
    project.mkdir()
    value = f'"{url}"' if key == "index-url" else f'["{url}"]'
    (project / "tfsetup.toml").write_text(f'python = "{h.PY}"\n{key} = {value}\n')
    proc = h.run("plan", "--recipes-file", str(fake.table), "--json", cwd=project)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = h.error_line(proc.stderr)
    assert f"'{key}'" in line and "hunter2" not in line and "ghp_" not in line, line
    assert "${TFSETUP_INDEX_" in json.loads(proc.stdout)["fix"]
    secret_free(traps, proc.stdout, proc.stderr)


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_the_pip_engine_gets_find_links_credentials_from_its_environment(fake, work, traps, private_index, tmp_path):
    """The pip fallback, for real: PIP_INDEX_URL and PIP_FIND_LINKS carry the `${VAR}` credentials; the
    audit hook sees every child tfsetup starts, and none has the secret on its command line."""
    project = work / "project"
    project.mkdir()
    url = f"http://{USER}:${{TFSETUP_INDEX_PASSWORD}}@{private_index}"
    (project / "tfsetup.toml").write_text(f'python = "{h.PY}"\nindex-url = "{url}"\n'
                                          f'find-links = ["{url}tensorflow-cpu/"]\n')
    proc = h.run("install", "--backend", "pip", "--recipes-file", str(fake.table), "--yes", "--no-verify", "--json",
                 cwd=project, env={"TFSETUP_INDEX_PASSWORD": SECRET, "PIP_CACHE_DIR": str(tmp_path / "cold")})
    assert proc.returncode == 0, proc.stderr
    assert h.python_runs(project / ".venv")
    assert any("pip" in (r.get("argv") or []) for r in h.audit_records(traps))
    secret_free(traps, proc.stdout, proc.stderr)
