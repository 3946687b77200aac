"""Find the Python interpreters on this machine and ask each about itself.

Like virtualenv's py_info: every candidate runs a small stdlib-only probe script and answers in
JSON, so what we record is what the interpreter says, not what its path suggests. A candidate that
fails, hangs or lies is skipped and reported, never a crash.
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from tfsetup import child
from tfsetup.platforms import normalize_arch
from tfsetup.host.facts import PythonInfo
from tfsetup.host.runner import Runner
from tfsetup.probes import interpreter_info, read_answer
from tfsetup.state import read_private, write_private

PROBE_SCRIPT = str(Path(interpreter_info.__file__).resolve())  # run by each candidate; its schema is read here
PROBE_TIMEOUT_S = 10.0
_PY_NAME = re.compile(r"^python3(\.\d+)?(t)?(\.exe)?$|^python(\.exe)?$")
_SHIM_DIRS = ("/.pyenv/shims", "/.asdf/shims", "/mise/shims")

@dataclass(frozen=True)
class Candidate:
    path: str
    hint: str  # where we found it: "path", "homebrew", "pyenv", ...


def classify_source(path: str, os_name: str, is_conda: bool) -> str:
    """Where a Python came from, judged from its (real) path."""
    p = path.replace("\\", "/")
    if is_conda:
        return "conda"
    if "/.pyenv/" in p or "/pyenv-win/" in p:
        return "pyenv"
    if "/uv/python/" in p:
        return "uv"
    if "/Python.framework/" in p and p.startswith("/Library/Frameworks/"):
        return "python.org"
    if p.startswith(("/opt/homebrew/", "/usr/local/Cellar/", "/usr/local/opt/", "/home/linuxbrew/")):
        return "homebrew"
    if os_name == "macos" and (p.startswith(("/Library/Developer/CommandLineTools/", "/Applications/Xcode"))
                               or p == "/usr/bin/python3"):
        return "xcode"
    if os_name == "macos" and p.startswith("/usr/local/bin/"):
        return "homebrew"
    if os_name == "linux" and p.startswith(("/usr/bin/", "/bin/")):
        return "system"
    if os_name == "windows" and "/Programs/Python/" in p:
        return "python.org"
    return "other"


def _pythons_in(directory: str) -> List[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if _PY_NAME.match(n)]


def candidate_paths(os_name: str, env: Mapping[str, str], home: str) -> List[Candidate]:
    """Every place a usable Python may live, most specific sources first."""
    found: List[Candidate] = []

    def add(paths: Iterable[str], hint: str) -> None:
        found.extend(Candidate(p, hint) for p in paths)

    if os_name == "macos":
        for prefix in ("/opt/homebrew", "/usr/local"):
            add(sorted(glob.glob(f"{prefix}/opt/python@3.*/bin/python3.*")), "homebrew")
            add(_pythons_in(f"{prefix}/bin"), "homebrew")
        add(sorted(glob.glob("/Library/Frameworks/Python.framework/Versions/3.*/bin/python3")), "python.org")
        # /usr/bin/python3 is a stub that opens an installer dialog when the CLT are missing.
        if os.path.isdir("/Library/Developer/CommandLineTools") or os.path.isdir("/Applications/Xcode.app"):
            add(["/usr/bin/python3"], "xcode")
    pyenv_root = env.get("PYENV_ROOT") or os.path.join(home, ".pyenv")
    add(sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3"))), "pyenv")
    uv_dir = env.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "uv", "python")
    add(sorted(glob.glob(os.path.join(uv_dir, "*", "bin", "python3"))), "uv")
    if os_name == "windows":
        local = env.get("LOCALAPPDATA", "")
        if local:
            add(sorted(glob.glob(os.path.join(local, "Programs", "Python", "Python3*", "python.exe"))), "python.org")
        add(sorted(glob.glob(os.path.join(uv_dir.replace("/", os.sep), "*", "python.exe"))), "uv")
    conda_prefix = env.get("CONDA_PREFIX")
    if conda_prefix:
        exe = os.path.join(conda_prefix, "python.exe" if os_name == "windows" else "bin/python")
        add([exe], "conda")
    for directory in env.get("PATH", "").split(os.pathsep):
        if directory and not any(directory.replace("\\", "/").endswith(s) for s in _SHIM_DIRS):
            add(_pythons_in(directory), "path")
    if os_name == "linux":
        add(_pythons_in("/usr/bin"), "system")
    return found


def dedupe(candidates: Sequence[Candidate], realpath: Callable[[str], str] = os.path.realpath,
           is_file: Callable[[str], bool] = os.path.isfile) -> List[Tuple[Candidate, str]]:
    """Drop missing files and repeats of the same binary (symlinks); keep the first name found."""
    seen: Dict[str, Candidate] = {}
    for cand in candidates:
        if not is_file(cand.path):
            continue
        real = realpath(cand.path)
        if real not in seen:
            seen[real] = cand
    return [(cand, real) for real, cand in seen.items()]


def _is_conda_prefix(prefix: str) -> bool:
    return os.path.isdir(os.path.join(prefix, "conda-meta"))


def parse_probe_output(stdout: str) -> Dict[str, object]:
    try:
        doc = json.loads(stdout.strip().splitlines()[-1])
    except RecursionError:
        raise ValueError("probe answer nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str):
        raise ValueError("probe answered without a version")
    return doc


class ProbeCache:
    """Probe answers keyed by the binary's real path, size and mtime (like virtualenv's py_info
    cache): an unchanged interpreter is not started again, so `detect` stays fast."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self.entries: Dict[str, Dict[str, object]] = {}
        self.dirty = False
        if path:  # a damaged, huge, linked or old-format cache is ignored (and rebuilt), never fatal
            try:
                loaded = json.loads(read_private(Path(path), 8 << 20) or b"{}")
            except (ValueError, RecursionError):
                loaded = {}
            self.entries = {k: v for k, v in loaded.items() if isinstance(v, dict)} \
                if isinstance(loaded, dict) else {}

    @staticmethod
    def _stamp(real: str) -> Optional[str]:
        try:
            st = os.stat(real)
        except OSError:
            return None
        return f"{st.st_size}:{st.st_mtime_ns}"

    def get(self, real: str) -> Optional[Dict[str, object]]:
        entry = self.entries.get(real)
        if isinstance(entry, dict) and entry.get("stamp") == self._stamp(real):
            answer = entry.get("answer")
            return answer if _valid_answer(answer) else None  # an old or damaged entry: ask again
        return None

    def put(self, real: str, answer: Dict[str, object]) -> None:
        stamp = self._stamp(real)
        if stamp:
            self.entries[real] = {"stamp": stamp, "answer": answer}
            self.dirty = True

    def save(self) -> None:
        if not (self.path and self.dirty):
            return
        try:
            write_private(Path(self.path), json.dumps(self.entries).encode("utf-8"))
        except OSError:
            pass  # a cache that cannot be written only costs time


