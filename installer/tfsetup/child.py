"""The one way tfsetup starts a child (an engine step, the verification probe, the bytecode restore, a host
command): it never outlives the command, or the transaction, that started it (`map_in_threads` too).

- Signals are held while the child starts and is registered (`_live`): a Ctrl-C or SIGTERM can never
  land between the fork and the moment something holds the child. Registered children are killed and
  reaped (`stop_all`) before any rollback starts.
- Each child is the leader of its own process group (the kill reaches what it started, and a Ctrl-C
  at the terminal reaches tfsetup alone, which decides), has the signal mask a fresh process has, and
  on Linux gets PR_SET_PDEATHSIG=SIGKILL: a SIGKILL of tfsetup itself takes its child with it.
- Listeners (the transaction) hear each start with the child's pid and start time, so a journal can
  name it and the next command can stop an orphan of a killed tfsetup on another OS (`stop_orphan`).
- No helper thread: the deadline is kept by the read loop, so nothing waits on a timer at exit.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

Listener = Callable[[str, int, str], None]  # ("start" | "end", pid, start time)
T, R = TypeVar("T"), TypeVar("R")


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def clean_env() -> Dict[str, str]:
    """The env must stand on its own: nothing from the caller's Python settings leaks in."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(key, None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ chatter hides the real error
    return env


# ---------------------------------------------------------------------------------------------
# signals held, and test pauses

HELD = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class held_signals:
    """Hold SIGINT, SIGTERM and SIGHUP (main thread, POSIX): they are delivered when the block ends."""

    def __enter__(self) -> "held_signals":
        self._previous = None
        if hasattr(signal, "pthread_sigmask") and _main_thread():
            self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)


# Test-only: TFSETUP_TEST_PAUSE="POINT[#N]" with TFSETUP_TEST_PAUSE_DIR=DIR stops the Nth (default first)
# time tfsetup passes POINT ("child-start", "swap-before-renames", ...): it writes DIR/ready (the point and
# what it holds) and waits for DIR/release. Lets a test deliver a signal at an exact step, without sleeps.
PAUSE_ENV = "TFSETUP_TEST_PAUSE"
PAUSE_DIR_ENV = "TFSETUP_TEST_PAUSE_DIR"
NO_PDEATHSIG_ENV = "TFSETUP_TEST_NO_PDEATHSIG"
_passed: Dict[str, int] = {}
pause_hook: Optional[Callable[[str], None]] = None  # in-process tests: called at every point


def pause_point(point: str, detail: str = "") -> None:
    if pause_hook is not None:
        pause_hook(point)
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    _passed[point] = _passed.get(point, 0) + 1
    name, _, nth = spec.partition("#")
    if name != point or _passed[point] != int(nth or 1):
        return
    folder = os.environ.get(PAUSE_DIR_ENV, ".")
    with open(os.path.join(folder, "ready.tmp"), "w", encoding="utf-8") as handle:
        handle.write(f"{point} {os.getpid()} {detail}\n")
    os.replace(os.path.join(folder, "ready.tmp"), os.path.join(folder, "ready"))
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "release")) and time.monotonic() < deadline:
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# which children are running, and who wants to know

_live: Dict[int, subprocess.Popen] = {}
_listeners: List[Listener] = []


def add_listener(listener: Listener) -> None:
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def live_pids() -> List[int]:
    return sorted(_live)


