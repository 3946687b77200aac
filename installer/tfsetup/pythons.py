"""Python versions as data: end-of-life dates, and the "managed" CPython uv can download for a host.

Pure. The planner lets a managed CPython (a python-build-standalone build that `uv python install`
puts in uv's managed-Python store) compete with the host's own Pythons (plan.py), so a fresh Mac
with only Homebrew's 3.14, an x86_64 Anaconda or the Command Line Tools' 3.9 still reaches Metal.

Which patch: the request names the minor only (`cpython-3.12-macos-aarch64-none`) and uv installs
the newest patch of that minor it knows (its built-in list, or `python-downloads-json-url`). The
patch is a security matter that the wheels do not depend on (cp312 wheels fit every 3.12.x), and
the exact build installed is recorded in the env's record (python.version, python.executable).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

# End of life per minor (year-month), from the release-schedule PEPs and the devguide's
# "Status of Python versions" (https://devguide.python.org/versions/, checked 2026-12-07):
# 3.8 PEP 569 2024-10, 3.9 PEP 596 2025-10, 3.10 PEP 619 2026-10, 3.11 PEP 664 2027-10,
# 3.12 PEP 693 2028-10, 3.13 PEP 719 2029-10, 3.14 PEP 745 2030-10.
PYTHON_EOL: Dict[str, str] = {
    "3.6": "2021-12", "3.7": "2023-06", "3.8": "2024-10", "3.9": "2025-10", "3.10": "2026-10",
    "3.11": "2027-10", "3.12": "2028-10", "3.13": "2029-10", "3.14": "2030-10",
}
EOL_SOURCE = "https://devguide.python.org/versions/"
EOL_CHECKED = "2026-12-07"  # the default "today" of a plan: pure and reproducible (the CLI passes the real date)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

# python-build-standalone "install_only" archives (what uv downloads), approximate sizes.
MANAGED_SIZE_MB = {"macos": 20, "linux": 30}
PYTHON_DOWNLOADS = ("auto", "never")  # like uv's python-downloads (automatic | never)


def _minor_key(minor: str) -> int:
    return int(minor.split(".")[1])


def eol_month(minor: str) -> Optional[str]:
    """'October 2025' for 3.9; None when unknown."""
    when = PYTHON_EOL.get(minor)
    if when is None:
        return None
    year, month = when.split("-")
    return f"{_MONTHS[int(month) - 1]} {year}"


def is_eol(minor: str, today: str) -> bool:
    """Past its end of life on `today` (YYYY-MM-DD): from the first day after the EOL month."""
    when = PYTHON_EOL.get(minor)
    return when is not None and today[:7] > when


@dataclass(frozen=True)
class PythonBuild:
    """One exact python-build-standalone archive, as a team lock pins it (team/python_build.py)."""

    key: str  # uv's key of that build: "cpython-3.12.12-macos-aarch64-none"
    version: str  # "3.12.12"
    release: str  # python-build-standalone's release ("20251217"); "local" or "unknown" where the list does not say
    sha256: str  # of the archive: uv refuses any other bytes
    url: str  # where the downloads list in use at lock time had it

    FIELDS = ("key", "version", "release", "sha256", "url")

    def to_json(self) -> Dict[str, str]:
        return {name: getattr(self, name) for name in self.FIELDS}


@dataclass(frozen=True)
class ManagedPython:
    """A CPython that uv can download for this host: not on the host yet."""

    minor: str  # "3.12"
    key: str  # uv's request key: "cpython-3.12-macos-aarch64-none" (the exact build's key when pinned)
    arch: str  # the host's native arch, in the OS's own word ("arm64" on a Mac)
    size_mb: int
    build: Optional[PythonBuild] = None  # the exact archive a team lock pins (None: uv's newest of the minor)

    def to_json(self) -> Dict[str, object]:
        doc: Dict[str, object] = {"uv_request": self.key, "size_mb": self.size_mb}
        if self.build is not None:
            doc["build"] = self.build.to_json()
        return doc


def uv_arch(os_name: str, machine: str) -> str:
    """python-build-standalone's arch names: aarch64 on every OS (a Mac's arm64 too)."""
    return "aarch64" if machine in ("arm64", "aarch64") else machine


def managed_key(os_name: str, machine: str, minor: str, glibc: Optional[str]) -> Optional[str]:
    """uv's request key for a native CPython of `minor` on this host, or None where tfsetup does not
    download one. The arch is always explicit: under Rosetta uv itself may run as x86_64 and would
    otherwise pick an x86_64 build for an arm64 Mac (`machine` is the hardware, see HostFacts)."""
    arch = uv_arch(os_name, machine)
    if os_name == "macos" and machine in ("arm64", "x86_64"):
        return f"cpython-{minor}-macos-{arch}-none"
    if os_name == "linux" and machine in ("x86_64", "aarch64") and glibc:  # TF wheels are manylinux: glibc only
        return f"cpython-{minor}-linux-{arch}-gnu"
    return None  # Windows: not offered (its envs and launchers are not tested with managed builds)


def managed_pythons(os_name: str, machine: str, glibc: Optional[str], minors: List[str]) -> List[ManagedPython]:
    """The managed candidates for these minors on this host, newest first."""
    found = []
    for minor in sorted(set(minors), key=_minor_key, reverse=True):
        key = managed_key(os_name, machine, minor, glibc)
        if key is not None:
            found.append(ManagedPython(minor=minor, key=key, arch=machine, size_mb=MANAGED_SIZE_MB.get(os_name, 30)))
    return found
