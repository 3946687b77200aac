"""Fixtures of the fault matrix: a local wheelhouse with a fake TensorFlow, recipes tables that lock
it, the uv fault wrapper, a per-test work dir with spaces and non-ASCII in its path, and the check,
after every test, that tfsetup started no shell and asked for no privileges."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Optional

import pytest

from tests.faults import harness as h
from tests.faults.harness import Fake

HERE = Path(__file__).parent
# What needs Linux itself, by test id prefix -> why. The rest runs on macOS too (POSIX signals, flock,
# sh scripts, RLIMIT_FSIZE; the tmpfs tests skip themselves where mount fails); on Windows the whole
# harness is skipped. Skipped, never hidden: each skip is reported with its reason.
LINUX_ONLY = {
    "test_trust.py::test_a_pth_file_cannot_fake_a_passing_verification[write into the channel]":
        "reads the probe's argv from /proc/self/cmdline (Linux)",
}


def skip_reason(nodeid: str, platform: str = sys.platform) -> Optional[str]:
    """Why this fault test cannot run on `platform` (None: it runs)."""
    if platform.startswith("linux"):
        return None
    if platform == "win32" or not hasattr(os, "killpg"):
        return "the fault harness needs POSIX (process groups, signals, flock, sh scripts)"
    for prefix, why in LINUX_ONLY.items():
        if nodeid.startswith(prefix):
            return f"Linux only: {why}"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if path.parent != HERE:
            continue
        reason = skip_reason(item.nodeid.split("/")[-1])
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def traps(tmp_path_factory):
    root = tmp_path_factory.mktemp("traps")
    h.install_traps(root)
    return root


@pytest.fixture(autouse=True)
def no_shell_no_sudo(traps):
    """After every test: tfsetup started no shell, no sudo/doas, called no os.system(), and ran every
    engine install with hashes enforced."""
    yield
    records = h.audit_records(traps)
    bad = h.forbidden(records)
    privilege = traps / "privilege.log"
    try:
        assert not bad, f"tfsetup started a shell or asked for privileges: {bad}"
        assert not h.unhashed_installs(records), h.unhashed_installs(records)
        assert not privilege.exists(), privilege.read_text()
    finally:
        for path in (traps / "audit").glob("*.jsonl"):
            path.unlink()


@pytest.fixture(scope="session")
def fake(tmp_path_factory, traps) -> Fake:
    root = tmp_path_factory.mktemp("fake")
    wheel = h.fake_tf_wheel(root / "wheels")
    table = h.write_table(root / "table", [h.lock_line(wheel)])
    return Fake(root, root / "wheels", wheel, table, h.write_uv_wrapper(root / "bin"))


@pytest.fixture(scope="session")
def many_files(tmp_path_factory, traps) -> Fake:
    """The fake TensorFlow with 4000 more small files: a staging dir that takes a while to delete."""
    root = tmp_path_factory.mktemp("many")
    files = {f"tensorflow/part{i // 100}/m{i}.txt": b"x" * 64 for i in range(4000)}
    files["tensorflow/__init__.py"] = h.FAKE_TF_INIT.encode()
    wheel = h.build_wheel(root / "wheels", files=files)
    table = h.write_table(root / "table", [h.lock_line(wheel)])
    return Fake(root, root / "wheels", wheel, table, h.write_uv_wrapper(root / "bin"))


@pytest.fixture
def work(isolated_state) -> Path:
    """A fresh directory whose path has spaces and non-ASCII, with its own TFSETUP_STATE_DIR."""
    path = isolated_state / "work dir ü é"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def made_env(tmp_path_factory, fake) -> Path:
    """An env made by `tfsetup install` (fake TensorFlow, not verified) to copy as 'an existing env'."""
    root = tmp_path_factory.mktemp("made")
    target = root / "env"
    proc = h.run(*fake.install_args(target, "--no-verify"), cwd=root,
                 env={"TFSETUP_STATE_DIR": str(root / "state")})
    assert proc.returncode == 0, proc.stderr
    (target / "lib" / "my notes.txt").write_text("a file only the old env has\n")
    return target


@pytest.fixture
def existing(made_env, work) -> Path:
    """A copy of an installed env with a file of the user's, at <work>/env."""
    target = work / "env"
    shutil.copytree(made_env, target, symlinks=True)
    return target
