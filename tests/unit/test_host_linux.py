"""Linux/NVIDIA detection from real output captured on an H100 host (tests/fixtures/linux-x86_64-h100)."""
from tfsetup.host.linux import detect_linux, parse_cpuinfo, parse_meminfo_bytes, os_version_from_release
from tfsetup.host.nvidia import QUERY_FIELDS, parse_nvidia_query_csv, query_nvidia_gpus
from tfsetup.host.runner import CommandResult, RecordedRunner

from tests.conftest import FIXTURES

H100 = FIXTURES / "linux-x86_64-h100"
QUERY = ("nvidia-smi", f"--query-gpu={QUERY_FIELDS}", "--format=csv")


def test_cpuinfo_flags_and_model():
    model, flags = parse_cpuinfo((H100 / "cpuinfo.txt").read_text())
    assert model == "Intel(R) Xeon(R) Processor"
    assert {"avx", "avx2", "avx512f", "fma"} <= set(flags)


def test_nvidia_query_csv_with_units():
    gpus = parse_nvidia_query_csv((H100 / "nvidia-smi-query.csv").read_text())
    assert len(gpus) == 1
    gpu = gpus[0]
    assert (gpu.vendor, gpu.name, gpu.driver, gpu.memory_mib, gpu.compute_capability) == (
        "nvidia", "NVIDIA H100 80GB HBM3", "580.159.04", 81559, "9.0")


def test_detect_linux_h100_host():
    runner = RecordedRunner(
        commands={QUERY: (H100 / "nvidia-smi-query.csv").read_text()},
        files={"/proc/cpuinfo": (H100 / "cpuinfo.txt").read_text(),
               "/etc/os-release": 'ID=ubuntu\nVERSION_ID="24.04"\n',
               "/proc/meminfo": "MemTotal:       65843212 kB\n"})
    facts = detect_linux(runner, "x86_64", "6.8.0", "2.39")
    assert facts.to_json()["gpus"] == [{"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3",
                                        "driver": "580.159.04", "memory_mib": 81559,
                                        "compute_capability": "9.0"}]
    assert facts.os_version == "ubuntu-24.04" and facts.glibc == "2.39"
    assert "avx" in facts.cpu_flags and "avx512f" in facts.cpu_flags
    assert facts.memory_bytes == 65843212 * 1024


def test_no_nvidia_smi_means_no_gpu_not_an_error():
    assert query_nvidia_gpus(RecordedRunner()) == []


def test_old_driver_without_compute_cap_field():
    old = ("nvidia-smi", "--query-gpu=index,name,driver_version,memory.total", "--format=csv")
    runner = RecordedRunner(commands={
        QUERY: CommandResult(2, 'Field "compute_cap" is not a valid field to query.\n', ""),
        old: "index, name, driver_version, memory.total [MiB]\n0, Tesla T4, 470.82.01, 15109 MiB\n"})
    gpus = query_nvidia_gpus(runner)
    assert [(g.name, g.driver, g.compute_capability) for g in gpus] == [("Tesla T4", "470.82.01", None)]


def test_aarch64_features_are_not_x86_flags():
    cpuinfo = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\nCPU part\t: 0xd0c\n"
    facts = detect_linux(RecordedRunner(files={"/proc/cpuinfo": cpuinfo}), "aarch64", "6.1", "2.36")
    assert facts.cpu_flags == [] and facts.machine == "aarch64"


def test_small_parsers():
    assert parse_meminfo_bytes("MemFree: 1 kB\n") is None
    assert os_version_from_release(None, "6.1.0-18-amd64") == "6.1.0-18-amd64"
