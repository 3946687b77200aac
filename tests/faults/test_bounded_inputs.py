"""Issue 11 items 13 and 15: every input is bounded and every option value validated, through the real CLI.

13: recipes tables, locks, host files, project configs, team locks and env records that are
/dev/zero, huge, binary or nested 100,000 deep: one clear error (exit 2), one JSON document with
--json, never a traceback or a hang.
15: option values (nan/inf/negative numbers, non-UTF-8 paths, names starting with '-', /proc and /sys
as env PATHs, a --find-links that does not exist) are refused with exit 2 before any work; engine
errors are indented details under the one `tfsetup: error:` line; the JSON `error` is one line with
the details in `details`; every error has a fix.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Tuple

import pytest

from tests.e2e.helpers import tfsetup_exe
from tests.faults import harness as h

DEEP_JSON = "[" * 100000 + "]" * 100000
DEEP_TOML = "x = " + "[" * 100000 + "]" * 100000 + "\n"


def content(kind: str, path: Path, deep: str) -> None:
    if kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(40 << 20)  # sparse: 40 MiB of NULs in no time
    elif kind == "binary":
        path.write_bytes(os.urandom(4096))
    else:
        path.write_text(deep)


KINDS = ["/dev/zero", "huge", "binary", "deep"]


# What the one error says about each kind of bad content (the reader that refuses it decides the words).
KIND_SAYS = {"/dev/zero": ("larger than 16 MiB", "not a regular file"), "huge": ("larger than 16 MiB",),
             "binary": ("not valid TOML", "binary data", "not valid UTF-8", "not valid JSON"),
             "deep": ("nested too deeply",)}


def one_error(proc, says, json_out: bool = True) -> dict:
    """Exit 2 with exactly one error line that says `says` (a phrase, or one of several), a fix, and with
    --json one document: the right error, not merely an error."""
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    line = h.error_line(proc.stderr)
    phrases = (says,) if isinstance(says, str) else tuple(says)
    assert any(phrase in line for phrase in phrases), f"expected {phrases} in: {line}"
    assert "fix:" in proc.stderr, proc.stderr
    if not json_out:
        return {"line": line}
    doc = json.loads(proc.stdout)  # exactly one document
    assert "\n" not in doc["error"] and doc["fix"], doc
    return doc


@pytest.mark.parametrize("kind", KINDS)
def test_recipes_file(fake, work, kind):
    table = work / "recipes.toml"
    content(kind, table, DEEP_TOML)
    proc = h.run("plan", "--python", h.PY, "--recipes-file", str(table), "--json", cwd=work, timeout=60)
    one_error(proc, KIND_SAYS[kind])


def _table_without_its_lock(fake, work: Path) -> Tuple[Path, Path]:
    """A copy of the fake recipes table, and where its lock goes (not written: the test puts it there)."""
    table = work / "table" / "recipes.toml"
    table.parent.mkdir()
    table.write_text(fake.table.read_text())
    lock = table.parent / "locks" / "faults-fake-tf" / f"py{h.PY}.txt"
    lock.parent.mkdir(parents=True)
    return table, lock


def _install_with(fake, work: Path, table: Path) -> subprocess.CompletedProcess:
    return h.run("install", str(work / "env"), "--python", h.PY, "--recipes-file", str(table), "--offline",
                 "--find-links", str(fake.wheels), "--yes", "--no-verify", "--json", cwd=work, timeout=60)


@pytest.mark.parametrize("kind", KINDS)
def test_recipe_lock(fake, work, kind):
    table, lock = _table_without_its_lock(fake, work)
    content(kind, lock, "x==1 --hash=sha256:" + "[" * 100000)
    proc = _install_with(fake, work, table)
    one_error(proc, str(lock))  # /dev/zero too: there but unusable is exit 2, not "no lock"
    assert not (work / "env").exists()


def special(kind: str, path: Path) -> None:
    """Files that exist but are no lock: a FIFO nobody writes to, a directory, a dangling link."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(path.parent / "nowhere")


