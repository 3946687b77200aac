"""Issue 7.3 and 7.4: where the wheels come from. An index URL on a closed port of 127.0.0.1, an offline
install without a usable wheelhouse or cache, and tampered wheels (in a --find-links wheelhouse, on a real
pypiserver, and on an index that lies about the hash): a clear error, exit 4, the target unchanged."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.helpers import free_port
from tests.faults import harness as h
from tests.faults.harness import python_runs


def closed_port() -> int:
    port = free_port()  # bound and released: nothing listens there now
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


def tampered(fake, directory: Path, how: str) -> Path:
    """A copy of the good wheel under the same name, changed the way an attacker or a bad disk would."""
    directory.mkdir(parents=True)
    wheel = directory / fake.wheel.name
    if how == "flipped-byte":
        data = bytearray(fake.wheel.read_bytes())
        data[len(data) // 2] ^= 0x01
        wheel.write_bytes(bytes(data))
    else:  # rebuilt: a valid wheel, same file name, other code
        rebuilt = h.build_wheel(directory / "tmp", files={"tensorflow/__init__.py": b"import os  # evil\n"})
        shutil.move(str(rebuilt), wheel)
        shutil.rmtree(directory / "tmp")
    assert h.sha256(wheel) != h.sha256(fake.wheel)
    return wheel


def assert_refused(proc, target_state) -> dict:
    assert proc.returncode == 4, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["target_unchanged"] is True
    assert "Traceback" not in proc.stderr
    target_state()
    return doc


def unchanged(target: Path, before=None):
    def check():
        if before is None:
            assert not target.exists()
        else:
            assert h.manifest(target) == before and python_runs(target)
        assert h.leftovers(target.parent) == []
    return check


def source_args(fake, target: Path, *source: str, force: bool = False) -> list:
    return ["install", str(target), "--python", h.PY, "--recipes-file", str(fake.table), "--yes", "--json",
            "--no-verify", *(["--force"] if force else []), *source]


# -- 7.3 ---------------------------------------------------------------------------------------

@pytest.mark.slow  # ~9 s of uv's retries against the closed port
def test_index_on_a_closed_port(fake, existing):
    before = h.manifest(existing)
    url = f"http://127.0.0.1:{closed_port()}/simple/"
    proc = h.run(*source_args(fake, existing, "--index-url", url, force=True), cwd=existing.parent)
    doc = assert_refused(proc, unchanged(existing, before))
    assert "127.0.0.1" in doc["error"] + doc.get("details", "") and "could not be reached" in doc["fix"]


def test_offline_with_an_empty_wheelhouse(fake, work, tmp_path):
    target = work / "offline env"
    empty = tmp_path / "empty wheelhouse"
    empty.mkdir()
    proc = h.run(*source_args(fake, target, "--offline", "--find-links", str(empty)), cwd=work)
    doc = assert_refused(proc, unchanged(target))
    assert "tensorflow-cpu" in doc["error"] + doc.get("details", "") and "the wheelhouse lacks a wheel" in doc["fix"]


def test_offline_without_a_wheelhouse_or_cached_wheels(fake, work, tmp_path):
    """Offline without --find-links reads only the engine's cache; an empty one fails cleanly."""
    target = work / "offline env"
    proc = h.run(*source_args(fake, target, "--offline"), cwd=work,
                 env={"UV_CACHE_DIR": str(tmp_path / "empty cache")})
    doc = assert_refused(proc, unchanged(target))
    assert "tfsetup wheelhouse DIR" in doc["fix"] and "--find-links" in doc["fix"]


def test_offline_from_the_cache_after_the_index_is_gone(fake, work, tmp_path, pypiserver):
    """What uv users expect of --offline: wheels fetched once install again with no network."""
    cache = {"UV_CACHE_DIR": str(tmp_path / "cache")}
    url = pypiserver(fake.wheels)
    first = h.run(*source_args(fake, work / "online", "--index-url", url), cwd=work, env=cache)
    assert first.returncode == 0, first.stderr
    pypiserver.stop_all()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
    again = h.run(*source_args(fake, work / "offline", "--index-url", url, "--offline"), cwd=work, env=cache)
    assert again.returncode == 0, again.stderr
    assert python_runs(work / "offline") and h.leftovers(work) == []


# -- 7.4 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["flipped-byte", "rebuilt"])
def test_tampered_wheel_in_a_wheelhouse_is_refused(fake, existing, tmp_path, how):
    before = h.manifest(existing)
    house = tmp_path / "wheel house"
    tampered(fake, house, how)
    proc = h.run(*source_args(fake, existing, "--offline", "--find-links", str(house), force=True),
                 cwd=existing.parent)
    doc = assert_refused(proc, unchanged(existing, before))
    assert "hash" in (doc["error"] + doc.get("details", "")).lower() and "does not match the lock's hash" in doc["fix"]


@pytest.fixture
def pypiserver(tmp_path):
    """A real pypiserver on 127.0.0.1 serving a directory: start(dir) -> index URL."""
    procs = []

    def start(directory: Path) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
                                 "--disable-fallback", "-a", ".", "-P", ".", str(directory)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/simple/"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                return url
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def stop_all() -> None:
        for proc in procs:
            proc.terminate()
            proc.wait(10)

    start.stop_all = stop_all  # type: ignore[attr-defined]
    yield start
    stop_all()


def test_served_index_good_wheel_installs(fake, work, pypiserver):
    """The control: the same index path works with the right wheel."""
    target = work / "from index"
    proc = h.run(*source_args(fake, target, "--index-url", pypiserver(fake.wheels)), cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert python_runs(target) and h.leftovers(work) == []


def test_tampered_wheel_on_a_served_index_is_refused(fake, existing, tmp_path, pypiserver):
    before = h.manifest(existing)
    house = tmp_path / "served"
    tampered(fake, house, "rebuilt")
    proc = h.run(*source_args(fake, existing, "--index-url", pypiserver(house), force=True), cwd=existing.parent)
    doc = assert_refused(proc, unchanged(existing, before))
    assert "hash" in (doc["error"] + doc.get("details", "")).lower()


def test_index_that_lies_about_the_hash_is_refused(fake, work, tmp_path):
    """The index advertises the lock's sha256 but serves other bytes: the bytes are what is checked."""
    root = tmp_path / "lying index"
    wheel = tampered(fake, root, "rebuilt")
    project = root / "simple" / "tensorflow-cpu"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        f'<a href="../../{wheel.name}#sha256={h.sha256(fake.wheel)}">{wheel.name}</a>\n')
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = work / "lied to"
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        proc = h.run(*source_args(fake, target, "--index-url", url), cwd=work)
    finally:
        server.shutdown()
    doc = assert_refused(proc, unchanged(target))
    assert "hash" in (doc["error"] + doc.get("details", "")).lower()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
