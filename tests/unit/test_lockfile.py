"""team/lockfile.py at its edges, fast: the lock's digests and text, materialized files in a tmp dir, and
cross-resolution against a fake uv (an executable script: the OS-command boundary) and a local index."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, List

import pytest

from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.platforms import TEAM_PLATFORMS
from tfsetup.recipes import load_recipes
from tfsetup.team.config import ProjectConfig
from tfsetup.team.lockfile import (LockSection, TeamLock, _digest, describe, extra_section_specs,
                                   host_sections, lock_inputs_digest, materialize, plan_lock_update,
                                   read_team_lock, render_lock, resolve_sections, section_specs,
                                   stale_reasons)

TABLE = load_recipes()
A, B, C, D, E, F = (ch * 64 for ch in "abcdef")
PINNED = f"six==1.17.0 \\\n    --hash=sha256:{A}\n"


def config_at(tmp_path: Path, **kw) -> ProjectConfig:
    return ProjectConfig(path=tmp_path / "tfsetup.toml", **kw)


def specs_of(config: ProjectConfig, platforms: List[str], python: str = "3.11"):
    return section_specs(TABLE, config, platforms, [python], [])


def section(platform: str, python: str = "3.11", requirements: str = PINNED) -> LockSection:
    return LockSection(platform, python, "some-recipe", "x86_64-manylinux_2_28", "0" * 64, requirements)


# ---------------------------------------------------------------------------------------------
# digests and the lock's text

def test_the_digest_is_sha256_of_key_sorted_json():
    # the lock's on-disk format: the same inputs give the same digest whatever their key order
    expected = hashlib.sha256(b'{"a": 2, "b": [1, "x"]}').hexdigest()
    assert _digest({"b": [1, "x"], "a": 2}) == expected
    assert _digest({"a": 2, "b": [1, "x"]}) == expected


def test_the_lock_inputs_digest_is_of_the_sorted_section_digests(tmp_path):
    config = config_at(tmp_path)
    specs = specs_of(config, ["linux-x86_64", "windows-x86_64"])
    digests = sorted(s.digest(config) for s in specs)
    expected = hashlib.sha256(json.dumps(digests).encode()).hexdigest()
    assert lock_inputs_digest(config, specs) == expected
    assert lock_inputs_digest(config, list(reversed(specs))) == expected  # order of sections does not matter
    text = render_lock(config, specs, [PINNED, PINNED])
    assert f'\ninputs = "{expected}"\n' in text
    assert read_team_lock(_write(config.lock_path, text)).inputs == expected


def test_a_section_digest_ignores_index_credentials(tmp_path):
    spec = specs_of(config_at(tmp_path), ["linux-x86_64"])[0]
    plain = config_at(tmp_path, index_url="https://mirror.example/simple")
    secret = config_at(tmp_path, index_url="https://bob:hunter2@mirror.example/simple")
    other = config_at(tmp_path, index_url="https://other.example/simple")
    assert spec.digest(plain) == spec.digest(secret) != spec.digest(other)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("doc", [
    'version = 1\ninputs = "x"\nsection = "not tables"\n',  # inputs right, sections wrong
    'version = 1\ninputs = 7\n[[section]]\nplatform = "linux-x86_64"\n',  # sections right, inputs wrong
    'version = 1\n',
])
def test_a_lock_needs_both_inputs_and_sections(tmp_path, doc):
    with pytest.raises(TfsetupError) as caught:
        read_team_lock(_write(tmp_path / "tfsetup.lock", doc))
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert "needs 'inputs' (a string) and [[section]] tables" in caught.value.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_lock_that_is_not_a_regular_file_is_refused_by_name(tmp_path):
    path = tmp_path / "tfsetup.lock"
    os.mkfifo(path)  # read as a file it would be empty (no writer), not a lock
    with pytest.raises(TfsetupError) as caught:
        read_team_lock(path)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert f"team lock {path} is not a regular file" in caught.value.message


def test_a_lock_with_no_sections_reads_as_empty(tmp_path):
    lock = read_team_lock(_write(tmp_path / "tfsetup.lock", 'version = 1\ninputs = "x"\nsection = []\n'))
    assert lock.inputs == "x" and lock.sections == ()
    assert describe(lock) == "none"


def test_describe_names_every_section_in_order(tmp_path):
    lock = TeamLock(tmp_path / "tfsetup.lock", "x", (section("macos-arm64", "3.12"), section("linux-x86_64")))
    assert describe(lock) == "macos-arm64 py3.12, linux-x86_64 py3.11"


def test_host_sections_are_those_of_the_hosts_platform_any_accelerator(tmp_path):
    sections = (section("linux-x86_64"), section("macos-arm64"), section("linux-x86_64-cuda", "3.12"),
                section("windows-x86_64"), section("macos-arm64-cpu"))
    lock = TeamLock(tmp_path / "tfsetup.lock", "x", sections)
    assert [s.name for s in host_sections(lock, "linux-x86_64")] == ["linux-x86_64 py3.11", "linux-x86_64-cuda py3.12"]
    assert [s.name for s in host_sections(lock, "macos-arm64")] == ["macos-arm64 py3.11", "macos-arm64-cpu py3.11"]
    assert host_sections(lock, "linux-aarch64") == []


def test_stale_reasons_name_a_missing_a_changed_and_an_unwanted_section(tmp_path):
    config = config_at(tmp_path)
    specs = specs_of(config, ["linux-x86_64", "windows-x86_64"])
    fresh = LockSection("linux-x86_64", "3.11", specs[0].recipe.id, specs[0].recipe.python_platform,
                        specs[0].digest(config), PINNED)
    lock = TeamLock(config.lock_path, "x", (fresh,))
    assert stale_reasons(lock, config, specs) == ["no section for windows-x86_64 py3.11"]
    changed = TeamLock(config.lock_path, "x", (section("linux-x86_64"), section("macos-arm64", "3.12")))
    assert stale_reasons(changed, config, specs) == [
        "linux-x86_64 py3.11: the config or recipe changed since it was locked",
        "no section for windows-x86_64 py3.11",
        "macos-arm64 py3.12: no longer asked for by the config"]


def test_section_specs_name_the_first_unknown_platform(tmp_path):
    config = config_at(tmp_path)
    with pytest.raises(TfsetupError) as caught:
        section_specs(TABLE, config, ["linux-x86_64", "vax", "pdp11"], ["3.11"], [])
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert caught.value.message == f"unknown platform 'vax'; choose from {', '.join(TEAM_PLATFORMS)}"


# ---------------------------------------------------------------------------------------------
# planning an update when sections cannot be made or the lock is new

def test_a_section_whose_recipe_is_gone_is_named_as_dropped(tmp_path):
    config = config_at(tmp_path)
    lock = TeamLock(config.lock_path, "x", (section("linux-x86_64"), section("windows-x86_64", "3.99")))
    specs, problems = extra_section_specs(TABLE, config, lock, [("linux-x86_64", "3.11")], [])
    assert specs == []
    assert len(problems) == 1 and problems[0].startswith(
        "windows-x86_64 py3.99: no recipe for windows-x86_64 supports Python 3.99: ")
    asked = specs_of(config, ["linux-aarch64"])
    update = plan_lock_update(TABLE, config, asked, specs_of(config, ["linux-x86_64"]), lock, True, [])
    assert [f"{s.platform} py{s.python}" for s in update.specs] == ["linux-x86_64 py3.11", "linux-aarch64 py3.11"]
    assert f"dropped {problems[0]}" in update.notes


def test_a_flag_on_a_project_with_no_lock_yet_resolves_the_configs_sections_too(tmp_path):
    config = config_at(tmp_path)
    ours = specs_of(config, ["linux-x86_64", "macos-arm64"])
    asked = specs_of(config, ["windows-x86_64"])
    update = plan_lock_update(TABLE, config, asked, ours, None, True, [])
    names = ["linux-x86_64 py3.11", "macos-arm64 py3.11", "windows-x86_64 py3.11"]
    assert [f"{s.platform} py{s.python}" for s in update.specs] == names
    assert [f"{s.platform} py{s.python}" for s in update.resolve] == names
    assert update.kept == {}
    assert update.notes == ["resolving linux-x86_64 py3.11 too: the config's section is missing",
                            "resolving macos-arm64 py3.11 too: the config's section is missing"]


# ---------------------------------------------------------------------------------------------
# materialize: a real file in a tmp dir

def test_materialize_writes_the_section_under_its_digest(tmp_path):
    sec = section("linux-x86_64", requirements=PINNED + "\n\n")
    data = PINNED.encode()
    digest = hashlib.sha256(data).hexdigest()
    directory = tmp_path / "state" / "locks"  # neither exists yet
    lock = materialize(sec, directory)
    path = directory / f"{digest[:16]}.txt"
    assert lock.path == str(path) and lock.digest == digest and lock.pins == {"six": "1.17.0"}
    assert path.read_bytes() == data
    assert sorted(os.listdir(directory)) == [path.name]
    again = materialize(sec, directory)  # the directory exists now; the same file is used
    assert again == lock and path.read_bytes() == data


def test_materialize_rewrites_a_file_that_differs(tmp_path):
    sec = section("linux-x86_64")
    path = tmp_path / f"{hashlib.sha256(PINNED.encode()).hexdigest()[:16]}.txt"
    path.write_bytes(b"six==1.16.0 --hash=sha256:" + B.encode() + b"\n")  # tampered, or a crash mid-write
    materialize(sec, tmp_path)
    assert path.read_bytes() == PINNED.encode()


# ---------------------------------------------------------------------------------------------
# resolve_sections: a fake uv (records its argv and stdin, prints canned output) and a local index

def fake_uv(tmp_path: Path, name: str, stdout, stderr: str = "", rc: int = 0) -> Path:
    """An executable standing in for uv: records its argv and stdin, prints `stdout` (a text, or a text
    per --python-platform), `stderr`, and exits `rc`."""
    outputs = stdout if isinstance(stdout, dict) else {"*": stdout}
    (tmp_path / f"{name}.out.json").write_text(json.dumps({"outputs": outputs, "stderr": stderr}))
    script = tmp_path / name
    script.write_text(f"""#!{sys.executable}
