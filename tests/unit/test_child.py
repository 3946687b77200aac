"""child.run_child: the deadline, and nothing left behind in the caller's temp dir."""
from __future__ import annotations

import sys
import tempfile

from tfsetup.child import run_child

WRITES_TEMP = ("import tempfile, sys; f = tempfile.NamedTemporaryFile(prefix='__autograph_generated_file', "
               "suffix='.py', delete=False); f.write(b'x'); f.close(); print(f.name)")


def test_what_the_child_writes_to_its_temp_dir_goes_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    result = run_child([sys.executable, "-c", WRITES_TEMP], timeout=60)
    assert result.returncode == 0, result.stderr
    written = result.stdout.strip()
    assert "__autograph_generated_file" in written and not written.startswith(str(tmp_path) + "/__autograph")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its dir stayed


def test_a_child_past_its_deadline_is_killed_and_its_temp_dir_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    result = run_child([sys.executable, "-c", WRITES_TEMP + "; import time; time.sleep(60)"], timeout=2)
    assert result.timed_out and result.returncode != 0
    assert list(tmp_path.iterdir()) == []
