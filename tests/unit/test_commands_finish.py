"""commands/_finish.py: how a command ends. Its outcome printed and its exit code; a TfsetupError, an
interrupt or a usage error as one `tfsetup: error:` line (with --json also one document on stdout) and
the right exit code; never a traceback."""
from __future__ import annotations

import json
import signal
import sys

import pytest
import typer

from tfsetup import txn
from tfsetup.commands import _finish, explain
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, TfsetupError
from tfsetup.plan import PlanError, Rejection

try:  # typer >= 0.24 vendors click
    from typer._click import exceptions as click_errors
except ImportError:
    from click import exceptions as click_errors

SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


def exit_code(json_out: bool, body) -> int:
    with pytest.raises(typer.Exit) as ended:
        _finish.run_command(json_out, body)
    return ended.value.exit_code


def raising(exc: BaseException):
    """A command body (or an app, called with standalone_mode) that fails with `exc`."""
    def body(**app_options):
        raise exc
    return body


@pytest.fixture
def process(monkeypatch):
    """run_process as the whole process: leaving, it ignores late signals; put back for the next test."""
    monkeypatch.setitem(_finish.LEAVING, "entry", False)
    monkeypatch.setitem(_finish.LEAVING, "reported", False)
    handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def run(app, *argv: str) -> int:
        monkeypatch.setattr(sys, "argv", ["tfsetup", *argv])
        try:
            with pytest.raises(SystemExit) as leaving:
                _finish.run_process(app)
        finally:
            after = {sig: signal.getsignal(sig) for sig in SIGNALS}
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        assert all(h == signal.SIG_IGN for h in after.values())  # nothing left for a late Ctrl-C to interrupt
        return leaving.value.code

    return run


def test_an_outcome_is_shown_and_gives_the_exit_code(tmp_path, capsys):
    log = tmp_path / "fine.log"
    log.write_text("all good\n")
    assert exit_code(True, lambda: explain.run(str(log), None)) == 1
    assert json.loads(capsys.readouterr().out) == {"findings": []}


def test_a_body_returning_an_int_printed_its_own_output(capsys):
    assert exit_code(False, lambda: 3) == 3
    assert capsys.readouterr() == ("", "")


def test_an_error_is_one_line_with_its_fix_and_with_json_one_document(capsys):
    error = TfsetupError("the env is broken", 4, fix="rebuild it")
    assert exit_code(False, raising(error)) == 4
    out, err = capsys.readouterr()
    assert out == "" and err == "tfsetup: error: the env is broken\n  fix: rebuild it\n"
    assert exit_code(True, raising(error)) == 4
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": "the env is broken", "exit_code": 4, "fix": "rebuild it"}
    assert err.startswith("tfsetup: error: the env is broken")


def test_a_plan_error_lists_each_rejected_recipe_for_people_only(capsys):
    error = PlanError("no recipe fits", rejected=[Rejection("linux-x86_64-cuda-tf2.21", ["no NVIDIA GPU", "no CUDA"])])
    assert exit_code(False, raising(error)) == 3
    err = capsys.readouterr().err
    assert "rejected:\n  linux-x86_64-cuda-tf2.21: no NVIDIA GPU; no CUDA\n" in err
    assert exit_code(True, raising(error)) == 3
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == 3 and "rejected:" not in err


def test_an_interrupt_says_nothing_changed_or_names_what_was_changed(monkeypatch, capsys):
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    monkeypatch.setattr(txn, "COMMITTED", [])  # what this process changed so far (other tests changed envs)
    assert exit_code(False, raising(KeyboardInterrupt())) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.startswith("tfsetup: error: interrupted\n")
    monkeypatch.setattr(txn, "COMMITTED", ["/work/env"])
    assert exit_code(True, raising(KeyboardInterrupt())) == EXIT_INTERRUPTED
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"] == "interrupted after /work/env was changed; the change is complete and stays"
    assert doc["fix"] == "`tfsetup verify /work/env` checks it"
    assert {sig: signal.getsignal(sig) for sig in SIGNALS} == before  # in-process: handlers come back


def test_the_process_exits_with_the_apps_code(process):
    assert process(lambda standalone_mode: 0) == 0
    assert process(lambda standalone_mode: None) == 0


def test_a_usage_error_is_one_line_pointing_at_help_and_exit_2(process, capsys):
    usage = click_errors.UsageError("No such option: --colour")
    assert process(raising(usage), "plan", "--colour") == EXIT_BAD_INPUT
    assert capsys.readouterr() == ("", "tfsetup: error: No such option: --colour (see `tfsetup --help`)\n")
    assert process(raising(usage), "plan", "--json", "--colour") == EXIT_BAD_INPUT
    assert json.loads(capsys.readouterr().out) == {"error": "No such option: --colour", "exit_code": EXIT_BAD_INPUT,
                                                   "fix": "see `tfsetup --help` for the options and their values"}


def test_abort_broken_pipe_and_a_stray_interrupt_each_end_cleanly(process, capsys, monkeypatch):
    monkeypatch.setattr(txn, "COMMITTED", [])
    assert process(raising(typer.Abort())) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "tfsetup: error: interrupted\n"
    assert process(raising(BrokenPipeError())) == 0  # `tfsetup detect --json | head`
    assert capsys.readouterr() == ("", "")
    assert process(raising(KeyboardInterrupt()), "list", "--json") == EXIT_INTERRUPTED
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == EXIT_INTERRUPTED and err.startswith("tfsetup: error: interrupted")
    assert process(raising(click_errors.ClickException("bad file"))) == 1
    assert capsys.readouterr().err == "tfsetup: error: bad file\n"
