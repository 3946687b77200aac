"""macOS detection from recorded real command output (sources: tests/fixtures/macos/README.md)."""
from tfsetup.host.macos import (binary_archs, detect_macos, parse_cpu_features, parse_displays_json,
                                parse_file_archs, parse_lipo_info, parse_sw_vers)
from tfsetup.host.runner import CommandResult, RecordedRunner

from tests.conftest import FIXTURES, mac_runner

MAC = FIXTURES / "macos"


def test_native_m3_max_on_sequoia():
    runner = mac_runner("m3-max-sequoia", "m1-pro-displays", translated=False, sw_vers="15.1")
    facts = detect_macos(runner)
    assert facts.machine == "arm64" and facts.rosetta is False
    assert facts.cpu == "Apple M3 Max"
    assert facts.os_version == "15.1"
    assert facts.memory_bytes == 38654705664
    assert facts.cpu_cores == {"performance": 10, "efficiency": 4}
    assert facts.cpu_flags == []  # x86 flags mean nothing on Apple Silicon
    assert [(g.vendor, g.cores) for g in facts.gpus] == [("apple", 16)]


def test_rosetta_process_still_sees_arm64_hardware():
    # The recorded dump was taken inside a translated process: x86 feature keys appear,
    # yet hw.optional.arm64 stays 1.
    runner = mac_runner("m1-rosetta-monterey", translated=True, sw_vers="12.6")
    facts = detect_macos(runner)
    assert facts.machine == "arm64"
    assert facts.rosetta is True
    assert facts.cpu == "Apple M1"
    assert facts.cpu_flags == []


def test_intel_mac_has_no_arm64_key_and_reads_avx_from_features():
    runner = mac_runner("intel-i7-6700k-mojave", "intel-x86_64-unknown-oid", sw_vers="10.14.6")
    facts = detect_macos(runner)
    assert facts.machine == "x86_64" and facts.rosetta is False
    assert "Intel" in facts.cpu
    assert "avx2" in facts.cpu_flags and "fma" in facts.cpu_flags and "sse4_2" in facts.cpu_flags


def test_sw_vers_both_forms():
    assert parse_sw_vers((MAC / "intel-catalina" / "sw_vers.txt").read_text()) == "10.15.5"
    assert parse_sw_vers((MAC / "m1-sonoma" / "sw_vers.txt").read_text()) == "14.0"
    assert parse_sw_vers((MAC / "intel-high-sierra-10.13.6" / "sw_vers-productVersion.txt").read_text()) == "10.13.6"


def test_sw_vers_is_asked_without_compat_mode():
    seen = {}

    class Spy(RecordedRunner):
        def run(self, argv, timeout=10.0, env=None):
            if argv[0] == "sw_vers":
                seen["env"] = dict(env or {})
            return super().run(argv, timeout, env)

    detect_macos(Spy(commands={("sw_vers", "-productVersion"): "14.4.1\n"}))
    assert seen["env"] == {"SYSTEM_VERSION_COMPAT": "0"}


def test_cpu_features_words():
    assert parse_cpu_features("FPU AVX1.0 SSE4.1 SSE4.2 FMA", "AVX2 BMI2") == ["sse4_1", "sse4_2", "avx", "avx2", "fma"]


def test_binary_slices_from_lipo_and_file():
    universal = (MAC / "github-macos-runner-python311" / "file-python.txt").read_text()
    assert parse_file_archs(universal) == ["x86_64", "arm64"]
    x86_only = (MAC / "m1-pro-rosetta" / "file-opt-homebrew-bin-python.txt").read_text()
    assert parse_file_archs(x86_only) == ["x86_64"]
    non_fat = (MAC / "apple-silicon-miniforge-napari" / "lipo-info-miniforge-python.txt").read_text()
    assert parse_lipo_info(non_fat) == ["arm64"]
    runner = RecordedRunner(commands={("lipo", "-archs", "/usr/bin/python3"): "x86_64 arm64e\n"})
    assert binary_archs(runner, "/usr/bin/python3") == ["x86_64", "arm64"]
    fallback = RecordedRunner(commands={("file", "-L", "/x/python"): universal})
    assert binary_archs(fallback, "/x/python") == ["x86_64", "arm64"]


def test_displays_json_garbage_is_no_gpu_not_a_crash():
    assert parse_displays_json("not json") == []
    assert parse_displays_json('{"SPDisplaysDataType": [1, {"_name": ""}]}') == []


def test_everything_missing_still_answers():
    facts = detect_macos(RecordedRunner())
    assert facts.machine == "x86_64" and facts.gpus == [] and facts.os_version == ""


def test_failed_command_result_is_not_a_value():
    runner = RecordedRunner(commands={("sysctl", "-n", "hw.optional.arm64"): CommandResult(1, "1\n", "")})
    assert detect_macos(runner).machine == "x86_64"
