"""Run the verification suite inside an env and model its result; map crash signals to causes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence

from tfsetup.child import run_child
from tfsetup.env.paths import check_env_dir, env_python, is_venv
from tfsetup.env.record import read_record
from tfsetup.errors import EXIT_BAD_INPUT, BadInput, TfsetupError
from tfsetup.host import detect  # the module: tests replace detect.detect_host
from tfsetup.inputs import read_text
from tfsetup.platforms import native_launch

if TYPE_CHECKING:  # pragma: no cover
    from tfsetup.host.facts import HostFacts

PROBE = str(Path(__file__).resolve().parent / "probes" / "verify_env.py")
CHECK_IDS = ("python-arch", "tf-import", "tf-version", "numpy-version", "build-info", "cpu-ops",
             "gpu-devices", "gpu-op", "cpu-gpu-agreement", "train-step")
DEFAULT_TIMEOUT_S = 600.0
# The checks that say an env's stack still works after a change beside it (`tfsetup add`): seconds, not
# the training step.
QUICK_CHECKS = ("python-arch", "tf-import", "tf-version", "numpy-version", "cpu-ops")

def longer_timeout(seconds: float) -> int:
    """The --timeout to suggest after a verification timed out at `seconds`: four times as long, in whole
    minutes, never under the default (a first import of TensorFlow can take minutes on a slow disk)."""
    return max(int(DEFAULT_TIMEOUT_S), (int(seconds * 4) // 60 + 1) * 60)


# Why a TensorFlow process dies by a signal, most likely first.
SIGNAL_CAUSES = {
    "SIGILL": "illegal instruction: the CPU lacks an instruction set this TensorFlow build needs "
              "(AVX on x86_64), or the process runs translated under Rosetta",
    "SIGSEGV": "segmentation fault: typically a native plug-in or extension built against another "
               "TensorFlow or NumPy (e.g. tensorflow-metal with the wrong TensorFlow)",
    "SIGBUS": "bus error: a native library built for another platform or a corrupt install",
    "SIGABRT": "aborted: a C++ check failed inside TensorFlow (often a protobuf or plug-in mismatch)",
    "SIGKILL": "killed: the system ran out of memory, or someone killed it",
}
# Windows reports crashes as NTSTATUS exit codes.
NTSTATUS = {0xC000001D: "SIGILL", 0xC0000005: "SIGSEGV", 0xC0000409: "SIGABRT"}


@dataclass(frozen=True)
class Check:
    id: str
    status: str  # pass | warn | fail | skip
    message: str
    seconds: float = 0.0
    data: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"id": self.id, "status": self.status, "message": self.message,
                "seconds": self.seconds, "data": self.data}


@dataclass(frozen=True)
class VerifyResult:
    checks: List[Check]
    seconds: float
    returncode: int
    stderr_tail: str = ""
    signal: Optional[str] = None
    timed_out: bool = False  # stopped at the deadline: a slow machine, not necessarily a broken env

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks) and bool(self.checks)

    def failed(self) -> List[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def check(self, check_id: str) -> Optional[Check]:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_json(self) -> Dict[str, Any]:
        return {"ok": self.ok, "seconds": round(self.seconds, 3), "returncode": self.returncode,
                "signal": self.signal, "timed_out": self.timed_out, "checks": [c.to_json() for c in self.checks],
                "stderr_tail": self.stderr_tail}


def signal_name(returncode: int) -> Optional[str]:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    if returncode in (128 + 4, 128 + 11, 128 + 6, 128 + 9):  # a shell in between reports 128+N
        return signal.Signals(returncode - 128).name
    return NTSTATUS.get(returncode & 0xFFFFFFFF)


STATUSES = ("pass", "warn", "fail", "skip")
SLOW_CHECKS = ("tf-import", "gpu-devices", "gpu-op", "train-step", "speedup")  # announced when they start
KNOWN_IDS = CHECK_IDS + ("speedup",)


def _event_problem(event: Any) -> Optional[str]:
    """Why one line of the probe's report is not a well-formed event (None when it is)."""
    if not isinstance(event, dict):
        return "not a JSON object"
    kind = event.get("event")
    if kind == "done":
        return None
    if kind not in ("start", "result"):
        return f"unknown event {kind!r}"
    if event.get("id") not in KNOWN_IDS:
        return f"unknown check id {event.get('id')!r}"
    if kind == "result":
        seconds = event.get("seconds", 0)
        if event.get("status") not in STATUSES:
            return f"unknown status {event.get('status')!r}"
        if not isinstance(event.get("message", ""), str):
            return "the message is not text"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e7:
            return f"bad seconds {seconds!r}"
        if not isinstance(event.get("data") or {}, dict):
            return "the data is not an object"
    return None


