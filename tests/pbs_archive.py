"""A python-build-standalone shaped archive (`python/bin/python3.X`, `python/lib/...`) made from a local
CPython, and a downloads list naming it, so tests drive uv's real `uv python install` path with no
internet (`--python-downloads-json-url`, a file:// url with its sha256; issue 21).

Made from the CPython the test venv runs on (its TensorFlow CPU wheels are in the test cache): its
site-packages, test suite, GUI libraries and static libraries are left out (~24 MB gzipped, ~1 s).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_DROPPED_STDLIB = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3")


@dataclass(frozen=True)
class LocalBuild:
    archive: Path
    downloads_json: Path
    key: str  # "cpython-3.11.7-linux-x86_64-gnu": what the list offers
    request: str  # "cpython-3.11-linux-x86_64-gnu": what tfsetup asks uv for
    version: str
    sha256: str

    def tampered_json(self, folder: Path) -> Path:
        """The same list with a wrong sha256: uv must refuse the archive."""
        doc = json.loads(self.downloads_json.read_text())
        doc[self.key]["sha256"] = "0" * 64
        path = folder / "tampered-downloads.json"
        path.write_text(json.dumps(doc))
        return path

    def missing_json(self, folder: Path) -> Path:
        """The same list pointing at an archive that is not there."""
        doc = json.loads(self.downloads_json.read_text())
        doc[self.key]["url"] = (folder / "gone" / self.archive.name).as_uri()
        path = folder / "missing-downloads.json"
        path.write_text(json.dumps(doc))
        return path


def _keep(rel: str, minor: str) -> bool:
    parts = rel.split("/")
    if parts[0] == "bin":
        return len(parts) == 1 or re.match(r"^python3(\.\d+)?$", parts[1]) is not None
    if parts[0] not in ("lib", "include") or "__pycache__" in parts or rel.endswith(".a"):
        return False
    if len(parts) >= 3 and parts[1] == f"python{minor}":
        if parts[2] in _DROPPED_STDLIB:
            return False
        if parts[2] == "site-packages" and len(parts) > 3:
            return False  # the local interpreter's own packages: not part of a CPython build
    return True


def local_build_support() -> Optional[str]:
    """None when this machine can make one, else why not."""
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "aarch64"):
        return "python-build-standalone shaped archives are made here on Linux x86_64/aarch64 only"
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not (Path(sys.base_prefix) / "bin" / f"python{minor}").exists():
        return f"the base CPython at {sys.base_prefix} has no bin/python{minor}"
    if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
        return "not a glibc system"
    return None


def make_local_build(folder: Path) -> LocalBuild:
    base = Path(sys.base_prefix)
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    version = platform.python_version()
    arch = platform.machine()
    archive = folder / f"cpython-{version}+local-{arch}-unknown-linux-gnu-install_only.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for dirpath, dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            rel = "" if rel == "." else rel
            dirs[:] = sorted(d for d in dirs if _keep(f"{rel}/{d}".lstrip("/"), minor))
            for name in [*dirs, *sorted(files)]:
                path = f"{rel}/{name}".lstrip("/")
                if _keep(path, minor):
                    tar.add(os.path.join(dirpath, name), arcname=f"python/{path}", recursive=False)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    major, minor_n, patch = (int(p) for p in version.split("."))
    key = f"cpython-{version}-linux-{arch}-gnu"
    doc = {key: {"name": "cpython", "arch": {"family": arch, "variant": None}, "os": "linux", "libc": "gnu",
                 "major": major, "minor": minor_n, "patch": patch, "prerelease": "", "url": archive.as_uri(),
                 "sha256": digest, "variant": None}}
    listing = folder / "downloads.json"
    listing.write_text(json.dumps(doc, indent=1))
    return LocalBuild(archive=archive, downloads_json=listing, key=key, request=f"cpython-{minor}-linux-{arch}-gnu",
                      version=version, sha256=digest)
