"""child.run_child: the deadline, and nothing left behind in the caller's temp dir."""
from __future__ import annotations

import subprocess
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


# ---------------------------------------------------------------------------------------------
# issue 20 class 2: one runner; a child never outlives what started it

import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from tfsetup import child  # noqa: E402

POSIX = pytest.mark.skipif(not hasattr(os, "killpg") or not sys.platform.startswith("linux"),
                           reason="process groups, /proc")
GRANDCHILD = ("import subprocess, sys; p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); "
              "p.wait()")


@pytest.fixture
def interruptible():
    """Ctrl-C raises KeyboardInterrupt in this process whatever the suite was started from: a shell starts
    background jobs with SIGINT ignored, and Python then leaves it ignored (these tests send it to
    themselves)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _gone(pid: int) -> bool:
    """Ended (or a zombie, its work done); waits for the kernel to finish delivering a SIGKILL."""
    deadline = time.monotonic() + 30
    while child.start_time(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@POSIX
def test_an_error_while_a_child_runs_kills_it_and_what_it_started():
    pids = []

    def on_line(line: str) -> None:
        pids.append(int(line))
        raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        child.run([sys.executable, "-c", GRANDCHILD], 60, child.clean_env(), on_line=on_line)
    assert pids and _gone(pids[0]), "the grandchild outlived the step"
    assert child.live_pids() == []


@POSIX
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_landing_as_a_child_starts_kills_it(monkeypatch, sig, interruptible):
    """The signal arrives while the child starts (held), lands as soon as it is registered: the child is
    killed and reaped before the interrupt leaves the runner. A SIGTERM too, whose default action (outside
    a transaction) would end tfsetup at once and leave the child running."""
    seen = []

    def at(point: str) -> None:
        if point == "child-start":
            seen.extend(child.live_pids())
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(child, "pause_hook", at)
    with pytest.raises(KeyboardInterrupt):
        child.run(["sleep", "300"], 60, child.clean_env())
    assert seen and _gone(seen[0]) and child.live_pids() == []


@POSIX
def test_children_lead_their_own_group_with_a_fresh_signal_mask():
    script = ("import os, signal; print(os.getpgid(0) == os.getpid(), "
              "sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))")
    with child.held_signals():  # even when started while tfsetup holds signals
        result = child.run([sys.executable, "-c", script], 60, child.clean_env())
    assert result.stdout.split(maxsplit=1) == ["True", "[]\n"]


@POSIX
def test_a_child_dies_with_tfsetup(tmp_path):
    """PR_SET_PDEATHSIG: a process that runs child.run, SIGKILLed, takes its child along."""
    parent = subprocess.Popen([sys.executable, "-c", "import sys; sys.path[:0] = %r; from tfsetup import child; "
                               "r = child.run([sys.executable, '-c', 'import os, time; print(os.getpid(), flush=True); "
                               "time.sleep(300)'], 300, child.clean_env(), on_line=lambda l: print(l, flush=True))"
                               % (sys.path,)], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    assert _gone(pid), "the child outlived its parent"


def test_the_runner_keeps_its_deadline_without_a_thread():
    """No helper thread (a timer thread started as a Ctrl-C landed kept tfsetup waiting an hour at exit)."""
    threads = []
    child.run([sys.executable, "-c", "print('x')"], 60, child.clean_env(),
              on_line=lambda line: threads.append(threading.active_count()))
    assert threads == [threading.active_count()] == [1]
    result = child.run([sys.executable, "-c", "import time; time.sleep(60)"], 0.5, child.clean_env())
    assert result.timed_out and child.live_pids() == []


@POSIX
def test_an_orphan_is_stopped_only_when_pid_and_start_time_match():
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        started = child.start_time(proc.pid)
        assert started and child.stop_orphan(proc.pid, "another process's start") and proc.poll() is None
        assert child.stop_orphan(proc.pid, started)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()


def test_a_child_reads_its_input_while_its_output_is_read():
    """stdin (uv pip compile's requirements): more than a pipe holds, in and out, and nothing deadlocks."""
    text = "".join(f"package-{i}==1.0\n" for i in range(20000))  # ~330 KB each way
    result = child.run([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"], 60,
                       child.clean_env(), stdin=text)
    assert result.returncode == 0 and result.stdout == text.upper()


@POSIX
def test_an_interrupt_stops_the_children_of_worker_threads_and_drops_the_work_not_begun(interruptible):
    """map_in_threads (interpreter probes, a team lock's uv compiles): a Ctrl-C does not wait for the
    children's deadlines, and no new child starts once it landed."""
    started = []

    def heard(event: str, pid: int, _: str) -> None:
        if event == "start":
            started.append(pid)

    def interrupt_when_both_run() -> None:
        while len(child.live_pids()) < 2:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    child.add_listener(heard)
    threading.Thread(target=interrupt_when_both_run, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            child.map_in_threads(lambda _: child.run(["sleep", "300"], 300, child.clean_env()), range(4), 2)
    finally:
        child.remove_listener(heard)
    assert len(started) == 2 and all(_gone(pid) for pid in started) and child.live_pids() == []


def test_map_in_threads_keeps_the_order_and_raises_the_first_failure():
    def odd_fails(n: int) -> int:
        if n % 2:
            raise ValueError(f"item {n}")
        return n * n

    assert child.map_in_threads(odd_fails, [4, 0, 2], 2) == [16, 0, 4]
    with pytest.raises(ValueError, match="^item 1$"):
        child.map_in_threads(odd_fails, [0, 1, 2, 3], 2)
