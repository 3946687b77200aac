"""host/windows.py: Windows facts from the platform module, the Win32 CPU feature call and nvidia-smi."""
from __future__ import annotations

from tfsetup.host.nvidia import QUERY_FIELDS
from tfsetup.host.runner import RecordedRunner
from tfsetup.host.windows import (PF_AVX2_INSTRUCTIONS_AVAILABLE, PF_AVX_INSTRUCTIONS_AVAILABLE, detect_windows,
                                  windows_cpu_flags)

from tests.conftest import FIXTURES

QUERY = ("nvidia-smi", f"--query-gpu={QUERY_FIELDS}", "--format=csv")


def test_cpu_flags_come_from_is_processor_feature_present():
    assert (PF_AVX_INSTRUCTIONS_AVAILABLE, PF_AVX2_INSTRUCTIONS_AVAILABLE) == (39, 40)  # winnt.h
    assert windows_cpu_flags(lambda feature: True) == ["avx", "avx2"]
    assert windows_cpu_flags(lambda feature: feature == 39) == ["avx"]
    assert windows_cpu_flags(lambda feature: False) == []
    assert windows_cpu_flags(None) == []  # no ctypes.windll: nothing is claimed


def test_detect_windows_with_an_nvidia_gpu():
    runner = RecordedRunner(commands={QUERY: (FIXTURES / "linux-x86_64-h100" / "nvidia-smi-query.csv").read_text()})
    facts = detect_windows(runner, "x86_64", "10.0.22631", "Intel64 Family 6", lambda feature: True)
    assert (facts.os, facts.os_version, facts.machine, facts.cpu) == ("windows", "10.0.22631", "x86_64",
                                                                      "Intel64 Family 6")
    assert facts.cpu_flags == ["avx", "avx2"]
    assert [(g.vendor, g.name, g.compute_capability) for g in facts.gpus] == [
        ("nvidia", "NVIDIA H100 80GB HBM3", "9.0")]


def test_detect_windows_without_nvidia_smi_has_no_gpu():
    facts = detect_windows(RecordedRunner(), "arm64", "10.0.26100", "ARMv8", None)
    assert facts.gpus == [] and facts.cpu_flags == [] and facts.machine == "arm64"
