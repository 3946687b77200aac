"""The exact Python build a team lock pins, per section whose Python is managed (issue 21, item 3).

`tfsetup lock` in a project with `managed-python = true` records, for each section, the
python-build-standalone archive uv would install there: its key, version, release and sha256, from the
downloads list in use (the project's `python-downloads-json-url`, else uv's built-in list, whose sha256s
uv does not print: they come from the release's own SHA256SUMS file). `install` then hands uv a list of
exactly that one build with the lock's sha256 (managed_python.python_list_for), so uv refuses other bytes,
and `tfsetup wheelhouse` stores the archives beside the wheels (store_archives) for offline installs.

The downloads list format is uv's (`--python-downloads-json-url`): {key: {"name", "arch": {"family",
"variant"}, "os", "libc", "major", "minor", "patch", "prerelease", "url", "sha256", "variant"}}.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import BackendError
from tfsetup.backends.uv import find_uv
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError
from tfsetup.inputs import file_sha256
from tfsetup.platforms import TEAM_PLATFORMS
from tfsetup.managed_python import fetch_bytes, absolute_url, key_parts, list_folder, read_list, uv_entry
from tfsetup.pythons import PythonBuild, managed_key

WHEELHOUSE_LIST = "python-downloads.json"  # a wheelhouse's list of the archives it holds (relative urls)
WHEELHOUSE_DIR = "python"  # the archives' folder inside a wheelhouse
# the prefixes uv's --mirror replaces in its built-in urls (python-build-standalone's releases)
_RELEASE_PREFIXES = ("https://github.com/astral-sh/python-build-standalone/releases/download",
                     "https://releases.astral.sh/github/python-build-standalone/releases/download")


# ---------------------------------------------------------------------------------------------
# pure

def release_of(url: str) -> str:
    """python-build-standalone's release from an archive's name (`cpython-3.12.12+20251217-...`)."""
    name = urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1])
    found = re.search(r"\+(\d{8})-", name)
    if found:
        return found.group(1)
    return "local" if "+local-" in name else "unknown"


def request_for(platform: str, python: str) -> Optional[str]:
    """uv's request key for a team platform's managed CPython (None where tfsetup downloads none)."""
    os_name, machine = TEAM_PLATFORMS[platform][0].split("-", 1)
    return managed_key(os_name, machine, python, glibc="any")  # team Linux platforms are manylinux: glibc


def pick_build(doc: Dict[str, Any], request: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The newest final release of the request's minor in a downloads list: (key, entry), or None."""
    name, minor, os_name, arch, libc = key_parts(request)
    major_n, minor_n = (int(p) for p in minor.split("."))
    best: Optional[Tuple[int, str, Dict[str, Any]]] = None
    for key, entry in doc.items():
        if not isinstance(entry, dict):
            continue
        family = (entry.get("arch") or {}).get("family") if isinstance(entry.get("arch"), dict) else entry.get("arch")
        if (entry.get("name") == name and entry.get("os") == os_name and family == arch and entry.get("libc") == libc
                and entry.get("major") == major_n and entry.get("minor") == minor_n and not entry.get("prerelease")
                and entry.get("variant") in (None, "default") and isinstance(entry.get("patch"), int)
                and isinstance(entry.get("url"), str) and isinstance(entry.get("sha256"), str)):
            if best is None or entry["patch"] > best[0]:
                best = (entry["patch"], key, entry)
    return None if best is None else (best[1], best[2])


def build_of(key: str, entry: Dict[str, Any]) -> PythonBuild:
    version = f"{entry['major']}.{entry['minor']}.{entry['patch']}"
    return PythonBuild(key=key, version=version, release=release_of(entry["url"]), sha256=entry["sha256"].lower(),
                       url=entry["url"])


def sums_url(url: str, mirror: Optional[str]) -> str:
    """SHA256SUMS of the release an archive url belongs to, through the mirror when one is set."""
    for prefix in _RELEASE_PREFIXES:
        if mirror and url.startswith(prefix):
            url = mirror.rstrip("/") + url[len(prefix):]
    return url.rsplit("/", 1)[0] + "/SHA256SUMS"


def sha_from_sums(text: str, url: str) -> Optional[str]:
    name = urllib.parse.unquote(url.rsplit("/", 1)[-1])
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == name and re.match(r"^[0-9a-f]{64}$", fields[0]):
            return fields[0]
    return None


# ---------------------------------------------------------------------------------------------
# the edge: reading lists, fetching sums, writing the one-build list uv is given