import json, sys
argv = sys.argv[1:]
with open({str(tmp_path / (name + '.calls'))!r}, "a") as f:
    f.write(json.dumps({{"argv": argv, "stdin": sys.stdin.read()}}) + "\\n")
with open({str(tmp_path / (name + '.out.json'))!r}) as f:
    canned = json.load(f)
platform = argv[argv.index("--python-platform") + 1]
sys.stdout.write(canned["outputs"].get(platform, canned["outputs"].get("*", "")))
sys.stderr.write(canned["stderr"])
sys.exit({rc})
""")
    script.chmod(0o755)
    return script


def calls(uv: Path) -> List[dict]:
    record = uv.parent / f"{uv.name}.calls"
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def index(tmp_path: Path) -> Iterator[str]:
    """A PEP 503 index on localhost: `demo` 1.0 has a Linux, a Windows and a macOS wheel and an sdist."""
    root = tmp_path / "index"
    (root / "simple" / "demo").mkdir(parents=True)
    files = [("demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", A), ("demo-1.0-cp311-cp311-win_amd64.whl", B),
             ("demo-1.0-cp311-cp311-macosx_11_0_arm64.whl", C), ("demo-1.0.tar.gz", D),
             ("demo-1.0-py3-none-any.whl", F)]  # F: compatible everywhere, but not among uv's hashes
    (root / "simple" / "demo" / "index.html").write_text(
        "".join(f'<a href="{name}#sha256={sha}">{name}</a>\n' for name, sha in files))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


UV_OUT = (f"demo==1.0 \\\n    --hash=sha256:{A} \\\n    --hash=sha256:{B} \\\n    --hash=sha256:{C} \\\n"
          f"    --hash=sha256:{D}\n"
          f"unlisted==2.0 \\\n    --hash=sha256:{E} \\\n    --hash=sha256:{D}\n")


def test_each_section_keeps_the_hashes_of_its_platforms_wheels(tmp_path, index, monkeypatch):
    monkeypatch.delenv("TFSETUP_UV", raising=False)
    config = config_at(tmp_path, index_url=index, extra_index_urls=(index + "-missing",))
    specs = specs_of(config, ["linux-x86_64", "windows-x86_64"])
    uv = fake_uv(tmp_path, "uv", UV_OUT)
    said: List[str] = []
    texts = resolve_sections(config, specs, uv=str(uv), progress=said.append)
    # demo: only the wheel this platform installs (F is compatible but uv did not pin it);
    # unlisted: the index has no listing, so every hash uv gave stays
    assert texts == [f"demo==1.0 \\\n    --hash=sha256:{A}\nunlisted==2.0 \\\n    --hash=sha256:{E} \\\n"
                     f"    --hash=sha256:{D}\n",
                     f"demo==1.0 \\\n    --hash=sha256:{B}\nunlisted==2.0 \\\n    --hash=sha256:{E} \\\n"
                     f"    --hash=sha256:{D}\n"]
    assert sorted(said) == ["resolved linux-x86_64 py3.11", "resolved windows-x86_64 py3.11"]
    seen = sorted(calls(uv), key=lambda c: c["argv"][c["argv"].index("--python-platform") + 1])
    assert [c["argv"][c["argv"].index("--python-platform") + 1] for c in seen] == \
        sorted(s.recipe.python_platform for s in specs)
    for call in seen:
        argv = call["argv"]
        assert argv[argv.index("--python-version") + 1] == "3.11"
        assert argv[argv.index("--default-index") + 1] == index
        assert argv[argv.index("--index") + 1] == index + "-missing"
    assert seen[0]["stdin"].splitlines() == list(specs[0].requirements)


def test_sections_come_back_in_the_order_asked(tmp_path, index, monkeypatch):
    monkeypatch.delenv("TFSETUP_UV", raising=False)
    config = config_at(tmp_path, index_url=index)
    specs = specs_of(config, ["windows-x86_64", "linux-x86_64", "macos-arm64", "linux-aarch64", "macos-x86_64"])
    # packages the index does not list: each keeps uv's hash, so each text names its platform
    outputs = {s.recipe.python_platform: f"only{i}==1.0 --hash=sha256:{E}\n" for i, s in enumerate(specs)}
    uv = fake_uv(tmp_path, "uv", outputs)
    assert resolve_sections(config, specs, uv=str(uv)) == \
        [f"only{i}==1.0 \\\n    --hash=sha256:{E}\n" for i in range(len(specs))]


def test_without_an_index_setting_pypi_is_the_index(tmp_path, monkeypatch):
    monkeypatch.delenv("TFSETUP_UV", raising=False)
    config = config_at(tmp_path)
    uv = fake_uv(tmp_path, "uv", "")  # no packages: nothing asks the index
    assert resolve_sections(config, specs_of(config, ["linux-x86_64"]), uv=str(uv)) == ["\n"]
    (call,) = calls(uv)
    assert call["argv"][call["argv"].index("--default-index") + 1] == "https://pypi.org/simple"
    assert "--no-index" not in call["argv"]


def test_uv_is_the_one_given_else_tfsetup_uv(tmp_path, monkeypatch):
    config = config_at(tmp_path)
    specs = specs_of(config, ["linux-x86_64"])
    from_env, given = fake_uv(tmp_path, "env-uv", ""), fake_uv(tmp_path, "given-uv", "")
    monkeypatch.setenv("TFSETUP_UV", str(from_env))
    assert resolve_sections(config, specs, uv=str(given)) == ["\n"]
    assert (len(calls(given)), len(calls(from_env))) == (1, 0)
    assert resolve_sections(config, specs) == ["\n"]
    assert (len(calls(given)), len(calls(from_env))) == (1, 1)


@pytest.mark.parametrize("last, code, fix", [
    ("error: Failed to connect to the index", 4, "could not be reached"),
    ("error: No solution found when resolving dependencies", 1, "extra packages support this platform"),
])
def test_a_failed_resolution_names_the_section_and_uvs_last_six_lines(tmp_path, monkeypatch, last, code, fix):
    monkeypatch.delenv("TFSETUP_UV", raising=False)
    config = config_at(tmp_path)
    spec = specs_of(config, ["linux-x86_64"])[0]
    stderr = "".join(f"uv says {i:02d}\n" for i in range(1, 8)) + last + "\n"
    uv = fake_uv(tmp_path, "uv", "", stderr=stderr, rc=2)
    with pytest.raises(TfsetupError) as caught:
        resolve_sections(config, [spec], uv=str(uv))
    message = caught.value.message
    assert message == (f"cannot resolve linux-x86_64 py3.11 ({spec.recipe.id}): "
                       + "\n  ".join([f"uv says {i:02d}" for i in range(3, 8)] + [last]))
    assert "uv says 02" not in message
    assert caught.value.exit_code == code and fix in (caught.value.fix or "")
