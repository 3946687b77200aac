"""probes/verify_env.py's own logic, without TensorFlow: each check's outcome (pass, skip, warn, fail with
its reason), the events it writes, the checks that need no TensorFlow, and the report channel the probe
creates itself. TensorFlow's side: tests/unit/test_verify_env.py (Keras layouts) and the e2e tests."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import types
from typing import Any, Dict, List

import pytest

from tfsetup.probes import verify_env as probe


def events(capsys) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def state(**config: Any) -> Dict[str, Any]:
    return {"config": dict({"expect": {}, "accelerator": "cpu", "machine": "x86_64"}, **config)}


def test_each_outcome_of_a_check_is_one_start_and_one_result_event(capsys):
    def passing(st, data):
        data["n"] = 1
        return "fine"

    def skipping(st, data):
        raise probe.Skip("CPU recipe")

    def warning(st, data):
        raise probe.Warn("GPU slower than CPU")

    def asserting(st, data):
        raise AssertionError("first line\nnumpy 1.26 installed, the lock says 2.1.3")

    def crashing(st, data):
        raise ImportError("libcudart.so.12: cannot open shared object file")

    statuses = [probe.run_check(name, fn, state()) for name, fn in
                (("a", passing), ("b", skipping), ("c", warning), ("d", asserting), ("e", crashing))]
    assert statuses == ["pass", "skip", "warn", "fail", "fail"]
    out = events(capsys)
    assert [(e["event"], e["id"]) for e in out[:2]] == [("start", "a"), ("result", "a")]
    results = {e["id"]: e for e in out if e["event"] == "result"}
    assert (results["a"]["message"], results["a"]["data"]) == ("fine", {"n": 1})
    assert results["b"]["message"] == "CPU recipe" and results["c"]["message"] == "GPU slower than CPU"
    assert results["d"]["message"] == "numpy 1.26 installed, the lock says 2.1.3"  # the check's own last words
    assert results["e"]["message"] == "ImportError: libcudart.so.12: cannot open shared object file"
    assert "Traceback" in results["e"]["data"]["error"] and "error" not in results["b"]["data"]


def test_an_interrupt_is_not_a_failed_check():
    def interrupted(st, data):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        probe.run_check("x", interrupted, state())


def test_the_interpreter_must_run_as_the_hardwares_arch():
    actual = probe.ARCH.get(platform.machine().lower(), platform.machine())
    data: Dict[str, Any] = {}
    assert probe.check_arch(state(machine=actual), data) == f"runs as {actual}" and data == {"machine": actual}
    other = "arm64" if actual != "arm64" else "x86_64"
    with pytest.raises(AssertionError, match=f"interpreter runs as {actual}, the hardware is {other}"):
        probe.check_arch(state(machine=other), {})


def test_checks_that_need_tensorflow_skip_when_it_did_not_import():
    for check in (probe.check_tf_version, probe.check_build_info, probe.check_cpu_ops, probe.check_gpu_devices):
        with pytest.raises(probe.Skip, match="tensorflow did not import"):
            check(state(), {})
    for check in (probe.check_gpu_op, probe.check_agreement):  # a CPU recipe skips these first
        with pytest.raises(probe.Skip, match="CPU recipe"):
            check(state(), {})
    assert probe.gpu_required(state(accelerator="cuda")) and probe.gpu_required(state(accelerator="metal"))
    assert not probe.gpu_required(state())


def test_keras_behind_asks_the_nearest_module_that_declares_a_version(monkeypatch):
    for name, version in (("tf_keras", "2.21.0"), ("tf_keras.src", None), ("tf_keras.src.engine", None)):
        module = types.ModuleType(name)
        if version:
            module.__version__ = version  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
    model = type("Model", (), {"__module__": "tf_keras.src.engine.training"})
    tf = types.SimpleNamespace(keras=types.SimpleNamespace(Model=model))
    assert probe.keras_behind(tf) == ("tf_keras", "2.21.0")
    nowhere = type("Model", (), {"__module__": "no_such_keras_package.models"})
    assert probe.keras_behind(types.SimpleNamespace(keras=types.SimpleNamespace(Model=nowhere))) == (
        "no_such_keras_package", None)


def run_probe(config: Dict[str, Any]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", probe.__file__, json.dumps(config)], capture_output=True,
                          text=True, timeout=120)


def test_the_probe_writes_its_events_to_the_file_it_creates_not_to_stdout(tmp_path):
    channel = tmp_path / "events"
    done = run_probe({"events": str(channel), "only": ["python-arch"]})
    assert done.returncode == 0 and done.stdout == ""
    written = [json.loads(line) for line in channel.read_text().splitlines()]
    assert [(e["event"], e.get("id"), e.get("status")) for e in written] == [
        ("start", "python-arch", None), ("result", "python-arch", "pass"), ("done", None, None)]
    if os.name != "nt":
        assert channel.stat().st_mode & 0o777 == 0o600


def test_an_events_file_someone_else_made_first_is_never_written(tmp_path):
    channel = tmp_path / "events"
    channel.write_text('{"event": "done"}\n')
    done = run_probe({"events": str(channel), "only": ["python-arch"]})
    assert done.returncode != 0 and "FileExistsError" in done.stderr
    assert channel.read_text() == '{"event": "done"}\n'