def parse_events(stdout: str, returncode: int, stderr: str, timed_out: bool = False,
                 only: Optional[Sequence[str]] = None) -> VerifyResult:
    """Fold the probe's report (JSON lines, from the channel only it writes) into checks; a crash
    fails the check that was running. Every field is validated: a malformed report fails the
    verification with what was wrong (the probe itself never writes one)."""
    checks: Dict[str, Check] = {}
    running: Optional[str] = None
    done = False
    malformed: Optional[str] = None
    for number, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            event = None
        problem = "not JSON" if event is None else _event_problem(event)
        if problem is None and done:
            problem = "an event after 'done'"
        if problem is None and event.get("event") == "result" and event["id"] in checks:
            problem = f"a second result for {event['id']}"
        if problem is not None:
            malformed = f"line {number}: {problem}"
            break
        if event["event"] == "start":
            running = event["id"]
        elif event["event"] == "result":
            checks[event["id"]] = Check(event["id"], event["status"], event.get("message", ""),
                                        float(event.get("seconds", 0)), event.get("data") or {})
            running = None
        else:
            done = True
    if done and returncode != 0:  # the report says done, the process says otherwise: believe the process
        done = False
    if malformed is not None:
        done = False
    sig = signal_name(returncode)
    tail = "\n".join(stderr.strip().splitlines()[-30:])
    if not done:
        if malformed is not None:
            cause = f"the verification probe's report is malformed ({malformed})"
        elif timed_out:
            cause = "timed out"
        elif sig:
            cause = f"crashed with {sig}: {SIGNAL_CAUSES.get(sig, 'see the stderr tail')}"
        else:
            last = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:] or [f"exit code {returncode}"]
            cause = f"probe exited early: {last[0]}"
        victim = running or next((c for c in CHECK_IDS if c not in checks and (not only or c in only)),
                                 "tf-import")
        checks[victim] = Check(victim, "fail", cause, data={"signal": sig, "stderr_tail": tail})
        for check_id in CHECK_IDS:
            if check_id not in checks and (not only or check_id in only):
                checks[check_id] = Check(check_id, "skip", "not reached: the probe died earlier")
    order = {cid: i for i, cid in enumerate(CHECK_IDS)}
    ordered = sorted(checks.values(), key=lambda c: order.get(c.id, len(order)))
    return VerifyResult(ordered, 0.0, returncode, tail, sig, timed_out=timed_out and not done)