def _builtin_build(request: str, mirror: Optional[str]) -> Optional[PythonBuild]:
    """uv's built-in list: the newest build uv knows (`uv python list`), its sha256 from the release's
    SHA256SUMS (uv does not print the sha256s it holds)."""
    try:
        out = run_step("list Pythons", [find_uv(), "python", "list", "--no-config", "--only-downloads",
                                        "--all-platforms", "--all-arches", "--output-format", "json", request])
        found = [e for e in json.loads(out) if e.get("key") and e.get("url") and e.get("variant") == "default"]
    except (BackendError, ValueError) as exc:
        raise TfsetupError(f"uv cannot list the Python builds for {request}: {exc}", EXIT_INSTALL_FAILED) from None
    if not found:
        return None
    entry = max(found, key=lambda e: tuple(e.get("version_parts", {}).get(p, 0) for p in ("major", "minor", "patch")))
    where = sums_url(entry["url"], mirror)
    try:
        sha = sha_from_sums(fetch_bytes(where).decode("utf-8", "replace"), entry["url"])
    except OSError as exc:
        raise TfsetupError(f"cannot read the sha256 of {entry['key']} from {where}: {exc}", EXIT_INSTALL_FAILED,
                           fix="check the network, or set `python-downloads-json-url` to the team's own list "
                               "of builds (with their sha256)") from None
    if sha is None:
        raise TfsetupError(f"{where} does not list {entry['url'].rsplit('/', 1)[-1]}", EXIT_INSTALL_FAILED)
    return PythonBuild(key=entry["key"], version=entry["version"], release=release_of(entry["url"]), sha256=sha,
                       url=entry["url"])


def lock_builds(config: Any, sections: Sequence[Tuple[str, str]]) -> Dict[Tuple[str, str], PythonBuild]:
    """The build each (platform, python) section pins, when the project's Python is managed; else none."""
    if not config.managed_python or config.python_downloads == "never":
        return {}
    listed: Optional[Dict[str, Any]] = None
    if config.python_downloads_json_url:
        try:
            listed = read_list(config.python_downloads_json_url)
        except (OSError, ValueError) as exc:
            raise TfsetupError(f"{config.path}: 'python-downloads-json-url' {config.python_downloads_json_url}: "
                               f"{exc}", EXIT_BAD_INPUT, fix="correct it, or remove it to use uv's own list") from None
    builds = {}
    for platform, python in sections:
        request = request_for(platform, python)
        if request is None:
            continue  # no managed Python there (Windows): that section's machines use their own
        if listed is not None:
            picked = pick_build(listed, request)
            build = build_of(*picked) if picked else None
        else:
            build = _builtin_build(request, config.python_mirror)
        if build is None:
            raise TfsetupError(f"the Python downloads list has no build for {platform} py{python} ({request})",
                               EXIT_BAD_INPUT, fix="add one to the list in 'python-downloads-json-url', or drop "
                               "'managed-python' from the project config")
        builds[(platform, python)] = build
    return builds


# ---------------------------------------------------------------------------------------------
# a wheelhouse's archives

def _copy_url(url: str, part: Path) -> None:
    if url.startswith("file://"):
        shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), part)
        return
    request = urllib.request.Request(url, headers={"User-Agent": "tfsetup"})
    with urllib.request.urlopen(request, timeout=600) as response, open(part, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def store_archives(builds: Sequence[PythonBuild], directory: Path, lists: Sequence[Optional[str]],
                   mirror: Optional[str], say: Callable[[str], None]) -> List[str]:
    """Put each locked archive in DIR/python/ (checked against the lock's sha256) and list them in
    DIR/python-downloads.json with relative urls; the archives' names."""
    if not builds:
        return []
    folder = directory / WHEELHOUSE_DIR
    folder.mkdir(exist_ok=True)
    listing: Dict[str, Any] = {}
    names = []
    for build in builds:
        url = _source_url(build, lists, mirror)
        name = urllib.parse.unquote(build.url.rsplit("/", 1)[-1])
        final = folder / name
        if not (final.is_file() and file_sha256(final) == build.sha256):
            part = folder / f".{name}.part"
            try:
                _copy_url(url, part)
                got = file_sha256(part)
                if got != build.sha256:
                    raise TfsetupError(f"{name}: the archive at {url} does not match the lock's sha256 ({got[:12]}... "
                                       f"!= {build.sha256[:12]}...)", EXIT_INSTALL_FAILED)
                os.replace(part, final)
            except OSError as exc:
                raise TfsetupError(f"cannot fetch the Python archive {url}: {getattr(exc, 'reason', None) or exc}",
                                   EXIT_INSTALL_FAILED, fix="check the network or 'python-mirror'") from None
            finally:
                if part.exists():
                    part.unlink()
            say(f"stored {name}")
        else:
            say(f"already there {name}")
        listing[build.key] = uv_entry(build, f"{WHEELHOUSE_DIR}/{urllib.parse.quote(name)}")
        names.append(name)
    (directory / WHEELHOUSE_LIST).write_text(json.dumps(listing, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return sorted(names)


def _source_url(build: PythonBuild, lists: Sequence[Optional[str]], mirror: Optional[str]) -> str:
    for location in lists:
        if not location:
            continue
        try:
            entry = read_list(location).get(build.key)
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            return absolute_url(entry["url"], list_folder(location))
    for prefix in _RELEASE_PREFIXES:
        if mirror and build.url.startswith(prefix):
            return mirror.rstrip("/") + build.url[len(prefix):]
    return build.url


def wheelhouse_list(find_links: Sequence[str]) -> Optional[str]:
    """The first local find-links directory's python-downloads.json (a `tfsetup wheelhouse`), if any."""
    for link in find_links:
        if "://" in link and not link.startswith("file://"):
            continue
        folder = urllib.request.url2pathname(urllib.parse.urlparse(link).path) if "://" in link else link
        candidate = Path(folder) / WHEELHOUSE_LIST
        if candidate.is_file():
            return str(candidate.resolve())
    return None
