"""macOS host facts from sysctl, sw_vers, system_profiler and lipo."""
from __future__ import annotations

import json
from typing import Dict, List, Optional

from tfsetup.host.facts import SIMD_FLAGS, Gpu, HostFacts
from tfsetup.host.runner import Runner


def sysctl(runner: Runner, key: str) -> Optional[str]:
    """The value of a sysctl key, or None when the key does not exist (e.g. Rosetta keys on Intel)."""
    result = runner.run(["sysctl", "-n", key], timeout=5)
    value = result.stdout.strip()
    return value if result.ok and value else None


def hardware_is_arm64(runner: Runner) -> bool:
    """Apple Silicon: hw.optional.arm64 is 1 even inside a translated (Rosetta) process."""
    return sysctl(runner, "hw.optional.arm64") == "1"


def sysctl_int(runner: Runner, key: str) -> Optional[int]:
    value = sysctl(runner, key)
    return int(value) if value is not None and value.isdigit() else None


def parse_sw_vers(text: str) -> str:
    """'14.4.1' from `sw_vers -productVersion`, or from the ProductVersion line of plain `sw_vers`."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "ProductVersion":
            return value.strip()
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def product_version(runner: Runner) -> str:
    # SYSTEM_VERSION_COMPAT=1 (or an old-SDK Python) makes macOS answer 10.16; ask for the truth.
    result = runner.run(["sw_vers", "-productVersion"], timeout=5, env={"SYSTEM_VERSION_COMPAT": "0"})
    return parse_sw_vers(result.stdout) if result.ok else ""


def parse_cpu_features(*feature_lines: str) -> List[str]:
    """machdep.cpu.features / leaf7_features ('AVX1.0 FMA SSE4.1 ...') as Linux-style flag names."""
    names = set()
    for word in " ".join(feature_lines).split():
        word = word.lower()
        names.add("avx" if word == "avx1.0" else word.replace(".", "_"))
    return [f for f in SIMD_FLAGS if f in names]


def _gpu_vendor(entry: Dict[str, object]) -> str:
    raw = " ".join(str(entry.get(k, "")) for k in ("sppci_vendor", "spdisplays_vendor", "sppci_model")).lower()
    for vendor in ("apple", "amd", "intel", "nvidia"):
        if vendor in raw:
            return vendor
    if "ati" in raw or "radeon" in raw:
        return "amd"
    return "other"


def parse_displays_json(text: str) -> List[Gpu]:
    """GPUs from `system_profiler SPDisplaysDataType -json`."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return []
    gpus = []
    for entry in doc.get("SPDisplaysDataType", []) if isinstance(doc, dict) else []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("sppci_model") or entry.get("_name") or "")
        if not name:
            continue
        cores = str(entry.get("sppci_cores", ""))
        gpus.append(Gpu(vendor=_gpu_vendor(entry), name=name, cores=int(cores) if cores.isdigit() else None))
    return gpus


def parse_lipo_archs(text: str) -> List[str]:
    """`lipo -archs` prints 'x86_64 arm64'; arm64e counts as arm64 for running Python."""
    archs = []
    for arch in text.split():
        arch = "arm64" if arch.startswith("arm64") else arch
        if arch not in archs:
            archs.append(arch)
    return archs


def parse_lipo_info(text: str) -> List[str]:
    """`lipo -info`: 'Architectures in the fat file: X are: x86_64 arm64' / 'Non-fat file: X is architecture: arm64'."""
    marker = " are: " if " are: " in text else " is architecture: "
    return parse_lipo_archs(text.rsplit(marker, 1)[1]) if marker in text else []


def parse_file_archs(text: str) -> List[str]:
    """Fallback: `file` output ('... universal binary with 2 architectures: [x86_64:...] [arm64:...]')."""
    archs = []
    for arch in ("x86_64", "arm64"):
        if f"executable {arch}" in text or f"[{arch}" in text or f"{arch}]" in text:
            archs.append(arch)
    return archs


def binary_archs(runner: Runner, executable: str) -> List[str]:
    result = runner.run(["lipo", "-archs", executable], timeout=5)
    if result.ok and result.stdout.strip():
        return parse_lipo_archs(result.stdout)
    result = runner.run(["lipo", "-info", executable], timeout=5)  # lipo before Xcode 12 lacks -archs
    if result.ok and parse_lipo_info(result.stdout):
        return parse_lipo_info(result.stdout)
    result = runner.run(["file", "-L", executable], timeout=5)
    return parse_file_archs(result.stdout) if result.ok else []


def detect_macos(runner: Runner) -> HostFacts:
    machine = "arm64" if hardware_is_arm64(runner) else "x86_64"
    rosetta = sysctl(runner, "sysctl.proc_translated") == "1"
    flags: List[str] = []
    if machine == "x86_64":
        flags = parse_cpu_features(sysctl(runner, "machdep.cpu.features") or "",
                                   sysctl(runner, "machdep.cpu.leaf7_features") or "")
    cores: Dict[str, int] = {}
    for level, name in (("perflevel0", "performance"), ("perflevel1", "efficiency")):
        count = sysctl_int(runner, f"hw.{level}.physicalcpu")
        if count is not None:
            cores[name] = count
    displays = runner.run(["system_profiler", "SPDisplaysDataType", "-json"], timeout=20)
    return HostFacts(
        os="macos",
        os_version=product_version(runner),
        machine=machine,
        cpu=sysctl(runner, "machdep.cpu.brand_string") or "",
        rosetta=rosetta,
        cpu_flags=flags,
        gpus=parse_displays_json(displays.stdout) if displays.ok else [],
        memory_bytes=sysctl_int(runner, "hw.memsize"),
        cpu_cores=cores,
    )
