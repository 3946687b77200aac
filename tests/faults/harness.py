"""The fault harness: a fake TensorFlow wheel in a local wheelhouse, small recipes tables that lock it
with its real sha256, a fault-injecting wrapper around uv, and a runner that watches tfsetup's
progress lines on stderr so a signal lands in the stage under test.

Everything here is real except the TensorFlow wheel: real `uv venv`, real `uv pip install
--require-hashes` from a real lock, the real verification probe importing a real (fake) package,
the real signals. No network: installs use `--offline --find-links WHEELHOUSE`.
"""
from __future__ import annotations

import base64
import hashlib
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from tests.e2e.helpers import PY, leftovers, manifest, run_tfsetup, tfsetup_exe  # noqa: F401  (re-exported)


FAKE_TF = "tensorflow-cpu"
FAKE_TF_VERSION = "2.21.0"

# The fake TensorFlow: blocks on import when asked (so a test can signal tfsetup while its
# verification probe runs), then fails the import, so verification fails for real.
FAKE_TF_INIT = '''\
import os, time
__version__ = "2.21.0"
if os.environ.get("FAULT_TF_READY"):
    with open(os.environ["FAULT_TF_READY"], "w") as fh:
        fh.write(str(os.getpid()))
    deadline = time.time() + float(os.environ.get("FAULT_TF_HOLD", "120"))
    while time.time() < deadline and not os.path.exists(os.environ.get("FAULT_TF_RELEASE", "/nonexistent")):
        time.sleep(0.05)
raise ImportError("fake tensorflow of tfsetup's fault tests: verification must fail")
'''
HELLO = '''\
import sys


def main():
    print(sys.prefix)
'''


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(directory: Path, name: str = FAKE_TF, version: str = FAKE_TF_VERSION,
                files: Optional[Dict[str, bytes]] = None, scripts: Optional[Dict[str, str]] = None,
                requires: Sequence[str] = ()) -> Path:
    """A valid py3-none-any wheel (METADATA with Requires-Dist, WHEEL, RECORD, entry points) with these files."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    content: Dict[str, bytes] = dict(files or {})
    content[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()
    content[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tfsetup-fault-tests\nRoot-Is-Purelib: true\n" \
                               b"Tag: py3-none-any\n"
    if scripts:
        content[f"{info}/entry_points.txt"] = ("[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items())).encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in content.items())
    content[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in content.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return wheel


def fake_tf_wheel(directory: Path, blob_mib: int = 0) -> Path:
    files = {"tensorflow/__init__.py": FAKE_TF_INIT.encode(), "tfsetup_fault_hello.py": HELLO.encode()}
    if blob_mib:
        files["tensorflow/blob.bin"] = os.urandom(blob_mib << 20)  # incompressible: it fills the disk
    return build_wheel(directory, files=files, scripts={"fault-hello": "tfsetup_fault_hello:main"})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def host_platform() -> Dict[str, str]:
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    return {"os": "linux", "machine": machine}


RECIPE = '''
[[recipe]]
id = "{rid}"
os = "{os}"
machine = "{machine}"
accelerator = "cpu"
distribution = "tensorflow-cpu"
tensorflow = "{tf}"
pythons = ["{py}"]
default = {default}
summary = {summary}
sources = {sources}
'''


def recipe_row(rid: str, tf: str = FAKE_TF_VERSION, default: bool = True,
               summary: str = '"the fault tests\' fake TensorFlow"', sources: str = '["https://example.org/faults"]',
               python: str = PY) -> str:
    """One `[[recipe]]` of a fake TensorFlow for this host (summary and sources: TOML values, quoted)."""
    return RECIPE.format(rid=rid, tf=tf, default="true" if default else "false", py=python, summary=summary,
                         sources=sources, **host_platform())


def write_table(directory: Path, lock_lines: Sequence[str], rid: str = "faults-fake-tf",
                summary: str = '"the fault tests\' fake TensorFlow"', sources: str = '["https://example.org/faults"]',
                python: str = PY) -> Path:
    """recipes.toml with one recipe for this host, and its lock at locks/<id>/py<X.Y>.txt beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    table = directory / "recipes.toml"
    table.write_text("schema = 1\n" + recipe_row(rid, summary=summary, sources=sources, python=python),
                     encoding="utf-8")
    lock = directory / "locks" / rid / f"py{python}.txt"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("".join(line + "\n" for line in lock_lines), encoding="utf-8")
    return table


def lock_line(wheel: Path, digest: Optional[str] = None, name: str = FAKE_TF, version: str = FAKE_TF_VERSION) -> str:
    return f"{name}=={version} \\\n    --hash=sha256:{digest or sha256(wheel)}"


# ---------------------------------------------------------------------------------------------
# a uv that does its real work, then holds the stage open until the test lets it go

