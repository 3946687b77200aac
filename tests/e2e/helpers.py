"""Helpers of the process-level tiers (tests/e2e, and tests/faults through its harness; unit tests that
must see a real process use run_tfsetup too): run the installed `tfsetup` command as a user would, run
uv, read what an env holds, and take manifests of directories."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from tfsetup.backends.uv import find_uv

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def tfsetup_exe() -> str:
    exe = Path(sys.executable).parent / "tfsetup"
    return str(exe) if exe.exists() else (shutil.which("tfsetup") or "tfsetup")


def run_tfsetup(*args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
                timeout: float = 900, input: Optional[str] = None, unset: Sequence[str] = (),
                **popen: Any) -> subprocess.CompletedProcess:
    """The one CLI runner: the installed `tfsetup` with this process's environment, plus `env`, less `unset`
    (`popen`: more subprocess.run arguments, such as stdin or preexec_fn)."""
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(env or {})
    return subprocess.run([tfsetup_exe(), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, input=input, **popen)


def json_out(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), f"no JSON on stdout; stderr:\n{proc.stderr}"
    return json.loads(proc.stdout)


def manifest(root: Path) -> Dict[str, str]:
    """Every path under root with its content hash (or link target), mode and owner, to prove 'exactly
    as before'."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            meta = f" {oct(st.st_mode)} {st.st_uid}:{st.st_gid}"
            if path.is_symlink():
                result[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                result[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + meta
            else:
                result[rel] = "dir" + meta
    return result


def leftovers(parent: Path) -> List[str]:
    return sorted(p.name for p in parent.iterdir() if ".tfsetup-" in p.name)


def env_record(env: Path) -> dict:
    """The env's record, tfsetup-env.json, as tfsetup wrote it."""
    return json.loads((env / "tfsetup-env.json").read_text())


def installed_versions(env: Path) -> Dict[str, str]:
    """Every distribution in the env (normalized name -> version), as the env's own Python sees them."""
    out = subprocess.run([str(env / "bin" / "python"), "-c", "import importlib.metadata as m, json; print(json.dumps("
                          "{d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}))"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def uv(*args: str, timeout: float = 1800, cache: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run the uv tfsetup itself would run, for a test's own setup; its failure fails the test with uv's words.
    `cache`: a uv cache of the caller's own instead of the shared one (for wheels no other test reads)."""
    env = dict(os.environ, UV_CACHE_DIR=str(cache)) if cache is not None else None
    proc = subprocess.run([find_uv(), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (for a local index server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def pypi_server(directory: Path, authenticate: str = ".", passwords: str = ".") -> Iterator[str]:
    """pypiserver on 127.0.0.1 serving `directory` (`authenticate`: what needs a password, "." nothing;
    `passwords`: its htpasswd file). Yields "127.0.0.1:PORT/simple/" once it answers (a 401 counts)."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "pypi-server"), "run", "-i", "127.0.0.1",
                               "-p", str(port), "--disable-fallback", "-a", authenticate, "-P", passwords,
                               str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"127.0.0.1:{port}/simple/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{base}", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # up, and it wants a password
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