SPECIAL = ["fifo", "directory", "dangling link"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_recipe_lock_that_is_not_a_file(fake, work, kind):
    table, lock = _table_without_its_lock(fake, work)
    special(kind, lock)
    proc = _install_with(fake, work, table)
    doc = one_error(proc, str(lock))
    assert "no lock" not in doc["error"], doc
    assert not (work / "env").exists()


@pytest.mark.parametrize("kind", SPECIAL + ["/dev/zero"])
def test_team_lock_that_is_not_a_file(fake, work, kind):
    project = work / "project"
    project.mkdir()
    (project / "tfsetup.toml").write_text(f'python = "{h.PY}"\n')
    lock = project / "tfsetup.lock"
    if kind == "/dev/zero":
        lock.symlink_to("/dev/zero")
    else:
        special(kind, lock)
    proc = h.run("plan", "--recipes-file", str(fake.table), "--json", cwd=project, timeout=60)
    one_error(proc, "tfsetup.lock")


@pytest.mark.parametrize("kind", ["fifo", "dangling link"])
def test_host_file_that_is_not_a_file(fake, work, kind):
    facts = work / "host.json"
    special(kind, facts)
    for args in (["plan", "--recipes-file", str(fake.table)], ["doctor", str(work / "env")]):
        one_error(h.run(*args, "--host-file", str(facts), "--json", cwd=work, timeout=60), str(facts))


@pytest.mark.parametrize("config", ["tfsetup.toml", "pyproject.toml"])
def test_a_missing_find_links_in_the_config_is_refused_before_any_work(fake, work, traps, config):
    project = work / "project"
    project.mkdir()
    prefix = "[tool.tfsetup]\n" if config == "pyproject.toml" else ""
    (project / config).write_text(f'{prefix}python = "{h.PY}"\nfind-links = ["https://example.invalid/wheels", '
                                  '"no such wheelhouse"]\n')
    for path in (traps / "audit").glob("*.jsonl"):
        path.unlink()
    for args in (["install", "--recipes-file", str(fake.table), "--offline", "--yes", "--json"],
                 ["lock", "--recipes-file", str(fake.table), "--json"]):
        doc = one_error(h.run(*args, cwd=project, timeout=60), "'no such wheelhouse' does not exist")
        key = "tool.tfsetup.find-links" if config == "pyproject.toml" else "find-links"
        assert f"'{key}'" in doc["error"] and str(project / config) in doc["error"], doc
        assert "'no such wheelhouse' does not exist" in doc["error"] and "wheelhouse" in doc["fix"], doc
    assert h.audit_records(traps) == [] and not (project / ".venv").exists()  # no engine, no venv
    assert not (project / "tfsetup.lock").exists()
    (project / "no such wheelhouse").mkdir()  # once it exists, the URL beside it is not checked
    proc = h.run("install", "--recipes-file", str(fake.table), "--offline", "--find-links", str(fake.wheels),
                 "--yes", "--no-verify", "--json", cwd=project, timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_host_file(fake, work, kind):
    facts = work / "host.json"
    content(kind, facts, DEEP_JSON)
    proc = h.run("plan", "--host-file", str(facts), "--json", "--recipes-file", str(fake.table), cwd=work,
                 timeout=60)
    one_error(proc, KIND_SAYS[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_project_config_and_team_lock(fake, work, kind):
    project = work / "project"
    project.mkdir()
    content(kind, project / "tfsetup.toml", DEEP_TOML)
    proc = h.run("plan", "--python", h.PY, "--json", "--recipes-file", str(fake.table), cwd=project, timeout=60)
    one_error(proc, KIND_SAYS[kind])
    (project / "tfsetup.toml").unlink()
    (project / "tfsetup.toml").write_text(f'python = "{h.PY}"\n')
    content(kind, project / "tfsetup.lock", DEEP_TOML)
    proc = h.run("install", "--recipes-file", str(fake.table), "--yes", "--no-verify", "--json", cwd=project,
                 timeout=60)
    one_error(proc, KIND_SAYS[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_env_record_is_ignored_not_fatal(existing, kind):
    """A damaged tfsetup-env.json is not ours to trust: doctor and verify carry on without it."""
    record = existing / "tfsetup-env.json"
    record.unlink()
    content(kind, record, DEEP_JSON)
    proc = h.run("doctor", str(existing), "--json", cwd=existing.parent, timeout=120)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    json.loads(proc.stdout)


# -- item 15: option values ---------------------------------------------------------------------------

def test_bad_numbers(existing):
    for value in ("nan", "inf", "-1", "0", "1e400"):
        proc = h.run("verify", str(existing), "--timeout", value, "--json", cwd=existing.parent, timeout=60)
        one_error(proc, "--timeout")


@pytest.mark.parametrize("where", ["/proc/self/tf-env", "/sys/kernel/tf-env", "/dev/shm/../null"])
def test_kernel_trees_are_not_env_paths(fake, work, where):
    for args in (fake.install_args(Path(where), "--no-verify", "--json"), ["verify", where, "--json"],
                 ["doctor", where, "--json"]):
        one_error(h.run(*args, cwd=work, timeout=60), "kernel interface")


@pytest.mark.parametrize("where", ["/proc/self/tf-env", "/sys/kernel/tf-env", "/dev/shm/../null", "-rf"])
def test_every_path_option_is_validated(fake, work, where):
    """add --env, upgrade, remove, prove --env, wheelhouse DIR and report go through the PATH rules of
    install/verify/doctor: refused (exit 2) before any work."""
    table = ["--recipes-file", str(fake.table)]
    for args in (["add", "pandas", f"--env={where}", "--json"], ["upgrade", "--yes", "--json", "--", where],
                 ["remove", "--yes", "--json", "--", where], ["prove", f"--env={where}", "--json"],
                 ["wheelhouse", *table, "--json", "--", where], ["report", "--json", "--", where]):
        one_error(h.run(*args, cwd=work, timeout=60), "kernel interface" if where != "-rf" else "starts with '-'")
    assert os.listdir(work) == []


def test_the_fix_for_a_name_like_an_option_is_honest(fake, work):
    """`./-rf` and `/full/-rf` are refused too (uv gets the staging dir beside it by name): the fix says rename."""
    for given in ("-rf", "./-rf", str(work / "-rf")):
        args = ["install", "--python", h.PY, "--recipes-file", str(fake.table), "--offline", "--find-links",
                str(fake.wheels), "--yes", "--no-verify", "--json", "--", given]
        doc = one_error(h.run(*args, cwd=work, timeout=60), "starts with '-'")
        assert doc["fix"] == "choose a name that does not start with '-'"
    assert os.listdir(work) == []


def test_host_file_names(fake, work):
    bad = os.fsencode(str(work)) + b"/host-\xff.json"
    for command in ([b"plan"], [b"doctor", os.fsencode(work / "env")], [b"prove"], [b"recipes"]):
        proc = subprocess.run([tfsetup_exe().encode(), *command, b"--host-file", bad, b"--json"], capture_output=True,
                              text=True, errors="replace", env=h.child_env(), cwd=work, timeout=60)
        one_error(proc, "--host-file")
        assert "not valid UTF-8" in proc.stdout, proc.stdout
    proc = h.run("plan", "--recipes-file", str(fake.table), "--json", "--host-file", "-", cwd=work, timeout=60,
                 input=h.run("detect", "--json", cwd=work, timeout=60).stdout)
    assert proc.returncode == 0, proc.stderr  # `-` is stdin, not an option


def test_names_that_look_like_options_and_non_utf8_paths(fake, work):
    proc = h.run("install", "--python", h.PY, "--recipes-file", str(fake.table), "--offline", "--find-links",
                 str(fake.wheels), "--yes", "--no-verify", "--json", "--", "-rf", cwd=work, timeout=60)
    one_error(proc, "starts with '-'")
    assert not (work / "-rf").exists()
    bad = os.fsencode(str(work)) + b"/env-\xff\xfe"
    proc = subprocess.run([tfsetup_exe().encode(), b"install", bad, b"--python", h.PY.encode(), b"--recipes-file",
                           os.fsencode(fake.table), b"--offline", b"--find-links", os.fsencode(fake.wheels),
                           b"--yes", b"--no-verify", b"--json"], capture_output=True, text=True, errors="replace",
                          env=h.child_env(), cwd=work, timeout=60)
    one_error(proc, "not valid UTF-8")
    assert os.listdir(work) == []


def test_a_missing_wheelhouse_is_refused_before_any_work(fake, work, traps):
    proc = h.run(*fake.install_args(work / "env", "--no-verify", "--json")[:-0 or None], cwd=work)
    assert proc.returncode == 0, proc.stderr  # the good one works
    h.audit_records(traps)
    for path in (traps / "audit").glob("*.jsonl"):
        path.unlink()
    proc = h.run("install", str(work / "env2"), "--python", h.PY, "--recipes-file", str(fake.table), "--offline",
                 "--find-links", str(work / "no such wheelhouse"), "--yes", "--json", cwd=work)
    one_error(proc, "does not exist")
    assert h.audit_records(traps) == [] and not (work / "env2").exists()  # no engine, no venv


def test_engine_errors_are_indented_details(fake, work):
    empty = work / "empty wheelhouse"
    empty.mkdir()
    proc = h.run("install", str(work / "env"), "--python", h.PY, "--recipes-file", str(fake.table), "--offline",
                 "--find-links", str(empty), "--yes", "--json", cwd=work)
    assert proc.returncode == 4, proc.stderr
    line = h.error_line(proc.stderr)
    after = proc.stderr.split(line, 1)[1].splitlines()[1:]
    assert after and all(ln.startswith("  ") for ln in after if ln.strip()), proc.stderr
    assert any(ln.startswith("  fix: ") for ln in after)
    doc = json.loads(proc.stdout)
    assert "\n" not in doc["error"] and doc["fix"] and doc.get("details"), doc
