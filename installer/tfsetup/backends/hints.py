"""What to do about an install engine's error (uv or pip): its message and the wheel source -> a fix line.

Pure: the engine's words in, one sentence out (None when nothing better than the message itself is known).
"""
from __future__ import annotations

from typing import Optional

from tfsetup.backends.base import PackageSource
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
