"""Issue 7.1 (doctor repair) and 7.7: `tfsetup doctor --fix` on a real venv with no TensorFlow. The
repair installs the fake TensorFlow's lock (offline, hashes enforced) and verifies it; the verification
fails for real, or a signal arrives while it backs up, repairs or verifies. Every time, the env is put
back exactly (manifest of paths and hashes) and nothing temporary is left."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.e2e.helpers import uv
from tests.faults import harness as h
from tests.faults.harness import SIGNALS


def uv_offline(fake) -> dict:
    # doctor has no source flags: point uv at the wheelhouse the way a user's environment would.
    return {"UV_OFFLINE": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(fake.wheels)}


def bare_env(path: Path, many_files: int = 0) -> Path:
    uv("venv", "--quiet", "--no-config", "--python", h.PY, str(path))
    (path / "lib" / "my notes.txt").write_text("a file only this env has\n")
    if many_files:  # the backup hard-links file by file: many files make it take a while (~0.4 s for 30,000
        for i in range(many_files // 10):  # here), so a signal lands inside it
            package = path / "lib" / "user-data" / f"pkg{i}"
            package.mkdir(parents=True)
            for j in range(10):
                (package / f"m{j}.py").write_bytes(b"")
    return path


def doctor(fake, env_dir: Path, *more: str) -> list:
    return ["doctor", str(env_dir), "--fix", "--yes", "--json", "--recipes-file", str(fake.table), *more]


def test_failed_verification_restores_the_env_exactly(fake, work, tmp_path):
    env_dir = bare_env(work / "my env")
    before = h.manifest(env_dir)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = h.run(*doctor(fake, env_dir), env=dict(uv_offline(fake), TMPDIR=str(tmp)), cwd=work)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert [a["kind"] for a in doc["repair_plan"]] == ["install-lock"]
    assert doc["repaired"] is False and doc["restored"] is True
    assert "verification" in doc["error"] and "\n" not in doc["error"]
    failed = {c["id"] for c in doc["verification"]["checks"] if c["status"] == "fail"}
    assert "tf-import" in failed  # the fake TensorFlow really was installed, and really failed
    assert h.manifest(env_dir) == before
    assert sorted(p.name for p in work.iterdir()) == ["my env"]
    assert list(tmp.iterdir()) == []
    assert "Traceback" not in proc.stderr


STAGES = {
    "backup": "backing up",
    "repair": "the locked stack of recipe",
    "verify": "-> verifying the repaired env",
}


@pytest.mark.parametrize("sig_name", sorted(SIGNALS))
# the backup stage's cases take 12-23 s each (the whole env copied, then restored): the full run's, not the
# fast tier's (issue 23: fast tier under 5 minutes)
@pytest.mark.parametrize("stage", [pytest.param(s, marks=pytest.mark.slow) if s == "backup" else s for s in STAGES])
def test_interrupted_repair_restores_the_env_exactly(fake, work, tmp_path, stage, sig_name):
    env_dir = bare_env(work / "my env", many_files=30_000 if stage == "backup" else 0)
    before = h.manifest(env_dir)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(uv_offline(fake), TMPDIR=str(tmp))
    if stage == "repair":
        env.update(TFSETUP_UV=str(fake.uv_wrapper), FAULT_UV_ON="pip install", FAULT_UV_READY=str(ctl / "ready"),
                   FAULT_UV_RELEASE=str(ctl / "release"))
    elif stage == "verify":
        env.update(FAULT_TF_READY=str(ctl / "ready"), FAULT_TF_RELEASE=str(ctl / "release"))
    sig, group = SIGNALS[sig_name]
    watch = h.start(*doctor(fake, env_dir), env=env, cwd=work)
    try:
        watch.wait_line(STAGES[stage])
        if stage != "backup":
            h.wait_for_file(ctl / "ready", watch=watch)
        watch.signal(sig, group=group)
        code = watch.finish(60)
    finally:
        (ctl / "release").touch()
        if watch.proc.poll() is None:
            watch.signal(signal.SIGKILL, group=True)
    assert code == 4, watch.stdout + watch.stderr
    doc = json.loads(watch.stdout)
    assert doc["repaired"] is False and "interrupted" in doc["error"] and "\n" not in doc["error"]
    assert "interrupted" in h.error_line(watch.stderr)
    if stage == "backup":
        assert "while backing up" in doc["error"]  # the signal did land inside the copy
    assert "Traceback" not in watch.stderr
    assert h.manifest(env_dir) == before
    assert sorted(p.name for p in work.iterdir()) == ["my env"], "a backup or temporary dir was left"
    assert list(tmp.iterdir()) == []
