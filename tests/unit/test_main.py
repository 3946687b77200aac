"""tfsetup/__main__.py: `python -m tfsetup` is the CLI, ending the way the process does (run_process): the
command's output and its exit code, a usage error as one line and exit 2."""
from __future__ import annotations

import importlib
import json
import signal
import sys

import pytest

from tfsetup.commands import _finish

from tests.conftest import FIXTURES

HOST = FIXTURES / "hosts" / "linux-x86_64-avx.json"
SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


def run_main(monkeypatch, *args: str) -> int:
    """Import tfsetup.__main__ as `python -m tfsetup ARGS` does; the process's late-signal guard undone."""
    monkeypatch.setattr(sys, "argv", ["tfsetup", *args])
    monkeypatch.setitem(_finish.LEAVING, "entry", False)
    monkeypatch.setitem(_finish.LEAVING, "reported", False)
    monkeypatch.delitem(sys.modules, "tfsetup.__main__", raising=False)
    handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
    try:
        with pytest.raises(SystemExit) as leaving:
            importlib.import_module("tfsetup.__main__")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return leaving.value.code


def test_python_m_tfsetup_runs_a_command_and_exits_with_its_code(monkeypatch, capsys):
    assert run_main(monkeypatch, "recipes", "--json", "--host-file", str(HOST)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["host"] == "linux-x86_64" and doc["recipes"]


def test_python_m_tfsetup_with_an_unknown_option_is_one_error_line_and_exit_2(monkeypatch, capsys):
    assert run_main(monkeypatch, "recipes", "--no-such-option") == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("tfsetup: error: No such option: --no-such-option")
    assert "recipes --help`)" in captured.err and "Traceback" not in captured.err
