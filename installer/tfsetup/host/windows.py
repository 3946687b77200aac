"""Windows host facts: the platform module, CPU features through the Win32 API, NVIDIA via nvidia-smi."""
from __future__ import annotations

from typing import Callable, List, Optional

from tfsetup.host.facts import HostFacts
from tfsetup.host.nvidia import query_nvidia_gpus
from tfsetup.host.runner import Runner

# IsProcessorFeaturePresent ids (winnt.h)
PF_AVX_INSTRUCTIONS_AVAILABLE = 39
PF_AVX2_INSTRUCTIONS_AVAILABLE = 40


def windows_cpu_flags(feature_present: Optional[Callable[[int], bool]]) -> List[str]:
    if feature_present is None:
        return []
    flags = []
    if feature_present(PF_AVX_INSTRUCTIONS_AVAILABLE):
        flags.append("avx")
    if feature_present(PF_AVX2_INSTRUCTIONS_AVAILABLE):
        flags.append("avx2")
    return flags


def detect_windows(runner: Runner, machine: str, version: str, cpu: str,
                   feature_present: Optional[Callable[[int], bool]]) -> HostFacts:
    return HostFacts(
        os="windows",
        os_version=version,
        machine=machine,
        cpu=cpu,
        cpu_flags=windows_cpu_flags(feature_present),
        gpus=query_nvidia_gpus(runner),
    )
