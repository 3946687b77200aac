"""A managed CPython for a plan: fetched through uv (backends/uv.py) into uv's managed-Python store,
asked about itself, and put into the plan (Plan.with_interpreter) before any env is built from it.
Shared by install, upgrade and doctor's rebuild; a failure is exit 4 before PATH is touched.

A team lock's exact build (ManagedPython.build) is asked for by its full key, from a downloads list of
that one build written here with the lock's sha256 (python_list_for): uv then refuses any other archive.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tfsetup.backends.base import BackendError, PythonSource
from tfsetup.backends.hints import python_fix
from tfsetup.backends.uv import UvBackend
from tfsetup.errors import EXIT_INSTALL_FAILED, BadInput, TfsetupError
from tfsetup.host.facts import HostFacts, PythonInfo
from tfsetup.host.interpreters import Candidate, probe_interpreter
from tfsetup.host.runner import SystemRunner
from tfsetup.inputs import read_bytes
from tfsetup.plan import Plan
from tfsetup.platforms import native_launch
from tfsetup.pythons import PythonBuild
from tfsetup.state import private_state_dir, write_private

_MAX_LIST_BYTES = 16 << 20  # uv's own built-in list is ~1 MB


def _failed(message: str, fix: Optional[str] = None) -> TfsetupError:
    return TfsetupError(message, EXIT_INSTALL_FAILED, fix, {"target_unchanged": True})


def managed_python(plan: Plan, facts: HostFacts, source: PythonSource, stage: Callable[[str], Any],
                   on_line: Optional[Callable[[str], None]] = None) -> Plan:
    """The plan on its interpreter: a managed Python (plan.managed) is installed through uv first, asked
    about itself, and must run as the host's native arch (an x86_64 build on an arm64 Mac would give a
    CPU-only, translated TensorFlow). Other plans come back as they are. Raises TfsetupError (exit 4)
    before anything at PATH is touched."""
    managed = plan.managed
    if managed is None or plan.python.executable:
        return plan
    def show(line: str) -> None:  # uv's "Downloading cpython-3.12.12-macos-aarch64-none (download) (19.2MiB)"
        if on_line is not None and line.strip().startswith(("Downloading", "Downloaded", "Installed")):
            on_line(line.strip())

    if managed.build is not None:  # a team lock's build: uv is given a list of exactly it, with the lock's sha256
        source = replace(source, downloads_json_url=python_list_for(managed.build, [source.archives,
                                                                                   source.downloads_json_url]))
    try:
        with stage("python"):
            if on_line is not None:
                pinned = f"sha256 {managed.build.sha256[:12]}... from the team lock" if managed.build else "its sha256"
                on_line(f"{managed.key} through uv (~{managed.size_mb} MB, checked against {pinned})")
            executable = UvBackend().install_python(managed.key, source, on_line=show)
    except BackendError as exc:
        raise _failed(f"could not install Python {plan.python.minor} ({managed.key}) through uv: "
                      f"{_uv_error(exc.message)}", python_fix(exc.message, managed.key, source)) from None
    launch = native_launch(executable, facts.os, facts.machine, facts.rosetta, [facts.machine])
    runner = SystemRunner()
    if len(launch) > 1:  # probe it the way it will run: under `arch -arm64` from a translated parent
        runner = _PrefixRunner(runner, launch[:-1])
    try:
        info = probe_interpreter(runner, Candidate(executable, "uv"), os.path.realpath(executable), facts.os)
    except ValueError as exc:
        raise _failed(f"the managed Python {executable} does not run: {exc}") from None
    running = info.archs[0] if info.archs else "?"
    if managed.build is not None and info.version != managed.build.version:
        raise _failed(f"uv gave {executable} for the team lock's {managed.key}, but it is Python {info.version}",
                      f"remove it (`uv python uninstall {managed.key}`) and run again")
    if running != facts.machine or info.minor != plan.python.minor:
        raise _failed(f"uv installed {executable} for {managed.key}, but it runs as Python {info.version} "
                      f"{running}, not {plan.python.minor} {facts.machine}",
                      f"remove it (`uv python uninstall {managed.key}`) and run again")
    python = PythonInfo(executable=executable, version=info.version, archs=[facts.machine], source="uv")
    return plan.with_interpreter(python, launch)


def _uv_error(message: str) -> str:
    """uv's error and its causes on one line (its progress lines and hash dumps left out)."""
    kept = [line.strip()[len("error:"):].strip() if line.strip().startswith("error:")
            else line.strip()[len("cause:"):].strip()
            for line in message.splitlines() if line.strip().startswith(("error:", "cause:"))]
    return "; ".join(kept) or (message.strip().splitlines() or ["no output"])[-1]


