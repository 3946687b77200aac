"""Shared test helpers: fixture paths and recorded-runner builders (the OS-command boundary)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, Optional, Tuple

import pytest

from tfsetup.host.facts import HostFacts, facts_from_json
from tfsetup.host.runner import CommandResult, RecordedRunner

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
UNKNOWN_OID = FIXTURES / "macos" / "intel-x86_64-unknown-oid" / "sysctl-hw.optional.arm64.stderr.txt"


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py, freshly executed as the module `name` (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def sysctl_dump(text: str) -> Dict[str, str]:
    """'key: value' lines of a real `sysctl hw machdep` dump."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and re.match(r"^[a-z0-9_.]+$", key):
            values[key] = value.strip()
    return values


def mac_runner(*dirs: str, translated: Optional[bool] = None, sw_vers: Optional[str] = None,
               extra: Optional[Dict[Tuple[str, ...], object]] = None) -> RecordedRunner:
    """A runner answering `sysctl -n KEY` from recorded files; unknown keys fail like real sysctl."""
    keys: Dict[str, str] = {}
    commands: Dict[Tuple[str, ...], object] = {}
    for name in dirs:
        folder = FIXTURES / "macos" / name
        for path in sorted(folder.iterdir()):
            match = re.match(r"^sysctl-([a-z0-9_.-]+)\.txt$", path.name)
            text = path.read_text() if match else ""
            dump = sysctl_dump(text)
            if dump and len(dump) == len([ln for ln in text.splitlines() if ln.strip()]):
                keys.update(dump)  # a full `sysctl hw machdep` listing
            elif match:
                keys[match.group(1)] = text.strip()
            if path.name == "system_profiler-SPDisplaysDataType.json":
                commands[("system_profiler", "SPDisplaysDataType", "-json")] = path.read_text()
    unknown = UNKNOWN_OID.read_text().strip()
    if translated is not None:
        keys["sysctl.proc_translated"] = "1" if translated else "0"
    for key in ("hw.optional.arm64", "sysctl.proc_translated", "machdep.cpu.brand_string", "hw.memsize",
                "hw.perflevel0.physicalcpu", "hw.perflevel1.physicalcpu", "machdep.cpu.features",
                "machdep.cpu.leaf7_features"):
        if key in keys:
            commands[("sysctl", "-n", key)] = keys[key] + "\n"
        else:
            commands[("sysctl", "-n", key)] = CommandResult(1, "", unknown.replace("hw.optional.arm64", key))
    if sw_vers:
        commands[("sw_vers", "-productVersion")] = sw_vers + "\n"
    commands.update(extra or {})
    return RecordedRunner(commands=commands)


def host_fixture(name: str) -> HostFacts:
    return facts_from_json(json.loads((FIXTURES / "hosts" / f"{name}.json").read_text()))


@contextmanager
def scratch(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A module's or session's temp dir, deleted when its fixture ends: envs of real wheels are GBs, and
    pytest would otherwise keep every fixture's dir until the whole run ends (CI's disk is finite)."""
    path = factory.mktemp(name)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def drop_replaced_wheels() -> Iterator[None]:
    """uv unpacks a wheel again when an install checks hashes and its cached copy was made without them
    (tests install some wheels plainly; tfsetup always checks), and the first copy stays, unreferenced:
    ~1 GB per TensorFlow wheel. After each module, `uv cache prune` (well under a second) drops those,
    so a run holds one unpacked copy of each wheel. Only the test cache (scripts/test.sh sets it)."""
    yield
    if os.environ.get("UV_CACHE_DIR"):
        from tfsetup.backends.uv import find_uv

        subprocess.run([find_uv(), "cache", "prune"], capture_output=True, timeout=300)


@pytest.fixture
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


_HANDLED = tuple(s for s in (getattr(__import__("signal"), n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP"))
                 if s is not None)


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """Issue 18.12: every test leaves SIGINT, SIGTERM and SIGHUP handled, and unblocked, as it found them
    (a leaked SIG_IGN made a later Ctrl-C test fail). Fails the test that leaked; restores for the next."""
    import signal

    before = {sig: signal.getsignal(sig) for sig in _HANDLED}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, []) if hasattr(signal, "pthread_sigmask") else None
    yield
    after = {sig: signal.getsignal(sig) for sig in _HANDLED}
    now = signal.pthread_sigmask(signal.SIG_BLOCK, []) if mask is not None else None
    for sig, handler in before.items():
        if handler is not None:
            signal.signal(sig, handler)
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    assert after == before, f"a signal handler leaked: {after} (was {before})"
    assert now == mask, f"signals left blocked: {now} (was {mask})"


@pytest.fixture(scope="session")
def local_python_build(tmp_path_factory):
    """One python-build-standalone shaped archive per test session (tests/pbs_archive.py)."""
    from tests.pbs_archive import local_build_support, make_local_build

    why_not = local_build_support()
    if why_not:
        pytest.skip(why_not)
    with scratch(tmp_path_factory, "pbs") as folder:
        yield make_local_build(folder)
