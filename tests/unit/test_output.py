"""output.py: progress is drawn on a terminal only, never with --json or into a pipe (where a spinner
would corrupt a log or a consumer's parse)."""
from __future__ import annotations

import io
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