def _valid_answer(answer: object) -> bool:
    """The shape probe_interpreter reads (a cache written by another tfsetup version may differ)."""
    return isinstance(answer, dict) and isinstance(answer.get("version"), str) \
        and re.match(r"^\d+\.\d+", answer["version"]) is not None \
        and isinstance(answer.get("machine", ""), str) \
        and isinstance(answer.get("archs") or [], list) and all(isinstance(a, str) for a in answer.get("archs") or [])


def _ask(runner: Runner, cand: Candidate, real: str, archs_of: Optional[Callable[[str], List[str]]],
         cache: Optional[ProbeCache]) -> Dict[str, object]:
    cached = cache.get(real) if cache else None
    if cached is not None:
        return cached
    result = runner.run([cand.path, "-I", PROBE_SCRIPT], timeout=PROBE_TIMEOUT_S)
    if not result.ok:
        first = (result.stderr or result.stdout).strip().splitlines()
        raise ValueError(f"exit {result.returncode}: {first[-1] if first else 'no output'}")
    try:
        info = parse_probe_output(result.stdout)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"unreadable probe answer ({exc})") from None
    info["archs"] = archs_of(real) if archs_of else []
    if cache:
        cache.put(real, info)
    return info


def probe_interpreter(runner: Runner, cand: Candidate, real: str, os_name: str,
                      archs_of: Optional[Callable[[str], List[str]]] = None,
                      cache: Optional[ProbeCache] = None) -> PythonInfo:
    """Ask one interpreter about itself; raises ValueError with the reason when it cannot answer."""
    info = _ask(runner, cand, real, archs_of, cache)
    answer = read_answer(info, interpreter_info.FIELDS)  # the probe's own schema
    machine = normalize_arch(answer["machine"], os_name)
    if answer["pointer_bits"] == 32 and machine == "x86_64":
        machine = "i686"
    archs = [str(a) for a in info.get("archs") or []]  # type: ignore[union-attr]  # lipo's, added by _ask
    if not archs:
        archs = [machine]
    prefix = answer["base_prefix"] or answer["prefix"]
    return PythonInfo(
        executable=cand.path,
        version=answer["version"],
        implementation=answer["implementation"],
        archs=[normalize_arch(a, os_name) for a in archs],
        source="conda" if cand.hint == "conda" else classify_source(real, os_name, _is_conda_prefix(prefix)),
        free_threaded=answer["free_threaded"],
    )


def discover(runner: Runner, os_name: str, env: Mapping[str, str], home: str,
             archs_of: Optional[Callable[[str], List[str]]] = None, cache_path: Optional[str] = None,
             ) -> Tuple[List[PythonInfo], List[Dict[str, str]]]:
    """(usable interpreters, skipped ones with the reason). Probes run in parallel."""
    pairs = dedupe(candidate_paths(os_name, env, home))
    cache = ProbeCache(cache_path)

    def one(pair: Tuple[Candidate, str]) -> Tuple[Optional[PythonInfo], Optional[Dict[str, str]]]:
        cand, real = pair
        try:
            return probe_interpreter(runner, cand, real, os_name, archs_of, cache), None
        except ValueError as exc:
            return None, {"executable": cand.path, "reason": str(exc)}

    answers = child.map_in_threads(one, pairs, 8)  # a Ctrl-C stops the probes still running
    cache.save()
    pythons = [info for info, _ in answers if info is not None]
    skipped = [reason for _, reason in answers if reason is not None]
    return pythons, skipped
