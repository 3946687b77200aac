"""Linux host facts from /proc/cpuinfo, os-release, glibc and nvidia-smi."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from tfsetup.host.facts import SIMD_FLAGS, HostFacts
from tfsetup.host.nvidia import query_nvidia_gpus
from tfsetup.host.runner import Runner


def parse_cpuinfo(text: str) -> Tuple[str, List[str]]:
    """(model name, flags) from the first processor block; aarch64 has 'Features', no model name."""
    model = ""
    flags: List[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if model or flags:
                if not line.strip():
                    break  # end of the first processor block
            continue
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = value.split()
    return model, flags


def parse_os_release(text: str) -> Dict[str, str]:
    values: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def os_version_from_release(text: Optional[str], kernel: str) -> str:
    """'debian-12' style from /etc/os-release; the kernel release when that file is absent."""
    release = parse_os_release(text or "")
    distro, version = release.get("ID", ""), release.get("VERSION_ID", "")
    if distro and version:
        return f"{distro}-{version}"
    return kernel


def parse_meminfo_bytes(text: str) -> Optional[int]:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def detect_linux(runner: Runner, machine: str, kernel: str, glibc: Optional[str]) -> HostFacts:
    model, flags = parse_cpuinfo(runner.read_text("/proc/cpuinfo") or "")
    return HostFacts(
        os="linux",
        os_version=os_version_from_release(runner.read_text("/etc/os-release"), kernel),
        machine=machine,
        cpu=model,
        # x86 feature flags decide AVX; on aarch64 the 'Features' list is not x86 flags.
        cpu_flags=[f for f in SIMD_FLAGS if f in flags] if machine == "x86_64" else [],
        gpus=query_nvidia_gpus(runner),
        glibc=glibc,
        memory_bytes=parse_meminfo_bytes(runner.read_text("/proc/meminfo") or ""),
    )