def describe_event(line: str, first_import: bool = False) -> Optional[str]:
    """One line of the probe's report as a progress line for people (None: nothing to show). Display
    only: the report is validated when the probe has finished."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or _event_problem(event) is not None or event.get("event") == "done":
        return None
    check = event["id"]
    if event["event"] == "start":
        if check == "tf-import":
            return ("first import of TensorFlow (compiling ~2,400 modules: up to a minute) ..." if first_import
                    else "importing TensorFlow ...")
        return f"{check} ..." if check in SLOW_CHECKS else None  # the quick ones: their result line is enough
    seconds = event.get("seconds", 0)
    detail = f": {event.get('message')}" if event["status"] in ("fail", "warn") and event.get("message") else ""
    return f"{check}: {event['status']} ({seconds:.1f}s){detail}"


def progress_events(progress: Optional[Callable[[str], None]], first_import: bool = False
                    ) -> Optional[Callable[[str], None]]:
    """An `on_event` for run_verification that hands `progress` a line per check (None without one).
    `first_import`: the env has no TensorFlow bytecode yet (decided before the import writes any)."""
    if progress is None:
        return None

    def on_event(line: str) -> None:
        shown = describe_event(line, first_import)
        if shown:
            progress(shown)

    return on_event


@dataclass(frozen=True)
class Promise:
    """What an env must hold, as every verification checks it: the versions of its TensorFlow distribution,
    NumPy and tensorflow-metal; its accelerator; the Keras major tf.keras must be (None: unchecked)."""
    distribution: str
    versions: Dict[str, str]
    accelerator: str
    keras: Optional[int] = None


def must_hold(distribution: str, packages: Mapping[str, str], accelerator: str, keras: Any) -> Promise:
    """The one rule of what an env must hold, for an env being built (its recipe and lock) and for one
    already there (its record): of `packages`, the distribution, numpy and tensorflow-metal versions; the
    Keras major when it is one (every recipe has one; an old record without it: unchecked)."""
    versions = {name: packages[name] for name in (distribution, "numpy", "tensorflow-metal") if name in packages}
    return Promise(distribution, versions, accelerator, keras if keras in (2, 3) else None)


def run_verification(python_cmd: List[str], promise: Promise, machine: str, benchmark: bool = False,
                     timeout: float = DEFAULT_TIMEOUT_S, only: Optional[Sequence[str]] = None,
                     on_event: Optional[Callable[[str], None]] = None) -> VerifyResult:
    """Run the probe with the env's python (python_cmd may start with `arch -arm64`), checking `promise`.
    `on_event`: each line of the report as it is written (to show each check as it runs)."""
    config = {"expect": promise.versions, "accelerator": promise.accelerator, "machine": machine,
              "distribution": promise.distribution, "benchmark": benchmark, "only": list(only or []),
              "keras": promise.keras}
    # The report's channel: a file the probe creates in a directory only this user can enter, under a
    # name nobody can guess; stdout is anybody's (a .pth file printing a fake "done" passed before).
    private = tempfile.mkdtemp(prefix="tfsetup-verify-")
    config["events"] = os.path.join(private, f"events-{os.urandom(16).hex()}.jsonl")
    try:
        follow = LineFollower(config["events"], on_event) if on_event is not None else None
        child = run_child(list(python_cmd) + ["-I", PROBE, json.dumps(config)], timeout, on_tick=follow)
        try:
            report = read_text(config["events"], "verification report") if os.path.exists(config["events"]) else ""
        except BadInput as exc:
            report = json.dumps({"event": "unreadable", "why": exc.message})
    finally:
        shutil.rmtree(private, ignore_errors=True)
    result = parse_events(report, child.returncode, child.stderr, child.timed_out, only)
    return VerifyResult(result.checks, child.seconds, child.returncode, result.stderr_tail, result.signal,
                        result.timed_out)


def verify_existing(env: Path, benchmark: bool = False, timeout: float = DEFAULT_TIMEOUT_S,
                    only: Optional[Sequence[str]] = None,
                    on_event: Optional[Callable[[str], None]] = None) -> VerifyResult:
    """`tfsetup verify PATH`: what the env's record promised, checked in the env as it is now (`only`:
    these checks)."""
    env = Path(os.path.abspath(env))
    check_env_dir(env)
    python = env_python(env)
    if not python.exists():
        what = "is not a Python environment" if not is_venv(env) else "has no python"
        raise TfsetupError(f"{env} {what}", EXIT_BAD_INPUT,
                           fix="give the path of an env (e.g. one made by `tfsetup install`)")
    return verify_recorded(env, read_record(env) or {}, detect.detect_host(with_pythons=False), benchmark, timeout,
                           only, on_event)


def verify_recorded(env: Path, record: Mapping[str, Any], facts: "HostFacts", benchmark: bool = False,
                    timeout: float = DEFAULT_TIMEOUT_S, only: Optional[Sequence[str]] = None,
                    on_event: Optional[Callable[[str], None]] = None) -> VerifyResult:
    """What `record` promised, checked in the env at `env` (a python there) on the host of `facts`
    (e.g. QUICK_CHECKS after `tfsetup add`, which has both already)."""
    distribution = record.get("distribution") or "tensorflow"
    has_metal = any((env / "lib").glob("python*/site-packages/tensorflow_metal*"))
    accelerator = record.get("accelerator") or ("metal" if has_metal else "cpu")
    launch = native_launch(env_python(env), facts.os, facts.machine, facts.rosetta)
    promise = must_hold(distribution, dict(record.get("packages") or {}), accelerator, record.get("keras"))
    return run_verification(launch, promise, facts.machine, benchmark, timeout, only=only, on_event=on_event)


class LineFollower:
    """Calls `on_line` with each complete new line of a file another process appends to (the
    verification probe's report), as it is written. For display only: what counts is read at the end."""

    def __init__(self, path: str, on_line: Callable[[str], None], limit: int = 1 << 20) -> None:
        self.path, self.on_line, self.limit = path, on_line, limit
        self._offset = 0
        self._partial = b""

    def __call__(self) -> None:
        if self._offset >= self.limit:
            return
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read(self.limit - self._offset)
        except OSError:  # not created yet
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.on_line(line.decode("utf-8", "replace"))