class _PrefixRunner:
    """A Runner that starts every command under a prefix (`arch -arm64`)."""

    def __init__(self, inner: Any, prefix: List[str]) -> None:
        self.inner, self.prefix = inner, list(prefix)

    def run(self, argv: List[str], **kwargs: Any) -> Any:
        return self.inner.run(self.prefix + list(argv), **kwargs)


# ---------------------------------------------------------------------------------------------
# uv's downloads lists (`--python-downloads-json-url`): {key: {"name", "arch": {"family", "variant"}, "os",
# "libc", "major", "minor", "patch", "prerelease", "url", "sha256", "variant"}}

def key_parts(key: str) -> Tuple[str, str, str, str, str]:
    name, version, os_name, arch, libc = key.split("-")  # cpython-3.12-linux-x86_64-gnu
    return name, version, os_name, arch, libc


def uv_entry(build: PythonBuild, url: str) -> Dict[str, Any]:
    """The build as one entry of uv's downloads list, at `url`, with the lock's sha256."""
    name, version, os_name, arch, libc = key_parts(build.key)
    major, minor, patch = (int(p) for p in version.split("."))
    return {"name": name, "arch": {"family": arch, "variant": None}, "os": os_name, "libc": libc, "major": major,
            "minor": minor, "patch": patch, "prerelease": "", "url": url, "sha256": build.sha256, "variant": None}


def absolute_url(url: str, folder: Path) -> str:
    """A list's url: as it is when it has a scheme, else a path relative to the list's folder (a wheelhouse
    carried to another machine keeps working)."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", url):
        return url
    return (folder / urllib.parse.unquote(url)).resolve().as_uri()


def fetch_bytes(url: str) -> bytes:
    """A downloads list or SHA256SUMS file (file:// or http(s)://), bounded; OSError when unreadable."""
    if url.startswith("file://"):
        return _read_file(Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)))
    request = urllib.request.Request(url, headers={"User-Agent": "tfsetup"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = response.read(_MAX_LIST_BYTES + 1)
    if len(data) > _MAX_LIST_BYTES:
        raise OSError(f"{url} is larger than {_MAX_LIST_BYTES >> 20} MB")
    return data


def _read_file(path: Path) -> bytes:
    try:
        return read_bytes(path, "Python downloads list", _MAX_LIST_BYTES, regular=True)
    except BadInput as exc:
        raise OSError(exc.message) from None


def read_list(location: str) -> Dict[str, Any]:
    """A downloads list (a path, file:// or https URL); OSError/ValueError when unreadable or not one."""
    data = fetch_bytes(location if "://" in location else Path(location).resolve().as_uri())
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object of builds")
    return doc


def list_folder(location: str) -> Path:
    path = urllib.request.url2pathname(urllib.parse.urlparse(location).path) if "://" in location else location
    return Path(path).resolve().parent


def python_list_for(build: PythonBuild, lists: Sequence[Optional[str]]) -> str:
    """A downloads list of exactly the locked build, for uv: at the url the first list in use that has it
    gives (a wheelhouse's, the project's), else the lock's own url; always with the lock's sha256, so uv
    refuses any other archive. A list in use that names another sha256 for it is refused here (exit 4)."""
    url = build.url
    for location in lists:
        if not location:
            continue
        try:
            doc = read_list(location)
        except (OSError, ValueError):
            continue  # unreadable: the lock's url and sha256 still decide
        entry = doc.get(build.key)
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            continue
        if str(entry.get("sha256", "")).lower() != build.sha256:
            raise TfsetupError(f"the Python downloads list {location} gives {build.key} the sha256 "
                               f"{str(entry.get('sha256'))[:12]}..., but the team lock pins {build.sha256[:12]}...",
                               EXIT_INSTALL_FAILED, fix="the list or its archive changed since `tfsetup lock`: fix "
                               "the list, or run `tfsetup lock` again if the new build is meant",
                               details={"target_unchanged": True})
        url = absolute_url(entry["url"], list_folder(location))
        break
    data = json.dumps({build.key: uv_entry(build, url)}, indent=1, sort_keys=True).encode()
    path = private_state_dir("python-lists") / f"{hashlib.sha256(data).hexdigest()[:16]}.json"
    write_private(path, data)
    return str(path)


