"""What to do about an install engine's error (uv or pip): its message and the wheel source -> a fix line.

Pure: the engine's words in, one sentence out (None when nothing better than the message itself is known).
"""
from __future__ import annotations

from typing import Optional

from tfsetup.backends.base import PackageSource, PythonSource
from tfsetup.errors import index_unreachable


def backend_fix(message: str, source: PackageSource) -> Optional[str]:
    lowered = message.lower()
    if "hash" in lowered and ("mismatch" in lowered or "do not match" in lowered or "hashes" in lowered):
        return "a downloaded file does not match the lock's hash: the index or wheelhouse serves a " \
               "different file; nothing was installed"
    if "no space" in lowered:
        return "the disk is full: free some space and run again"
    if "file size limit" in lowered or "file too large" in lowered:
        return "a file size limit (ulimit -f) stopped the install: raise it and run again"
    missing = any(s in lowered for s in ("no solution", "not found", "unsatisfiable", "no matching distribution",
                                         "could not find a version"))
    # Offline no index is asked: uv's "network ... disabled, but ... wasn't found in the cache" is a missing wheel
    missing = missing or (source.offline and (index_unreachable(message) or "cache" in lowered))
    if source.offline and not source.find_links and missing:
        return "offline, and the wheels are not in the local cache: make a wheelhouse on a connected machine " \
               "(`tfsetup wheelhouse DIR`) and pass --find-links DIR"
    if source.offline and missing:
        return "the wheelhouse lacks a wheel this lock needs (made for another lock, platform or Python?): " \
               "rebuild it with `tfsetup wheelhouse DIR --platform P --python X.Y` for this host and lock"
    if index_unreachable(message):
        return "the package index could not be reached: check the network, or use --offline --find-links DIR"
    return None


def lock_fix(message: str, config_name: str) -> str:
    """What to do when uv could not cross-resolve a section of the team lock (`tfsetup lock`)."""
    if index_unreachable(message):
        return f"the package index could not be reached: check the network and the index URLs in {config_name}"
    return "check the extra packages support this platform and Python"


def python_fix(message: str, key: str, source: PythonSource) -> str:
    """What to do when uv could not install the managed Python `key` (nothing was changed)."""
    lowered = message.lower()
    minor = key.split("-")[1]
    if "hash mismatch" in lowered:
        return (f"the downloaded {key} archive does not match its sha256: the mirror or downloads list serves "
                "a different file; nothing was installed. Fix the mirror, or pass --python-downloads never")
    if "no download found" in lowered:
        return (f"uv knows no build for {key}: update tfsetup (and its uv), set `python-downloads-json-url` to a "
                f"list that has one, install Python {minor} yourself, or pass --python-downloads never")
    where = f"the mirror {source.mirror}" if source.mirror else "python-build-standalone's releases"
    if source.offline:
        return (f"offline, and Python {minor} is not installed: run once online, set `python-mirror` to a "
                f"file:// directory of python-build-standalone archives, or pass --python-downloads never")
    return (f"the Python archive could not be fetched from {where}: check the network, set `python-mirror` "
            f"in tfsetup.toml (a file:// directory or https mirror of python-build-standalone), or install "
            f"Python {minor} yourself and pass --python-downloads never")


def fetch_fix(message: str, source: PackageSource, python: str, platform: str) -> str:
    """What to do when the wheels to prove could not be fetched (`tfsetup prove`; nothing was changed)."""
    if index_unreachable(message) and not source.offline:
        return "the package index could not be reached: check the network, or pass --find-links DIR " \
               "(a `tfsetup wheelhouse DIR --platform ...`)"
    if source.offline:
        return "offline, and the wheels are neither in the uv cache nor in --find-links: fetch them once online"
    if "hash" in message.lower():
        return "a wheel does not match the lock's hash: the index serves a different file"
    return f"check that these versions have wheels for {platform} and Python {python} " \
           "(`tfsetup recipes --all` lists the tested sets)"