UV_WRAPPER = '''\
#!/bin/sh
# Fault injection at the OS-command boundary (tfsetup honours TFSETUP_UV): run the real uv, and when
# this is the step under test, say so and keep the step open until FAULT_UV_RELEASE exists.
case "$1 $2" in
"${FAULT_UV_ON:-no fault}"*)
  if [ "$FAULT_UV_WHEN" = "before" ]; then
    echo $$ > "$FAULT_UV_READY"
    n=0; while [ ! -e "$FAULT_UV_RELEASE" ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done
    exec "{real}" "$@"
  fi
  "{real}" "$@"
  rc=$?
  echo $$ > "$FAULT_UV_READY"
  n=0; while [ ! -e "$FAULT_UV_RELEASE" ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done
  exit $rc ;;
esac
exec "{real}" "$@"
'''


def write_uv_wrapper(directory: Path) -> Path:
    from tfsetup.backends.uv import find_uv

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "uv-fault"
    path.write_text(UV_WRAPPER.replace("{real}", find_uv()))
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------------------------
# running tfsetup and watching its stages

def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(BASE_ENV)
    env.update(extra or {})
    return env


@dataclass
class Watch:
    """A running `tfsetup` (own process group, like a job in a shell) whose stderr is read live."""

    proc: subprocess.Popen
    lines: List[str] = field(default_factory=list)
    stdout: str = ""
    _seen: threading.Condition = field(default_factory=threading.Condition)
    _threads: List[threading.Thread] = field(default_factory=list)

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self.lines.append("")  # EOF marker
            self._seen.notify_all()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def wait_line(self, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                if self.lines and self.lines[-1] == "":
                    raise AssertionError(f"tfsetup ended before {needle!r}; stderr:\n{self.stderr}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {needle!r} within {timeout}s; stderr:\n{self.stderr}")
                self._seen.wait(left)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def signal(self, sig: int, group: bool = False) -> None:
        """`group`: to the whole job, as a terminal's Ctrl-C does; else to tfsetup only (`kill PID`)."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def finish(self, timeout: float = 120) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        for t in self._threads:
            t.join(10)
        return code


def start(*args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
          preexec_fn=None) -> Watch:
    proc = subprocess.Popen([tfsetup_exe(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=child_env(env), cwd=cwd,
                            start_new_session=True, errors="replace", preexec_fn=preexec_fn)
    watch = Watch(proc)
    for target in (watch._pump, watch._drain_stdout):
        t = threading.Thread(target=target, daemon=True)
        t.start()
        watch._threads.append(t)
    return watch


def wait_for_file(path: Path, timeout: float = 120, watch: Optional[Watch] = None) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if watch is not None and watch.proc.poll() is not None:
            raise AssertionError(f"tfsetup ended (exit {watch.proc.returncode}) before {path.name}; "
                                 f"stderr:\n{watch.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# every tfsetup started here runs with an audit hook (no shell, no sudo) and a `sudo` trap on PATH

AUDIT_SITECUSTOMIZE = '''\
"""Fault tests: log every process tfsetup starts (PEP 578 audit events) so tests can prove it never
runs a shell or sudo. Only the tfsetup process logs; other Pythons that see this file stay silent."""
import json
import os
import sys

_LOG = os.environ.get("TFSETUP_FAULTS_AUDIT")
_EVENTS = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.startfile", "pty.spawn")


def _text(value):
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _hook(event, args):
    if event not in _EVENTS or not sys.argv or os.path.basename(sys.argv[0]) != "tfsetup":
        return
    if event == "subprocess.Popen":
        doc = {"event": event, "executable": _text(args[0]), "argv": _text(args[1])}
    elif event == "os.system":
        doc = {"event": event, "argv": [_text(args[0])], "executable": "system()"}
    else:
        doc = {"event": event, "executable": _text(args[1] if event == "os.spawn" else args[0]),
               "argv": _text(args[2] if event == "os.spawn" else (args[1] if len(args) > 1 else []))}
    doc["pid"] = os.getpid()
    with open(os.path.join(_LOG, "%d.jsonl" % os.getpid()), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(doc) + "\\n")


if _LOG:
    sys.addaudithook(_hook)
'''

TRAP = '''\
#!/bin/sh
# tfsetup must never ask for privileges: any call of this trap is a test failure.
echo "$0 $*" >> "{log}"
exit 1
'''

SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "cmd", "cmd.exe", "powershell", "pwsh")
PRIVILEGE = ("sudo", "doas", "su", "pkexec", "runas")
BASE_ENV: Dict[str, str] = {}


def install_traps(directory: Path) -> Dict[str, str]:
    """The audit sitecustomize and sudo/doas traps; returns the env every tfsetup child gets."""
    site = directory / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(AUDIT_SITECUSTOMIZE)
    audit = directory / "audit"
    audit.mkdir(exist_ok=True)
    bin_dir = directory / "trap-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("sudo", "doas", "pkexec"):
        path = bin_dir / name
        path.write_text(TRAP.replace("{log}", str(directory / "privilege.log")))
        path.chmod(0o755)
    pythonpath = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    BASE_ENV.clear()
    BASE_ENV.update({"PYTHONPATH": pythonpath, "TFSETUP_FAULTS_AUDIT": str(audit),
                     "PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", "")})
    return dict(BASE_ENV)


def audit_records(directory: Path) -> List[dict]:
    import json

    records = []
    for path in sorted((directory / "audit").glob("*.jsonl")):
        records.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return records


def forbidden(records: Sequence[dict]) -> List[dict]:
    """Processes tfsetup started that are a shell, a privilege escalation, or os.system()."""
    bad = []
    for rec in records:
        argv = rec.get("argv") or []
        names = {os.path.basename(str(x)).lower() for x in [rec.get("executable"), argv[0] if argv else None] if x}
        if rec["event"] == "os.system" or names & set(SHELLS) or names & set(PRIVILEGE):
            bad.append(rec)
    return bad


def unhashed_installs(records: Sequence[dict]) -> List[dict]:
    """Engine installs (`uv pip install`, `pip install`) that tfsetup ran without enforcing hashes."""
    bad = []
    for rec in records:
        argv = [str(a) for a in rec.get("argv") or []]
        if "pip" in argv and "install" in argv[argv.index("pip"):] and \
                not {"--require-hashes", "--no-deps"} <= set(argv):
            bad.append(rec)
    return bad


def run(*args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None, timeout: float = 300,
        input: Optional[str] = None, **popen: Any) -> subprocess.CompletedProcess:
    """run_tfsetup with the harness's traps (BASE_ENV) in its environment."""
    full = dict(BASE_ENV)
    full.update(env or {})
    return run_tfsetup(*args, env=full, cwd=cwd, timeout=timeout, input=input, **popen)


def error_line(stderr: str) -> str:
    """The failure is one clear line: exactly one `tfsetup: error:` line, and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("tfsetup: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------
# shared by the tests

SIGNALS = {"SIGINT-to-job": (signal.SIGINT, True), "SIGTERM-to-tfsetup": (signal.SIGTERM, False)}


@dataclass(frozen=True)
class Fake:
    root: Path
    wheels: Path  # a wheelhouse with the good fake TensorFlow wheel
    wheel: Path
    table: Path  # recipes.toml locking that wheel with its real sha256
    uv_wrapper: Path

    def install_args(self, target: Path, *more: str, yes: bool = True) -> list:
        return ["install", str(target), "--python", PY, "--recipes-file", str(self.table), "--offline",
                "--find-links", str(self.wheels), *(["--yes"] if yes else []), *more]


def python_runs(env: Path) -> bool:
    return subprocess.run([str(env / "bin" / "fault-hello")], capture_output=True).returncode == 0


def system_python(prefix: Path) -> Path:
    """A Python installation of the tests' own, at `prefix`: a copy of the base interpreter's binary in
    prefix/bin, its standard library linked entry by entry into prefix/lib/pythonX.Y, and an empty
    site-packages of its own; no pyvenv.cfg and no conda-meta, which is what makes doctor and install
    call it a system Python (env.paths.is_venv, the probe's `conda`). The interpreter finds its prefix
    from the copy's location (the `lib/pythonX.Y/os.py` landmark), so nothing the machine's own Pythons
    have installed is visible in it. Returns its bin/python; skips where this interpreter cannot be
    relocated that way (a macOS framework build finds its prefix from the framework instead)."""
    import shutil
    import sysconfig

    import pytest

    base_exe = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix, "base": sys.base_prefix})["stdlib"])
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    lib = prefix / "lib" / version
    (lib / "site-packages").mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name not in ("site-packages", "dist-packages"):
            (lib / entry.name).symlink_to(entry)
    (prefix / "bin").mkdir()
    shutil.copy2(base_exe, prefix / "bin" / version)  # a copy, not a link: a link would lead back home
    (prefix / "bin" / "python").symlink_to(version)
    (prefix / "bin" / "python3").symlink_to(version)
    python = prefix / "bin" / "python"
    out = subprocess.run([str(python), "-I", "-c", "import sys, site; print(sys.prefix); print(site.getsitepackages())"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or out.stdout.splitlines()[:1] != [os.path.realpath(prefix)]:
        pytest.skip(f"this Python ({base_exe}) cannot be copied to a prefix of its own: {out.stdout or out.stderr}")
    return python
