"""An offline wheelhouse: every wheel a lock needs for the named platforms, checked against its hash.

Layout (served as is by any static file server, by pypiserver, or used with --find-links):

    DIR/<wheel files>                 flat: `--find-links DIR`, `pypi-server run DIR`
    DIR/simple/index.html             PEP 503 index for a static server: `--index-url URL/simple/`
    DIR/simple/<name>/index.html      links ../../<wheel>#sha256=...
    DIR/python/<archive>.tar.gz       a team lock's managed Python builds (team/python_build.py), and
    DIR/python-downloads.json         uv's downloads list of them (relative urls; install resolves them)
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import html
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from packaging.utils import canonicalize_name, parse_wheel_filename

from tfsetup.credentials import redact, request_auth
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.inputs import file_sha256
from tfsetup.resolve import INDEX_URL, ResolveError, compatible_tags, file_url, parse_uv_output, version_files
from tfsetup.platforms import TEAM_PLATFORMS
from tfsetup.pythons import PythonBuild
from tfsetup.team.python_build import store_archives

Progress = Callable[[str], None]
EXIT_DOWNLOAD_FAILED = 4  # like a failed install: nothing usable made, DIR left as it was


@dataclass(frozen=True)
class WantedWheel:
    name: str
    version: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class LockText:
    """One lock to serve: its platform (team name), Python and hash-pinned requirements text."""

    platform: str
    python: str
    requirements: str
    python_build: Optional[PythonBuild] = None  # the lock's managed Python, stored beside the wheels


def wanted_wheels(lock: LockText, listing: Callable[[str, str], List[Tuple[str, str]]]) -> List[WantedWheel]:
    """The wheels an installer on that platform could pick, whose hashes the lock allows.

    Pure given `listing(name, version) -> [(filename, sha256)]`.
    """
    host_platform = TEAM_PLATFORMS[lock.platform][0]
    os_name, machine = host_platform.split("-", 1)
    tags = compatible_tags(os_name, machine, lock.python)
    wanted = []
    for name, version, hashes in parse_uv_output(lock.requirements):
        allowed = set(hashes)
        files = [(f, sha) for f, sha in listing(name, version) if sha in allowed and f.endswith(".whl")
                 and not tags.isdisjoint(parse_wheel_filename(f)[3])]
        if not files:
            raise TfsetupError(f"no wheel of {name}=={version} for {lock.platform} py{lock.python} matches the "
                               "lock's hashes on the index", EXIT_BAD_INPUT)
        wanted.extend(WantedWheel(name, version, f, sha) for f, sha in files)
    return wanted


def download(wheel: WantedWheel, url: str, directory: Path, index_url: Optional[str] = None) -> bool:
    """Fetch one wheel into directory, verified; False when a good copy was already there."""
    final = directory / wheel.filename
    if final.is_file() and file_sha256(final) == wheel.sha256:
        return False
    part = directory / f".{wheel.filename}.part"
    digest = hashlib.sha256()
    try:
        clean, auth = request_auth(url, index_url)  # the index's credentials, only for the index's host
        request = urllib.request.Request(clean, headers={"User-Agent": "tfsetup", **auth})
        with urllib.request.urlopen(request, timeout=120) as response, open(part, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != wheel.sha256:
            raise TfsetupError(f"{wheel.filename}: downloaded file does not match the lock's sha256 "
                               f"({digest.hexdigest()[:12]}... != {wheel.sha256[:12]}...)", EXIT_DOWNLOAD_FAILED)
        os.replace(part, final)
        return True
    except OSError as exc:
        raise TfsetupError(redact(f"cannot download {wheel.filename}: {getattr(exc, 'reason', None) or exc}"),
                           EXIT_DOWNLOAD_FAILED, fix="check the network or the index URL") from None
    finally:
        if part.exists():
            part.unlink()


def write_simple_index(directory: Path) -> None:
    """A PEP 503 index over the wheels in directory, for a plain static file server."""
    by_project: Dict[str, List[Path]] = {}
    for wheel in sorted(directory.glob("*.whl")):
        by_project.setdefault(canonicalize_name(parse_wheel_filename(wheel.name)[0]), []).append(wheel)
    simple = directory / "simple"
    simple.mkdir(exist_ok=True)
    links = "".join(f'<a href="{html.escape(n)}/">{html.escape(n)}</a>\n' for n in sorted(by_project))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    for project, wheels in by_project.items():
        (simple / project).mkdir(exist_ok=True)
        rows = "".join(f'<a href="../../{html.escape(w.name)}#sha256={file_sha256(w)}">{html.escape(w.name)}</a>\n'
                       for w in wheels)
        (simple / project / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{rows}</body></html>\n")


def build_wheelhouse(locks: Sequence[LockText], directory: Path, index_url: Optional[str] = None,
                     progress: Optional[Progress] = None, python_source: Any = None) -> Dict[str, object]:
    """Download what the locks need into directory; return a summary for --json."""
    index = index_url or INDEX_URL
    say = progress or (lambda _msg: None)
    if directory.exists() and not directory.is_dir():
        raise TfsetupError(f"{directory} is a file, not a directory", EXIT_BAD_INPUT,
                           fix="give a directory for the wheels (it is created if missing)")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".tfsetup-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TfsetupError(f"cannot write to {directory}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
    try:
        summary = _fill(locks, directory, index, say)
        builds = {lk.python_build.key: lk.python_build for lk in locks if lk.python_build is not None}
        if builds:  # where the project gets them: its downloads list and mirror (request.python_settings)
            lists = [python_source.downloads_json_url] if python_source is not None else []
            summary["python_archives"] = store_archives(list(builds.values()), directory, lists,
                                                        python_source.mirror if python_source else None, say)
        return summary
    except BaseException:
        if created and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()  # made by us and still empty: leave nothing behind
        raise


def _fill(locks: Sequence[LockText], directory: Path, index: str, say: Progress) -> Dict[str, object]:
    wanted: Dict[str, WantedWheel] = {}
    try:
        for lock in locks:
            for wheel in wanted_wheels(lock, lambda n, v: version_files(n, v, index)):
                wanted[wheel.filename] = wheel
    except ResolveError as exc:
        raise TfsetupError(redact(str(exc)), EXIT_DOWNLOAD_FAILED,
                           fix="check the network, the index URL and its credentials") from None
    say(f"{len(wanted)} wheels for {', '.join(f'{lk.platform} py{lk.python}' for lk in locks)}")

    def one(wheel: WantedWheel) -> bool:
        fetched = download(wheel, file_url(wheel.name, wheel.filename, index), directory, index)
        say(("downloaded " if fetched else "already there ") + wheel.filename)
        return fetched

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        fetched = sum(pool.map(one, sorted(wanted.values(), key=lambda w: w.filename)))
    write_simple_index(directory)
    return {"directory": str(directory), "wheels": sorted(wanted), "downloaded": fetched,
            "already_present": len(wanted) - fetched,
            "locks": [{"platform": lk.platform, "python": lk.python} for lk in locks]}