def start_time(pid: int) -> Optional[str]:
    """When process `pid` started (to tell it from a later process given the same pid); None when there
    is no such process or it has ended (a zombie has done all it will do)."""
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in (b"Z", b"X") else fields[19].decode()  # state; starttime is field 22
    if os.name == "nt":  # pragma: no cover - no process groups there; the pid alone
        return None
    try:  # macOS and other BSDs: ps's start time, to the second
        out = subprocess.run(["ps", "-o", "stat=,lstart=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=5, stdin=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if not out or out.startswith("Z"):
        return None
    return " ".join(out.split()[1:])


def _preexec(parent: int, pdeathsig: Optional[Callable[[int, int], int]]) -> Callable[[], None]:
    def setup() -> None:  # in the child, between fork and exec
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_SETMASK, [])  # the mask a fresh process has
        if pdeathsig is not None:
            pdeathsig(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with tfsetup
            if os.getppid() != parent:  # tfsetup died before that line: die now
                os._exit(1)
    return setup


def _prctl() -> Optional[Callable[[int, int], int]]:
    if not sys.platform.startswith("linux") or not _main_thread():
        return None  # PDEATHSIG follows the thread that forked: only the main thread lives as long as tfsetup
    if os.environ.get(NO_PDEATHSIG_ENV) == "1":  # test-only: prove the rest holds where there is none (macOS)
        return None
    try:
        import ctypes  # lazy: only on Linux, in the main thread (PDEATHSIG)

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def spawn(argv: Sequence[str], env: Dict[str, str], merge: bool = False, cwd: Optional[str] = None,
          stdin: Optional[str] = None) -> subprocess.Popen:
    """Start argv (binary pipes; stderr into stdout with `merge`; `stdin` text), registered before any signal."""
    posix = os.name != "nt"
    proc: Optional[subprocess.Popen] = None
    source = subprocess.DEVNULL if stdin is None else tempfile.TemporaryFile()  # a file: no pipe to feed
    if stdin is not None:  # while the output is read, so no deadlock however much each side writes
        source.write(stdin.encode("utf-8"))
        source.seek(0)
    try:
        with held_signals():
            proc = subprocess.Popen(list(argv), stdin=source, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT if merge else subprocess.PIPE, env=env, cwd=cwd,
                                    start_new_session=posix,
                                    # no Python between fork and exec off the main thread: the child would raise
                                    # a signal another thread just took (a traceback); workers hold no signals
                                    preexec_fn=_preexec(os.getpid(), _prctl()) if posix and _main_thread() else None)
            _live[proc.pid] = proc
            started = start_time(proc.pid) or ""
            for listener in list(_listeners):
                listener("start", proc.pid, started)
            pause_point("child-start", str(proc.pid))
    except BaseException:  # a signal held while it started lands as the block ends: the child goes first
        if proc is not None:
            stop(proc)
        raise
    finally:
        if source is not subprocess.DEVNULL:
            source.close()  # the child holds its own descriptor
    return proc


def _forget(proc: subprocess.Popen) -> None:
    with held_signals():
        if _live.pop(proc.pid, None) is not None:
            for listener in list(_listeners):
                listener("end", proc.pid, "")


def _kill(proc: subprocess.Popen) -> None:
    if os.name != "nt":
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own group: what it started goes too
        except OSError:
            pass
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()


def stop(proc: subprocess.Popen, close: bool = True) -> None:
    """Kill and reap one child (and its process group)."""
    with held_signals():
        _kill(proc)
        for stream in (proc.stdout, proc.stderr) if close else ():
            if stream is not None:
                stream.close()
    _forget(proc)


def stop_all() -> None:
    """Kill and reap every child still running: called before any rollback touches the env. Their pipes
    stay open: the thread reading one (maybe another) sees it end; closed under its select, it would not."""
    for proc in list(_live.values()):
        stop(proc, close=False)


def stop_orphan(pid: int, started: str, wait_s: float = 10.0) -> bool:
    """A child of a killed tfsetup, named in its journal: stop it when that very process still runs (same
    pid and start time). True when it is gone (or was never there)."""
    if not started or start_time(pid) != started:
        return True
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass
    deadline = time.monotonic() + wait_s
    while start_time(pid) == started:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def start_detached(argv: Sequence[str], env: Dict[str, str]) -> None:
    """Start argv to outlive tfsetup on purpose (the bytecode harvest: it only reads the env and writes the
    cache atomically): its own session, no pipes, not registered, no PDEATHSIG. OSError if it cannot start."""
    subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, env=env)


# ---------------------------------------------------------------------------------------------
# running one to its end

def _interrupt(signum: int, frame: object) -> None:  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _terminate_interrupts() -> Iterator[None]:
    """While a child runs, a SIGTERM or SIGHUP that would end tfsetup at once (their default action,
    outside a transaction) interrupts it like Ctrl-C instead, so the child is stopped first. Handlers
    set by the caller (a transaction's) are left alone; the defaults come back, signals held, after."""
    if os.name == "nt" or not _main_thread():
        yield
        return
    changed: Dict[int, object] = {}
    with held_signals():
        for sig in HELD:
            if sig != signal.SIGINT and signal.getsignal(sig) == signal.SIG_DFL:
                changed[sig] = signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        with held_signals():
            for sig, old in changed.items():
                signal.signal(sig, old)


def run(argv: Sequence[str], timeout: float, env: Dict[str, str], merge: bool = False,
        on_line: Optional[Callable[[str], None]] = None, on_tick: Optional[Callable[[], None]] = None,
        tick_s: float = 0.1, stdin: Optional[str] = None) -> ChildResult:
    """Run argv to its end, or kill it (and its group) at the deadline (timed_out) or on any exception.
    `on_line`: each complete line of its stdout as it arrives; `on_tick`: every `tick_s` while it runs and
    once after; `stdin`: its input text. FileNotFoundError when argv[0] does not exist."""
    started = time.perf_counter()
    with _terminate_interrupts():
        proc = spawn(argv, env, merge=merge, stdin=stdin)
        try:
            out, err, timed_out = _collect(proc, started + timeout, on_line, on_tick, tick_s)
        except BaseException:
            stop(proc)
            raise
        _forget(proc)
    return ChildResult(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                       time.perf_counter() - started, timed_out)


def _collect(proc: subprocess.Popen, deadline: float, on_line: Optional[Callable[[str], None]],
             on_tick: Optional[Callable[[], None]], tick_s: float):
    if os.name == "nt":  # pragma: no cover - no select() on pipes there
        try:
            out, err = proc.communicate(timeout=max(0.0, deadline - time.perf_counter()))
            return out or b"", err or b"", False
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, err = proc.communicate()
            return out or b"", err or b"", True
    chunks = {proc.stdout: [], proc.stderr: []}
    partial = b""
    timed_out = False
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.perf_counter()
            if left <= 0:
                _kill(proc)
                timed_out = True
                break
            for key, _ in sel.select(min(left, tick_s) if on_tick else left):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                chunks[key.fileobj].append(data)
                if on_line is not None and key.fileobj is proc.stdout:
                    *lines, partial = (partial + data).split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace").rstrip("\r"))
            if on_tick is not None:
                on_tick()
    while proc.poll() is None:  # pipes closed; the child may still be ending
        left = deadline - time.perf_counter()
        if left <= 0:
            _kill(proc)
            timed_out = True
            break
        try:
            proc.wait(min(left, tick_s))
        except subprocess.TimeoutExpired:
            if on_tick is not None:
                on_tick()
    if on_line is not None and partial:
        on_line(partial.decode("utf-8", "replace"))
    if on_tick is not None:
        on_tick()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    err = b"".join(chunks[proc.stderr]) if proc.stderr is not None else b""
    return b"".join(chunks[proc.stdout]), err, timed_out


def map_in_threads(work: Callable[[T], R], items: Sequence[T], workers: int) -> List[R]:
    """`work` over `items` in `workers` threads, each of which may start children (interpreter probes, uv
    compiles). When the caller is interrupted or `work` fails, the work not yet begun is dropped and every
    child still running is stopped before the threads are waited for: no wait for their deadlines."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            with _terminate_interrupts():  # a SIGTERM too: its default would leave these children running
                while wait(futures, timeout=0.1).not_done:  # a signal a worker thread took lands here too
                    pass
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            while not all(future.done() for future in futures):  # one may start a child just now
                stop_all()
                time.sleep(0.02)
            raise


def run_child(argv: List[str], timeout: float, on_tick: Optional[Callable[[], None]] = None,
              tick_s: float = 0.1) -> ChildResult:
    """A python child of the verification or inspection: run() with its own temp dir, deleted when it
    ends (TensorFlow leaves a generated module there for every function autograph traces)."""
    scratch = tempfile.mkdtemp(prefix="tfsetup-child-")
    env = dict(clean_env(), TMPDIR=scratch, TEMP=scratch, TMP=scratch)
    try:
        return run(argv, timeout, env, on_tick=on_tick, tick_s=tick_s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

