"""Issue 7.6: the disk fills up while tfsetup builds the env, on a size-limited tmpfs that holds the
target (when this process may mount one), or under a file-size limit (RLIMIT_FSIZE) on tfsetup and its
children. The install fails cleanly (exit 4, one error line), the target is unchanged, nothing is left."""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.faults import harness as h
from tests.faults.harness import Fake, python_runs


@pytest.fixture(scope="module")
def big(tmp_path_factory, traps) -> Fake:
    """The fake TensorFlow carrying 16 MiB of incompressible data."""
    root = tmp_path_factory.mktemp("big")
    wheel = h.fake_tf_wheel(root / "wheels", blob_mib=16)
    table = h.write_table(root / "table", [h.lock_line(wheel)])
    return Fake(root, root / "wheels", wheel, table, h.write_uv_wrapper(root / "bin"))


@pytest.fixture
def small_disk(work):
    """mount(size) -> a fresh tmpfs of that many KiB at <work>/small disk; unmounted afterwards."""
    mounted = []

    def mount(kib: int) -> Path:
        path = work / "small disk"
        path.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tfsetup-faults", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); the RLIMIT_FSIZE test covers it")
        mounted.append(path)
        return path

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers disk-full")
    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def used_kib(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


@pytest.mark.parametrize("stage,headroom_kib", [("venv", 24), ("install", 2048)])
def test_disk_full_on_a_small_filesystem(big, made_env, small_disk, stage, headroom_kib):
    disk = small_disk(8192)
    existing = disk / "env"
    shutil.copytree(made_env, existing, symlinks=True)
    before = h.manifest(existing)
    # Shrink the filesystem to what it holds now plus a little: the new env cannot fit.
    subprocess.run(["mount", "-o", f"remount,size={used_kib(disk) + headroom_kib}k", str(disk)], check=True)
    proc = h.run(*big.install_args(existing, "--force", "--no-verify", "--json"), cwd=disk.parent)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    line = h.error_line(proc.stderr)
    assert ("create venv" if stage == "venv" else "install failed") in line, line
    doc = json.loads(proc.stdout)
    assert doc["target_unchanged"] is True and "disk is full" in doc.get("fix", ""), doc
    assert h.manifest(existing) == before and python_runs(existing)
    assert sorted(p.name for p in disk.iterdir()) == ["env"]


def _file_size_limit() -> None:
    limit = 4 << 20  # 4 MiB per file: the venv fits, the 16 MiB file in the wheel does not
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@pytest.mark.parametrize("target_kind", ["absent", "existing"])
def test_file_size_limit_during_install(big, work, made_env, target_kind, tmp_path):
    target = work / "env"
    before = None
    if target_kind == "existing":
        shutil.copytree(made_env, target, symlinks=True)
        before = h.manifest(target)
    # a cache of its own: the limit must bite while writing the env, not find the wheel unpacked already
    env = {"UV_CACHE_DIR": str(tmp_path / "uv cache")}
    watch = h.start(*big.install_args(target, "--force", "--no-verify", "--json"), env=env, cwd=work,
                    preexec_fn=_file_size_limit)
    code = watch.finish(120)
    assert code == 4, watch.stdout + watch.stderr
    line = h.error_line(watch.stderr)
    assert "install failed" in line, line
    assert "killed by SIGXFSZ: the file size limit (ulimit -f) was exceeded" in watch.stderr
    assert "ulimit -f" in json.loads(watch.stdout)["fix"]
    assert json.loads(watch.stdout)["target_unchanged"] is True
    if before is None:
        assert not target.exists()
    else:
        assert h.manifest(target) == before and python_runs(target)
    assert h.leftovers(work) == []
