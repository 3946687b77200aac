"""Credentials, fast: what goes on an engine's argv and what in its environment (uv and pip), the last
guard at the engine boundary, committed-config secrets, and redaction on all three output channels.
The fault test (tests/faults/test_credentials.py) proves the same against a real pypiserver and `ps`."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import PackageSource, Target
from tfsetup.backends.pip import PipBackend
from tfsetup.backends.uv import UvBackend
from tfsetup.credentials import refuse_literal_secret, redact
from tfsetup.errors import BadInput

SECRET = "S3CRET-pw"
INDEX = f"https://alice:{SECRET}@host.example/simple"
LINKS = f"https://alice:{SECRET}@host.example/wheels/"


def engines():
    return [UvBackend("uv"), PipBackend()]


@pytest.mark.parametrize("backend", engines(), ids=["uv", "pip"])
@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
def test_credentialed_urls_travel_in_the_environment_never_on_the_argv(backend, offline):
    source = PackageSource(index_url=INDEX, extra_index_urls=[f"https://{SECRET}@h2.example/simple"],
                           find_links=["/srv/wheels", LINKS], offline=offline)
    for argv in (backend.install_lock_argv(["python"], Path("lock.txt"), source, Target()),
                 backend.install_packages_argv(["python"], ["pandas"], Path("c.txt"), source)):
        assert SECRET not in " ".join(argv), argv
        assert "--find-links" not in argv  # the whole list moved: an argv option would replace the variable
    env = source.env()
    assert env["UV_FIND_LINKS"] == f"/srv/wheels,{LINKS}" and env["PIP_FIND_LINKS"] == f"/srv/wheels {LINKS}"
    if offline:  # the wheelhouse only: no index, with or without credentials
        assert not {"UV_INDEX_URL", "PIP_INDEX_URL", "UV_EXTRA_INDEX_URL"} & set(env)
    else:
        assert env["UV_INDEX_URL"] == env["PIP_INDEX_URL"] == INDEX
        assert SECRET in env["UV_EXTRA_INDEX_URL"] and SECRET in env["PIP_EXTRA_INDEX_URL"]


def test_urls_without_credentials_stay_options():
    source = PackageSource(index_url="https://host.example/simple", find_links=["/srv/wheels", "https://h/w/"])
    argv = UvBackend("uv").install_packages_argv(["python"], ["x"], Path("c.txt"), source)
    assert argv[argv.index("--index-url") + 1] == "https://host.example/simple"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--find-links"] == ["/srv/wheels", "https://h/w/"]
    assert source.env() == {}


def test_a_link_with_a_separator_is_refused_when_the_list_must_travel_in_the_environment():
    with pytest.raises(BadInput, match="holds a comma or a space"):
        PackageSource(find_links=["/srv/my wheels", LINKS]).env()


def test_cross_resolution_keeps_find_links_credentials_off_the_argv(monkeypatch):
    from tfsetup import child, resolve

    seen = {}

    def fake_run(cmd, timeout, env, **kwargs):  # the one child runner: the OS-command boundary
        seen.update(cmd=cmd, env=env, stdin=kwargs["stdin"])
        return child.ChildResult(0, "x==1\n", "", 0.0, False)

    monkeypatch.setattr(child, "run", fake_run)
    resolve.uv_compile("uv", "x86_64-manylinux_2_28", "3.11", ["x"], index_urls=[INDEX], find_links=[LINKS])
    assert SECRET not in " ".join(seen["cmd"]) and "--find-links" not in seen["cmd"]
    assert seen["env"]["UV_FIND_LINKS"] == LINKS and seen["env"]["UV_DEFAULT_INDEX"] == INDEX
    assert seen["stdin"] == "x\n"  # the requirements: on stdin, never on the command line


def test_the_engine_boundary_refuses_a_credential_on_any_command_line(monkeypatch):
    started = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: started.append(a))
    for arg in (f"--find-links={LINKS}", f"https://{SECRET}@host/simple"):
        with pytest.raises(BadInput) as caught:
            run_step("install", ["uv", "pip", "install", arg])
        assert SECRET not in caught.value.message and "command line" in caught.value.message
    assert started == []  # refused before anything ran


@pytest.mark.parametrize("url", [f"https://alice:{SECRET}@h/simple", f"https://{SECRET}@h/simple"],
                         ids=["password", "token as user"])
def test_a_literal_secret_in_a_committed_file_is_refused_with_a_readable_fix(url):
    with pytest.raises(BadInput) as caught:
        refuse_literal_secret(url, "tfsetup.toml: 'index-url'")
    message, fix = redact(caught.value.message), redact(caught.value.fix_text())  # as the output layer shows them
    assert SECRET not in message + fix
    assert "${TFSETUP_INDEX_PASSWORD}@" in fix or "${TFSETUP_INDEX_TOKEN}@" in fix, fix


@pytest.mark.parametrize("url", ["https://alice:${PW}@h/simple", "https://${TOKEN}@h/simple", "https://h/simple"])
def test_variable_references_and_plain_urls_are_accepted_and_shown_as_written(url):
    refuse_literal_secret(url, "tfsetup.toml: 'index-url'")
    assert redact(url) == url


def test_output_redacts_json_stderr_and_the_rich_report(capsys, monkeypatch):
    """The output layer itself, fed an unredacted URL (every other test sees messages redacted where
    they are made): each of the three channels redacts on its own."""
    from tfsetup import output

    url = f"ftp://alice:{SECRET}@host/simple and https://tok{SECRET}@h2/x"
    shown = "ftp://alice:****@host/simple and https://****@h2/x"
    monkeypatch.setattr(output, "_console", None)  # a console on the captured stdout
    output.emit_json({"error": f"cannot reach {url}"})
    out, _ = capsys.readouterr()
    assert json.loads(out)["error"] == f"cannot reach {shown}"
    output.err(f"cannot reach {url}")
    _, err = capsys.readouterr()
    assert err == f"cannot reach {shown}\n"
    output.console().print(f"index {url}")
    out, _ = capsys.readouterr()
    assert out.strip() == f"index {shown}"
