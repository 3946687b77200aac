"""output.py: progress is drawn on a terminal only, never with --json or into a pipe (where a spinner
would corrupt a log or a consumer's parse)."""
from __future__ import annotations

import io
import re
import sys

import pytest

from tfsetup.output import tty_progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("json_out,terminal,shown", [(True, True, False), (True, False, False),
                                                     (False, False, False), (False, True, True)])
def test_progress_only_on_a_terminal_and_never_with_json(monkeypatch, json_out, terminal, shown):
    stream = FakeTerminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with tty_progress(json_out) as say:
        assert (say is not None) is shown
        if say is not None:
            say("fetching 3 wheels for macos-arm64, Python 3.11 " + "x" * 300)  # longer than any terminal
    if not shown:
        assert stream.getvalue() == ""


class Recorder(io.StringIO):
    """A stream that remembers what had been written out (flushed) at each flush: what a consumer reading
    the pipe, or a log, has actually received."""

    def __init__(self, terminal: bool = False) -> None:
        super().__init__()
        self.terminal = terminal
        self.flushed = ""

    def flush(self) -> None:
        self.flushed = self.getvalue()

    def isatty(self) -> bool:
        return self.terminal


def test_json_and_errors_are_flushed_out_whole_not_left_in_a_buffer(monkeypatch):
    """A process that ends abruptly after reporting (os._exit, a signal) still delivered the report."""
    from tfsetup.output import emit_json, err

    out, error = Recorder(), Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", error)
    emit_json({"ok": True, "envs": ["a"]})
    err("cannot read the lock")
    assert out.flushed == '{\n  "ok": true,\n  "envs": [\n    "a"\n  ]\n}\n'
    assert error.flushed == "cannot read the lock\n"


@pytest.fixture
def fresh_console(monkeypatch):
    """output.console() made anew for the stream this test sets up (it is created once per process)."""
    from tfsetup import output

    monkeypatch.setattr(output, "_console", None)
    return output


def test_the_piped_report_keeps_long_lines_whole_and_plain(monkeypatch, fresh_console):
    """Piped (no terminal, no COLUMNS): ids and paths are never broken by a hard line break, numbers and
    paths get no colour codes, and tables are laid out 200 columns wide."""
    from rich.table import Table

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # even where colour is forced, the report is not highlighted
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    path = "/home/alice/envs/" + "a" * 250 + "/lib/python3.11/site-packages tensorflow 2.16.1"
    fresh_console.console().print(path)
    table = Table("env", "status")
    table.add_row("x" * 400, "ok")
    fresh_console.console().print(table)
    first, *rest = out.getvalue().splitlines()
    assert first == path  # whole, and without a colour code
    assert max(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in rest) == 200


def test_the_report_on_a_terminal_is_not_highlighted(monkeypatch, fresh_console):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Recorder(terminal=True)
    monkeypatch.setattr(sys, "stdout", out)
    fresh_console.console().print("tensorflow 2.16.1 in /home/alice/envs/tf True None")
    assert out.getvalue() == "tensorflow 2.16.1 in /home/alice/envs/tf True None\n"


def test_the_progress_line_fits_the_terminal_and_is_cleared_at_the_end(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    long = "fetching " + "x" * 300
    with tty_progress(False) as say:
        assert say is not None
        say("reading")
        say(long)
    drawn = stream.getvalue()
    assert long[:73] + "...\n" in drawn  # 80 columns less the spinner's 4; the last message is drawn
    assert long[:74] not in drawn
    assert drawn.startswith("\x1b[?25l")  # the cursor hidden while the spinner runs,
    assert drawn.endswith("\x1b[?25h\r\x1b[1A\x1b[2K")  # and shown again, the line erased, at the end


def test_a_short_progress_message_is_shown_whole(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    with tty_progress(False) as say:
        assert say is not None
        say("reading 3 wheels")
    assert " reading 3 wheels\n" in stream.getvalue()


def test_on_a_tiny_terminal_the_progress_message_keeps_ten_characters(monkeypatch):
    monkeypatch.setenv("COLUMNS", "10")
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    with tty_progress(False) as say:
        assert say is not None
        say("abcdefghijklmnopqrstuvwxyz" * 5)
    drawn = stream.getvalue().replace("\n", "")  # the terminal is narrower than the line: rich folds it
    assert "abcdefghij..." in drawn and "abcdefghijk" not in drawn


def test_a_progress_message_that_just_fits_is_shown_whole(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", stream)
    exact = "reading " + "y" * 68  # 76 characters: 80 columns less the spinner's 4
    with tty_progress(False) as say:
        assert say is not None
        say(exact)
    assert f" {exact}\n" in stream.getvalue()


def test_a_piped_report_follows_columns_when_it_is_set(monkeypatch, fresh_console):
    from rich.table import Table

    monkeypatch.setenv("COLUMNS", "100")
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    table = Table("env", "status")
    table.add_row("x" * 400, "ok")
    fresh_console.console().print(table)
    assert max(len(line) for line in out.getvalue().splitlines()) == 100
