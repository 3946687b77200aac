"""Security guarantees, proven on the installed command:
- every lock is installed with hashes enforced (the engine's argv, seen by an audit hook, always has
  --require-hashes; tampered wheels are refused in test_sources.py; hash-less locks in test_bad_inputs.py);
- tfsetup starts no shell and never sudo (audit hook and a sudo trap, checked after EVERY fault test by
  conftest.py's autouse fixture; here with hostile-looking names and URLs that would run commands if a
  shell ever saw them, including the activate script the user sources);
- tfsetup refuses to change a system Python's site-packages."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults import harness as h
from tests.faults.harness import python_runs


@pytest.fixture
def canary(tmp_path) -> Path:
    path = tmp_path / "canary"  # no spaces: a payload that reaches a shell must be able to run
    path.mkdir()
    return path


def payloads(canary: Path) -> list:
    return [f"$(touch {canary}/p1)", f"`touch {canary}/p2`", f"; touch {canary}/p3 ;", f"| touch {canary}/p4",
            f"' ; touch {canary}/p5 ; '", f'" ; touch {canary}/p6 ; "', f"&& touch {canary}/p7"]


def hostile_name(canary: Path) -> str:
    """A valid file name (no '/', under 255 bytes) that runs commands if a shell ever evaluates it."""
    return "env $(touch p1) `touch p2`; touch p3 | touch p4 && touch p5 ' ; touch p6 ' \" ; touch p7 ; \" !!"


def test_every_engine_install_enforces_hashes(fake, work, traps):
    proc = h.run(*fake.install_args(work / "env", "--no-verify"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    installs = [r["argv"] for r in h.audit_records(traps)
                if "pip" in r["argv"] and "install" in r["argv"] and "uninstall" not in r["argv"]]
    assert installs, "no engine install was seen"
    for argv in installs:
        assert "--require-hashes" in argv and "--no-deps" in argv and "--only-binary" in argv, argv


@pytest.mark.parametrize("quotes", [False, True])
def test_hostile_env_name_cannot_run_commands(fake, work, canary, quotes):
    """A PATH whose name would run commands if a shell saw it: the env works, and activating it in
    bash (where uv writes the prompt unquoted) runs nothing and is not broken."""
    name = hostile_name(canary) if quotes else "env $(touch p1) `touch p2`"
    target = work / name  # relative `touch`: whatever ran would write into the canary dir
    proc = h.run(*fake.install_args(target, "--no-verify", "--json"), cwd=canary)
    assert proc.returncode == 0, proc.stderr
    assert python_runs(target)
    out = subprocess.run(["bash", "-c", 'source "$1/bin/activate" && echo "$VIRTUAL_ENV_PROMPT" && fault-hello',
                          "_", str(target)], capture_output=True, text=True, cwd=canary)
    assert out.returncode == 0, out.stderr
    prompt = out.stdout.splitlines()[0]
    assert "$(" not in prompt and "`" not in prompt and prompt.startswith("env __touch p1_")  # made harmless
    assert out.stdout.splitlines()[-1] == str(target)
    assert list(canary.iterdir()) == []


def test_pip_engine_refuses_a_path_it_cannot_quote(fake, work, canary):
    target = work / hostile_name(canary)
    proc = h.run(*fake.install_args(target, "--backend", "pip"), cwd=canary)
    assert proc.returncode == 2, proc.stderr
    assert "the pip engine would write" in h.error_line(proc.stderr)
    assert not target.exists() and h.leftovers(work) == [] and list(canary.iterdir()) == []


def test_hostile_values_in_a_recipes_table(fake, work, canary):
    """Free text in a recipes table (summary, sources) is only ever printed."""
    text = json.dumps(" ".join(payloads(canary)))
    table = h.write_table(work / "hostile table", [h.lock_line(fake.wheel)], summary=text,
                          sources=json.dumps([f"https://example.org/{p}" for p in payloads(canary)]))
    for args in (["recipes", "--all"], ["plan", "--python", h.PY], ["plan", "--python", h.PY, "--json"]):
        proc = h.run(*args, "--recipes-file", str(table), cwd=work)
        assert proc.returncode == 0, proc.stderr
    proc = h.run("install", str(work / "env"), "--python", h.PY, "--recipes-file", str(table), "--offline",
                 "--find-links", str(fake.wheels), "--yes", cwd=work)
    assert proc.returncode == 4 and "verification failed" in proc.stderr  # the fake TF, as always
    assert list(canary.iterdir()) == []


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_hostile_urls_and_options(fake, work, canary):
    target = work / "env"
    bad = (2, 4)  # refused as bad input, or tried and failed: either way, nothing ran
    cases = [
        (["--index-url", f"http://127.0.0.1:9/simple/$(touch {canary}/u1)"], bad),
        (["--index-url", f"http://127.0.0.1:9/simple/;touch${{IFS}}{canary}/u2"], (4,)),
        (["--index-url", f"--extra-index-url=http://evil.example/$(touch {canary}/u3)"], (2,)),
        (["--index-url", f"file:///dev/null`touch${{IFS}}{canary}/u4`"], (4,)),
        (["--offline", "--find-links", f"$(touch {canary}/u5)"], (2,)),  # no such wheelhouse: refused first
        (["--offline", "--find-links", f"--no-index;touch {canary}/u6"], bad),
        (["--tf", f"2.21$(touch {canary}/u7)"], (2,)),
        (["--python", f"3.11;touch {canary}/u8"], (2,)),
        (["--recipe", f"x$(touch {canary}/u9)"], (2,)),
    ]
    for extra, codes in cases:
        args = ["install", str(target), "--recipes-file", str(fake.table), "--yes", "--no-verify", *extra]
        if "--python" not in extra:
            args += ["--python", h.PY]
        proc = h.run(*args, cwd=work, env={"UV_HTTP_RETRIES": "0"})
        assert proc.returncode in codes, (extra, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not target.exists() and list(canary.iterdir()) == []


def test_hostile_values_in_a_project_config(fake, work, canary):
    project = work / "project"
    project.mkdir()
    (project / "tfsetup.toml").write_text(
        f'python = "{h.PY}"\n'
        f'index-url = "http://127.0.0.1:9/$(touch {canary}/c1)"\n'
        f'find-links = ["$(touch {canary}/c2)", "`touch {canary}/c3`"]\n'
        f'env = "env $(touch {canary}/c4)"\n')
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", cwd=project,
                 env={"UV_HTTP_RETRIES": "0"})
    assert proc.returncode in (2, 4), proc.stderr
    assert "Traceback" not in proc.stderr
    (project / "tfsetup.toml").write_text(f'packages = ["numpy; $(touch {canary}/c5)"]\n')
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", cwd=project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert list(canary.iterdir()) == [] and sorted(p.name for p in project.iterdir()) == ["tfsetup.toml"]


def test_doctor_refuses_to_change_a_system_python(fake, tmp_path):
    """`doctor --fix` aimed at a Python installation (one the test builds: a copy of the interpreter with
    its own empty site-packages, neither a venv nor a conda env, so the result does not depend on what
    the machine's own Pythons have installed): refused before any backup or change; `install` into it
    is refused too. As a safety net, uv only sees an empty wheelhouse, so even a broken refusal could
    not install anything."""
    prefix = tmp_path / "usr local"
    python = h.system_python(prefix)
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    empty = tmp_path / "empty"
    empty.mkdir()
    net = {"UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(empty), "PIP_NO_INDEX": "1"}
    listing = sorted(p.name for p in tmp_path.iterdir())
    proc = h.run("doctor", str(prefix), "--fix", "--yes", "--json", "--recipes-file", str(fake.table),
                 env=net, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "does not change a system Python's site-packages" in h.error_line(proc.stderr)
    assert "sudo" not in proc.stdout + proc.stderr
    proc = h.run("install", str(prefix), "--python", h.PY, "--recipes-file", str(fake.table), "--offline",
                 "--find-links", str(empty), "--yes", "--force", "--no-verify", env=net, cwd=tmp_path)
    assert proc.returncode == 2 and "not a virtual environment" in h.error_line(proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no backup, no staging beside it
    assert list(site.iterdir()) == [] and python.exists()  # nothing installed into it, nothing removed
