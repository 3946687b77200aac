"""doctor: the pure rules (facts -> findings) and the pure repair planning, over hand-built env facts
and the recorded host-facts fixtures. The probe itself runs for real against this interpreter."""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

from tests.conftest import REPO, host_fixture
from tfsetup.env.facts import (PROBE, Distribution, EnvFacts, ImportCheck, facts_from_probe,
                               find_env_python, inspect_env, top_level_packages)
from tfsetup.doctor.repair import desired_accelerator, needs_rebuild, plan_repair
from tfsetup.doctor.rules import ROSETTA_URL, diagnose, problems, unmet_requirements
from tfsetup.errors import TfsetupError
from tfsetup.probes.env_facts import DISTRIBUTION_FIELDS, FIELDS
from tfsetup.recipes import load_recipes

TABLE = load_recipes(REPO / "recipes" / "recipes.toml")

# Real Requires-Dist lines (read from the installed wheels' METADATA), shortened to what matters.
TF215_CPU_REQUIRES = (
    "absl-py (>=1.0.0)", "h5py (>=2.9.0)", "ml-dtypes (~=0.3.1)", "numpy (<2.0.0,>=1.23.5)",
    "protobuf (!=4.21.0,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0dev,>=3.20.3)",
    "wrapt (<1.15,>=1.11.0)", "keras (<2.16,>=2.15.0)",
    'tensorflow-cpu-aws (==2.15.1) ; platform_system == "Linux" and (platform_machine == "arm64" or '
    'platform_machine == "aarch64")',
    'tensorflow-intel (==2.15.1) ; platform_system == "Windows"',
    "nvidia-cublas-cu12 (==12.2.5.6) ; extra == 'and-cuda'",
)
TF221_REQUIRES = (
    "absl-py>=1.0.0", "protobuf<8.0.0,>=6.31.1", "wrapt>=1.11.0", "keras>=3.12.0", "numpy>=1.26.0",
    "h5py<3.15.0,>=3.11.0", "ml_dtypes<1.0.0,>=0.5.1", 'nvidia-cublas-cu12<13.0,>=12.5.3.2; extra == "and-cuda"',
    'nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"',
    'tensorflow-io-gcs-filesystem>=0.23.1; (sys_platform != "win32" and python_version < "3.13") and '
    'extra == "gcs-filesystem"',
)
TF219_REQUIRES = ("absl-py>=1.0.0", "protobuf<6.0.0dev,>=3.20.3", "keras>=3.5.0", "numpy<2.2.0,>=1.26.0",
                  "ml-dtypes<1.0.0,>=0.5.1", "h5py>=3.11.0")
LINUX_TAGS = ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64")
MAC_ARM_TAGS = ("cp311-cp311-macosx_12_0_arm64",)


def d(name: str, version: str, requires: Sequence[str] = (), tags: Sequence[str] = ()) -> Distribution:
    return Distribution(name, version, tuple(requires), tuple(tags))


def env_of(*dists: Distribution, version: str = "3.11.9", machine: str = "x86_64", sys_platform: str = "linux",
           conda: bool = False, arm64_capable: Optional[bool] = None, record: Optional[Dict] = None,
           deep: Optional[ImportCheck] = None) -> EnvFacts:
    return EnvFacts(path="/work/env", python="/work/env/bin/python", version=version, machine=machine,
                    sys_platform=sys_platform, executable="/work/env/bin/python",
                    base_executable="/usr/bin/python3", conda=conda, venv=not conda,
                    distributions={x.key: x for x in dists}, arm64_capable=arm64_capable, record=record, deep=deep)


def linux_221(*extra: Distribution, tf: str = "tensorflow-cpu", **kw) -> EnvFacts:
    stack = [d(tf, "2.21.0", TF221_REQUIRES, LINUX_TAGS), d("absl-py", "2.3.1"), d("protobuf", "6.33.0"),
             d("wrapt", "1.17.3"), d("keras", "3.12.0", ("numpy", "absl-py")), d("numpy", "2.1.3", (), LINUX_TAGS),
             d("h5py", "3.14.0", ("numpy>=1.19.3",)), d("ml-dtypes", "0.5.3", ("numpy>=1.21",))]
    names = {x.key for x in extra}
    return env_of(*[x for x in stack if x.key not in names], *extra, **kw)


def linux_215(*extra: Distribution, **kw) -> EnvFacts:
    stack = [d("tensorflow-cpu", "2.15.1", TF215_CPU_REQUIRES, LINUX_TAGS), d("absl-py", "2.1.0"),
             d("h5py", "3.11.0"), d("ml-dtypes", "0.3.2"), d("numpy", "1.26.4"), d("protobuf", "4.25.9"),
             d("wrapt", "1.14.1"), d("keras", "2.15.0")]
    names = {x.key for x in extra}
    return env_of(*[x for x in stack if x.key not in names], *extra, **kw)


def mac_stack(tf: str = "2.19.1", metal: Optional[str] = "1.2.0", numpy: str = "2.1.3", keras: str = "3.10.0",
              version: str = "3.11.9", machine: str = "arm64", tags: Sequence[str] = MAC_ARM_TAGS, **kw) -> EnvFacts:
    requires = TF219_REQUIRES if tf >= "2.16" else ("numpy (<2.0.0,>=1.23.5)", "keras (<2.16,>=2.15.0)")
    dists = [d("tensorflow", tf, requires, tags), d("absl-py", "2.3.1"), d("protobuf", "5.29.5"),
             d("keras", keras), d("numpy", numpy, (), tags), d("ml-dtypes", "0.5.3"), d("h5py", "3.13.0")]
    if metal:
        dists.append(d("tensorflow-metal", metal, ("wheel (~=0.35)", "six>=1.15.0"), tags))
        dists += [d("wheel", "0.45.1"), d("six", "1.17.0")]
    return env_of(*dists, version=version, machine=machine, sys_platform="darwin", **kw)


def ids(findings) -> Dict[str, str]:
    return {f.id: f.severity for f in findings}


def by_id(findings, finding_id):
    return next(f for f in findings if f.id == finding_id)


# ---------------------------------------------------------------------------------------------
# healthy envs

@pytest.mark.parametrize("host,env", [
    ("linux-x86_64-avx", linux_221()),
    ("linux-x86_64-avx", linux_215()),
    ("m1-native-homebrew", mac_stack()),
    ("m1-native-homebrew", mac_stack(tf="2.15.1", metal="1.1.0", numpy="1.26.4", keras="2.15.0")),
    ("linux-x86_64-h100", linux_221(*[d(n, "12.9.1") for n in ("nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12",
                                                                "nvidia-cudnn-cu12")], tf="tensorflow")),
])
def test_healthy_env_has_no_problems(host, env):
    findings = diagnose(env, host_fixture(host), TABLE)
    assert problems(findings) == [], findings
    assert all(f.severity != "error" for f in findings)


def test_findings_are_deduplicated_and_complete():
    env = linux_215(d("numpy", "2.1.3"), d("keras", "3.6.0"))
    findings = diagnose(env, host_fixture("linux-x86_64-avx"), TABLE)
    assert len({f.id for f in findings}) == len(findings)
    for f in findings:
        assert f.message and f.fix and f.evidence and f.severity in ("error", "warning", "info")
        assert f.sources and all(s.startswith("https://") for s in f.sources)


# ---------------------------------------------------------------------------------------------
# Apple Silicon: Rosetta, x86 wheels, conda

def test_rosetta_x86_only_python_is_an_error_and_needs_a_rebuild():
    env = mac_stack(tf="2.16.2", metal=None, machine="x86_64", tags=("cp311-cp311-macosx_10_15_x86_64",),
                    arm64_capable=False)
    findings = diagnose(env, host_fixture("m1-rosetta-universal2"), TABLE)
    found = ids(findings)
    assert found["rosetta-python"] == "error" and found["x86-wheel-on-arm64"] == "error"
    rosetta = by_id(findings, "rosetta-python")
    assert ROSETTA_URL in rosetta.sources and any("x86_64" in e for e in rosetta.evidence)
    wheels = by_id(findings, "x86-wheel-on-arm64")
    assert any("tensorflow 2.16.2: cp311-cp311-macosx_10_15_x86_64" in e for e in wheels.evidence)
    assert needs_rebuild(findings)


def test_universal2_python_started_translated_is_a_warning():
    env = mac_stack(machine="x86_64", arm64_capable=True)
    findings = diagnose(env, host_fixture("m1-rosetta-universal2"), TABLE)
    assert ids(findings)["rosetta-python"] == "warning"
    assert "arch -arm64" in by_id(findings, "rosetta-python").fix
    assert not needs_rebuild(findings)


def test_x86_wheels_in_a_native_env():
    env = mac_stack(metal=None, tags=("cp311-cp311-macosx_10_15_x86_64",))
    found = ids(diagnose(env, host_fixture("m1-native-homebrew"), TABLE))
    assert found["x86-wheel-on-arm64"] == "error" and "rosetta-python" not in found


def test_x86_conda_on_apple_silicon():
    env = mac_stack(tf="2.16.2", metal=None, machine="x86_64", conda=True,
                    tags=("cp311-cp311-macosx_10_15_x86_64",))
    findings = diagnose(env, host_fixture("m1-rosetta-x86-conda-only"), TABLE)
    found = ids(findings)
    assert found["conda-x86-on-arm64"] == "error" and "rosetta-python" not in found
    assert ROSETTA_URL in by_id(findings, "conda-x86-on-arm64").sources
    assert needs_rebuild(findings)


def test_no_rosetta_findings_on_linux_or_intel_macs():
    assert "rosetta-python" not in ids(diagnose(linux_221(), host_fixture("linux-x86_64-avx"), TABLE))
    env = mac_stack(tf="2.16.2", metal=None, machine="x86_64", tags=("cp311-cp311-macosx_10_15_x86_64",))
    found = ids(diagnose(env, host_fixture("intel-mac-ventura"), TABLE))
    assert not {"rosetta-python", "x86-wheel-on-arm64", "conda-x86-on-arm64"} & set(found)


# ---------------------------------------------------------------------------------------------
# TensorFlow distributions, the Metal plug-in

def test_two_tensorflow_distributions_conflict():
    env = linux_221(d("tensorflow", "2.21.0", TF221_REQUIRES, LINUX_TAGS))
    finding = by_id(diagnose(env, host_fixture("linux-x86_64-avx"), TABLE), "conflicting-tf-distributions")
    assert finding.severity == "error"
    assert set(finding.data["distributions"]) == {"tensorflow", "tensorflow-cpu"}
    assert "tensorflow-cpu 2.21.0 installed" in finding.evidence
    assert "`tfsetup doctor --fix /work/env`" in finding.fix  # names the env: no default to guess


def test_by_hand_pip_commands_target_the_env_even_without_pip():
    """uv makes envs without pip: a bare `pip` would act on another Python's site-packages."""
    second_tf = d("tensorflow", "2.21.0", TF221_REQUIRES, LINUX_TAGS)
    finding = by_id(diagnose(linux_221(second_tf), host_fixture("linux-x86_64-avx"), TABLE),
                    "conflicting-tf-distributions")
    assert "`uv pip uninstall --python /work/env/bin/python tensorflow tensorflow-cpu`" in finding.fix
    with_pip = linux_221(second_tf, d("pip", "24.0"))
    finding = by_id(diagnose(with_pip, host_fixture("linux-x86_64-avx"), TABLE), "conflicting-tf-distributions")
    assert "`pip uninstall tensorflow tensorflow-cpu`" in finding.fix


def test_fix_commands_quote_the_path_and_spare_system_pythons():
    from dataclasses import replace

    env = linux_221(d("tensorflow", "2.21.0", TF221_REQUIRES, LINUX_TAGS))
    spaced = replace(env, path="/work/my env")
    finding = by_id(diagnose(spaced, host_fixture("linux-x86_64-avx"), TABLE), "conflicting-tf-distributions")
    assert "`tfsetup doctor --fix '/work/my env'`" in finding.fix
    system = replace(env, venv=False)
    finding = by_id(diagnose(system, host_fixture("linux-x86_64-avx"), TABLE), "conflicting-tf-distributions")
    assert finding.fix.endswith("(--fix does not change a system Python: make a separate env with "
                                "`tfsetup install PATH`)")


def test_tensorflow_meta_package_requiring_tensorflow_macos_is_not_a_conflict():
    meta = d("tensorflow", "2.15.1", ('tensorflow-macos (==2.15.1) ; platform_system == "Darwin" and '
                                      'platform_machine == "arm64"',))
    env = env_of(meta, d("tensorflow-macos", "2.15.1", ("numpy (<2.0.0,>=1.23.5)",), MAC_ARM_TAGS),
                 d("numpy", "1.26.4"), machine="arm64", sys_platform="darwin")
    assert "conflicting-tf-distributions" not in ids(diagnose(env, host_fixture("m1-native-homebrew"), TABLE))


@pytest.mark.parametrize("tf,metal,source", [
    ("2.21.0", "1.2.0", "https://github.com/tensorflow/tensorflow/pull/126360"),
    ("2.20.0", "1.2.0", "https://github.com/tensorflow/tensorflow/pull/126360"),
    ("2.18.0", "1.1.0", "https://github.com/tensorflow/tensorflow/issues/81987"),
])
def test_metal_plugin_abi_mismatch_from_the_incompatible_table(tf, metal, source):
    findings = diagnose(mac_stack(tf=tf, metal=metal), host_fixture("m1-native-homebrew"), TABLE)
    finding = by_id(findings, "metal-plugin-abi-mismatch")
    assert finding.severity == "error" and source in finding.sources
    assert f"tensorflow-metal {metal} installed (matches tensorflow-metal" in " ".join(finding.evidence)
    assert any(e.startswith(f"tensorflow {tf} installed") for e in finding.evidence)


def test_metal_mismatch_entries_are_macos_only():
    env = linux_221(d("tensorflow-metal", "1.2.0"))
    assert "metal-plugin-abi-mismatch" not in ids(diagnose(env, host_fixture("linux-x86_64-avx"), TABLE))


def test_metal_plugin_missing():
    host = host_fixture("m1-native-homebrew")
    finding = by_id(diagnose(mac_stack(metal=None), host, TABLE), "metal-plugin-missing")
    assert finding.severity == "warning" and "macos-arm64-metal-tf2.19" in finding.fix
    # TF 2.21: no plug-in loads with it, so only information; a tfsetup CPU env: information too.
    assert ids(diagnose(mac_stack(tf="2.21.0", metal=None), host, TABLE))["metal-plugin-missing"] == "info"
    cpu_env = mac_stack(metal=None, record={"accelerator": "cpu"})
    assert ids(diagnose(cpu_env, host, TABLE))["metal-plugin-missing"] == "info"


def test_metal_unsupported_python():
    host = host_fixture("m2-python313-only")
    findings = diagnose(mac_stack(tf="2.21.0", metal=None, version="3.13.1"), host, TABLE)
    finding = by_id(findings, "metal-unsupported-python")
    assert finding.severity == "warning" and "https://pypi.org/simple/tensorflow-metal/" in finding.sources
    assert "metal-plugin-missing" not in ids(findings)
    with_metal = diagnose(mac_stack(tf="2.21.0", metal="1.2.0", version="3.13.1"), host, TABLE)
    assert ids(with_metal)["metal-unsupported-python"] == "error"


def test_macos_too_old_for_the_arm64_wheels():
    env = mac_stack(tf="2.15.1", metal="1.1.0", numpy="1.26.4", keras="2.15.0", version="3.10.11")
    finding = by_id(diagnose(env, host_fixture("m1-big-sur"), TABLE), "macos-too-old")
    assert finding.severity == "error" and "macOS 11.7.10" in finding.evidence
    assert "macos11-arm64-cpu-tfmacos2.9" in finding.fix
    # tensorflow-macos 2.9 with macosx_11_0 wheels is what runs on Big Sur
    ok = env_of(d("tensorflow-macos", "2.9.2", (), ("cp310-cp310-macosx_11_0_arm64",)), d("numpy", "1.23.5"),
                version="3.10.11", machine="arm64", sys_platform="darwin")
    assert "macos-too-old" not in ids(diagnose(ok, host_fixture("m1-big-sur"), TABLE))


# ---------------------------------------------------------------------------------------------
# NumPy, Keras, declared requirements, protobuf

def test_numpy_2_with_tf_215():
    findings = diagnose(linux_215(d("numpy", "2.1.3")), host_fixture("linux-x86_64-avx"), TABLE)
    finding = by_id(findings, "numpy-abi-mismatch")
    assert finding.severity == "error"
    assert "https://github.com/tensorflow/tensorflow/issues/102743" in finding.sources
    assert "numpy 2.1.3 installed (matches numpy>=2)" in finding.evidence
    conflict = by_id(findings, "requirement-conflict")
    assert conflict.data["unmet"] == [{"by": "tensorflow-cpu 2.15.1", "package": "numpy",
                                       "required": "<2.0.0,>=1.23.5", "installed": "2.1.3"}]
    assert "tensorflow-cpu 2.15.1 requires numpy<2.0.0,>=1.23.5; numpy 2.1.3 is installed" in conflict.evidence


def test_numpy_2_is_fine_from_tf_218():
    env = linux_221(d("tensorflow-cpu", "2.18.1", ("numpy<2.1.0,>=1.26.0",)), d("numpy", "2.0.2"))
    assert "numpy-abi-mismatch" not in ids(diagnose(env, host_fixture("linux-x86_64-avx"), TABLE))


def test_keras_3_with_tf_215_and_keras_2_with_tf_216_plus():
    host = host_fixture("linux-x86_64-avx")
    old = by_id(diagnose(linux_215(d("keras", "3.6.0")), host, TABLE), "keras-mismatch")
    assert old.severity == "error" and "https://github.com/tensorflow/tensorflow/issues/62825" in old.sources
    new = diagnose(linux_221(d("keras", "2.15.0")), host, TABLE)
    assert ids(new)["keras-mismatch"] == "error" and "Keras 3" in by_id(new, "keras-mismatch").message


def test_requirement_conflict_ignores_extras_and_other_platforms():
    unmet = unmet_requirements(linux_221())
    assert unmet == []  # nvidia-* (extra and-cuda), tensorflow-io-gcs-filesystem (extra) are not needed
    unmet = unmet_requirements(linux_215())
    assert unmet == []  # tensorflow-intel (Windows) and tensorflow-cpu-aws (aarch64) markers are false here
    windows = linux_215(sys_platform="win32")
    assert [u["package"] for u in unmet_requirements(windows)] == ["tensorflow-intel"]


def test_requirement_conflict_follows_the_closure_and_names_missing_packages():
    env = linux_221(d("h5py", "3.14.0", ("numpy>=1.19.3", "cached-property")))
    finding = by_id(diagnose(env, host_fixture("linux-x86_64-avx"), TABLE), "requirement-conflict")
    assert "h5py 3.14.0 requires cached-property; cached-property is not installed" in finding.evidence


def test_protobuf_mismatch_from_an_unmet_requirement():
    findings = diagnose(linux_221(d("protobuf", "5.29.3")), host_fixture("linux-x86_64-avx"), TABLE)
    finding = by_id(findings, "protobuf-mismatch")
    assert finding.severity == "error" and "protobuf<8.0.0,>=6.31.1" in finding.fix
    assert "tensorflow-cpu 2.21.0 requires protobuf<8.0.0,>=6.31.1; protobuf 5.29.3 is installed" in finding.evidence
    assert "requirement-conflict" in ids(findings)


def test_protobuf_mismatch_from_the_incompatible_table():
    env = env_of(d("tensorflow", "2.11.1"), d("protobuf", "4.25.3"))
    finding = by_id(diagnose(env, host_fixture("linux-x86_64-avx"), TABLE), "protobuf-mismatch")
    assert "https://github.com/tensorflow/tensorflow/issues/56266" in finding.sources


# ---------------------------------------------------------------------------------------------
# the host: AVX, CUDA; --deep results

def test_no_avx():
    finding = by_id(diagnose(linux_221(), host_fixture("linux-x86_64-no-avx"), TABLE), "no-avx")
    assert finding.severity == "error" and any("no avx" in e for e in finding.evidence)
    assert "no-avx" not in ids(diagnose(linux_221(), host_fixture("linux-x86_64-avx"), TABLE))
    assert "no-avx" not in ids(diagnose(env_of(d("numpy", "2.1.3")), host_fixture("linux-x86_64-no-avx"), TABLE))


def test_cuda_libs_missing():
    host = host_fixture("linux-x86_64-h100")
    finding = by_id(diagnose(linux_221(tf="tensorflow"), host, TABLE), "cuda-libs-missing")
    assert finding.severity == "warning" and "linux-x86_64-cuda-tf2.21" in finding.fix
    assert any("nvidia-cudnn-cu12" in e for e in finding.evidence)
    assert ids(diagnose(linux_221(), host, TABLE))["cuda-libs-missing"] == "info"  # tensorflow-cpu: by choice
    assert "cuda-libs-missing" not in ids(diagnose(linux_221(tf="tensorflow"), host_fixture("linux-x86_64-avx"), TABLE))


def test_deep_sigill_is_an_illegal_instruction():
    env = linux_221(deep=ImportCheck(returncode=-4, stderr="", seconds=0.4))
    finding = by_id(diagnose(env, host_fixture("linux-x86_64-no-avx"), TABLE), "illegal-instruction")
    assert finding.severity == "error" and finding.data.get("deep")


def test_deep_numpy_error_confirms_the_fast_pass():
    stderr = ("A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.1.3 as it may crash.\n"
              "  File \"/env/lib/python3.11/site-packages/tensorflow/__init__.py\", line 37\n"
              "AttributeError: _ARRAY_API not found\n")
    env = linux_215(d("numpy", "2.1.3"), deep=ImportCheck(returncode=1, stderr=stderr, seconds=2.0))
    findings = diagnose(env, host_fixture("linux-x86_64-avx"), TABLE)
    finding = by_id(findings, "numpy-abi-mismatch")
    assert finding.data.get("deep") and any("NumPy 1.x" in e for e in finding.evidence)
    assert len({f.id for f in findings}) == len(findings)


def test_deep_unknown_failure_still_reports():
    env = linux_221(deep=ImportCheck(returncode=1, stderr="RuntimeError: something new\n", seconds=1.0))
    assert ids(diagnose(env, host_fixture("linux-x86_64-avx"), TABLE))["tensorflow-import-failed"] == "error"


def test_env_without_tensorflow():
    assert ids(diagnose(env_of(d("numpy", "2.1.3")), host_fixture("linux-x86_64-avx"), TABLE)) == \
        {"tensorflow-missing": "warning"}


# ---------------------------------------------------------------------------------------------
# repair planning (pure): a table with locks for the recipes these envs need

def _table_with_locks(tmp_path: Path, locks: Dict[str, Dict[str, str]]):
    root = tmp_path / "recipes"
    root.mkdir()
    shutil.copy(REPO / "recipes" / "recipes.toml", root / "recipes.toml")
    for rel, pins in locks.items():
        path = root / "locks" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}=={v} \\\n    --hash=sha256:{'0' * 64}\n" for k, v in pins.items()))
    return load_recipes(root / "recipes.toml")


PINS_215 = {"tensorflow-cpu": "2.15.1", "numpy": "1.26.4", "keras": "2.15.0", "protobuf": "4.25.9"}
PINS_221 = {"tensorflow-cpu": "2.21.0", "numpy": "2.1.3", "keras": "3.12.0", "protobuf": "6.33.0"}


def test_repair_plan_reinstalls_the_matching_locked_stack(tmp_path):
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.15/py3.11.txt": PINS_215,
                                         "linux-x86_64-cpu-tf2.21/py3.11.txt": PINS_221})
    env = linux_215(d("numpy", "2.1.3"))
    host = host_fixture("linux-x86_64-avx")
    findings = diagnose(env, host, table)
    rp = plan_repair(findings, env, host, table, engine="uv", uv="/bin/uv")
    assert rp.plan is not None and rp.plan.recipe.id == "linux-x86_64-cpu-tf2.15"
    assert [a.kind for a in rp.actions] == ["uninstall", "install-lock"]
    # the locked packages present are uninstalled, then the lock puts them back from the cache
    # (uv's --reinstall would download every wheel again)
    assert rp.actions[0].packages == ("keras", "numpy", "protobuf", "tensorflow-cpu")  # not absl-py: not pinned
    assert rp.actions[0].argv[-4:] == rp.actions[0].packages
    argv = rp.actions[1].argv
    assert argv[:5] == ("/bin/uv", "pip", "install", "--python", "/work/env/bin/python")
    for flag in ("--require-hashes", "--no-deps"):
        assert flag in argv
    assert "--reinstall" not in argv
    assert "--compile-bytecode" not in argv  # as in install: cached pycs are placed before the verification
    assert argv[argv.index("--only-binary") + 1] == ":all:"
    assert argv[argv.index("-r") + 1].endswith("linux-x86_64-cpu-tf2.15/py3.11.txt")
    assert "numpy" in rp.actions[1].summary and set(rp.addresses) == {"numpy-abi-mismatch", "requirement-conflict"}


def test_repair_plan_removes_the_distribution_the_recipe_does_not_use(tmp_path):
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.21/py3.11.txt": PINS_221})
    env = linux_221(d("tensorflow", "2.21.0", TF221_REQUIRES, LINUX_TAGS))
    host = host_fixture("linux-x86_64-avx")
    rp = plan_repair(diagnose(env, host, table), env, host, table, engine="uv", uv="/bin/uv")
    assert [a.kind for a in rp.actions] == ["uninstall", "install-lock"]
    assert rp.actions[0].packages == ("tensorflow", "keras", "numpy", "protobuf", "tensorflow-cpu")  # intruder first
    assert rp.actions[0].argv == ("/bin/uv", "pip", "uninstall", "--python", "/work/env/bin/python",
                                  *rp.actions[0].packages)
    assert rp.actions[0].summary == ("uninstall tensorflow (not part of recipe linux-x86_64-cpu-tf2.21); and the 4 "
                                     "locked packages now installed (the next step puts them back, from the cache "
                                     "where it has them)")


def test_repair_plan_without_a_lock_for_the_python_is_manual(tmp_path):
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.21/py3.12.txt": PINS_221})
    env = linux_215(d("numpy", "2.1.3"))
    host = host_fixture("linux-x86_64-avx")
    rp = plan_repair(diagnose(env, host, table), env, host, table)
    assert rp.automatic == [] and {a.finding for a in rp.actions} == {"numpy-abi-mismatch", "requirement-conflict"}


def test_host_problems_are_manual_steps(tmp_path):
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.21/py3.11.txt": PINS_221})
    env = linux_221()
    host = host_fixture("linux-x86_64-no-avx")
    rp = plan_repair(diagnose(env, host, table), env, host, table)
    assert [a.kind for a in rp.actions] == ["manual"] and rp.actions[0].finding == "no-avx"


def test_rosetta_env_is_rebuilt_with_an_arm64_python_and_keeps_user_packages(tmp_path):
    pins = {"tensorflow": "2.19.1", "tensorflow-metal": "1.2.0", "numpy": "2.1.3", "keras": "3.10.0"}
    table = _table_with_locks(tmp_path, {"macos-arm64-metal-tf2.19/py3.12.txt": pins})
    env = mac_stack(tf="2.16.2", metal=None, machine="x86_64", arm64_capable=False,
                    tags=("cp311-cp311-macosx_10_15_x86_64",))
    env = EnvFacts(**{**env.__dict__, "distributions": {**env.distributions,
                                                       "pandas": d("pandas", "2.2.3", ("numpy>=1.23.2",)),
                                                       "pip": d("pip", "24.0")}})
    host = host_fixture("m1-rosetta-universal2")
    rp = plan_repair(diagnose(env, host, table), env, host, table, engine="uv", uv="/bin/uv")
    assert rp.rebuild and [a.kind for a in rp.actions][:2] == ["rebuild", "install-packages"]
    assert rp.plan.python.executable == "/Library/Frameworks/Python.framework/Versions/3.12/bin/python3"
    assert rp.plan.launch[:2] == ["arch", "-arm64"]
    assert rp.actions[1].packages == ("pandas==2.2.3",)


def test_desired_accelerator_follows_the_env():
    mac = host_fixture("m1-native-homebrew")
    assert desired_accelerator(mac_stack(), mac, []) == "metal"
    assert desired_accelerator(linux_221(), host_fixture("linux-x86_64-avx"), []) == "cpu"
    h100 = host_fixture("linux-x86_64-h100")
    env = linux_221(tf="tensorflow")
    assert desired_accelerator(env, h100, diagnose(env, h100, TABLE)) == "cuda"


def test_top_level_packages_skip_dependencies_and_tooling():
    env = linux_221(d("pandas", "2.2.3", ("numpy>=1.23.2", "python-dateutil>=2.8.2")),
                    d("python-dateutil", "2.9.0"), d("pip", "24.0"), d("nvidia-cublas-cu12", "12.9.1"))
    keys = [x.key for x in top_level_packages(env, exclude=PINS_221)]
    assert "pandas" in keys and "python-dateutil" not in keys and "pip" not in keys
    assert not any(k.startswith("nvidia-") or k.startswith("tensorflow") for k in keys)


# ---------------------------------------------------------------------------------------------
# the probe and target resolution (real interpreter, no TensorFlow needed)

def test_probe_reports_this_interpreter():
    out = subprocess.run([sys.executable, "-I", "-B", PROBE], capture_output=True, text=True, timeout=60)
    doc = json.loads(out.stdout)
    assert set(doc) == {"probe", *FIELDS}  # exactly its schema's fields, which facts_from_probe reads
    assert all(set(item) <= set(DISTRIBUTION_FIELDS) for item in doc["distributions"])
    assert doc["version"] == platform.python_version()  # exactly this interpreter's, pre-releases included
    assert set(doc["markers"]) >= {"implementation_name", "platform_machine", "platform_system", "python_version",
                                   "python_full_version", "sys_platform", "os_name", "platform_release",
                                   "platform_python_implementation", "implementation_version", "platform_version"}
    from packaging.markers import default_environment

    assert doc["markers"] == {k: v for k, v in default_environment().items() if k in doc["markers"]}
    facts = facts_from_probe(doc, sys.prefix, sys.executable)
    assert facts.dist("packaging") is not None and facts.dist("pytest") is not None
    assert "tensorflow" not in sys.modules


def test_inspect_env_rejects_what_is_not_an_env(tmp_path):
    with pytest.raises(TfsetupError) as info:
        inspect_env(tmp_path / "missing")
    assert info.value.exit_code == 2
    with pytest.raises(TfsetupError) as info:
        inspect_env(tmp_path)
    assert info.value.exit_code == 2 and "not a Python environment" in info.value.message


def test_inspect_env_on_a_real_venv():
    env = Path(sys.prefix)
    if find_env_python(env) is None:
        pytest.skip("the test interpreter is not inside an env")
    facts = inspect_env(env)
    assert facts.minor == f"{sys.version_info[0]}.{sys.version_info[1]}" and facts.dist("pytest") is not None


# ---------------------------------------------------------------------------------------------
# applying: the backup/restore path on a small directory (the real repairs run in tests/e2e)

def _small_env(root: Path) -> Path:
    env = root / "env"
    (env / "bin").mkdir(parents=True)
    (env / "lib" / "site-packages" / "pkg").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (env / "lib" / "site-packages" / "pkg" / "__init__.py").write_text("x = 1\n")
    (env / "bin" / "python").symlink_to(sys.executable)
    return env


@pytest.mark.parametrize("script", [
    # the step itself fails after changing things
    "import os, sys; open(os.path.join(sys.argv[1], 'junk'), 'w'); "
    "os.remove(os.path.join(sys.argv[1], 'lib', 'site-packages', 'pkg', '__init__.py')); sys.exit(3)",
    # the step succeeds, then verification fails (there is no TensorFlow here)
    "import os, sys; open(os.path.join(sys.argv[1], 'junk'), 'w')",
])
def test_failed_repair_restores_the_env_exactly(tmp_path, script, monkeypatch):
    from dataclasses import replace as dc_replace

    from tests.e2e.helpers import leftovers, manifest
    from tfsetup.doctor.apply import RepairFailed, apply_repair
    from tfsetup.doctor.repair import RepairAction

    monkeypatch.setenv("TFSETUP_STATE_DIR", str(tmp_path / "state"))
    table = _table_with_locks(tmp_path, {"linux-x86_64-cpu-tf2.15/py3.11.txt": PINS_215})
    host = host_fixture("linux-x86_64-avx")
    env_dir = _small_env(tmp_path)
    env = dc_replace(linux_215(d("numpy", "2.1.3")), path=str(env_dir), python=str(env_dir / "bin" / "python"))
    rp = plan_repair(diagnose(env, host, table), env, host, table)
    rp = dc_replace(rp, actions=(RepairAction("install-lock", "change things", (sys.executable, "-c", script,
                                                                                 str(env_dir))),))
    before = manifest(env_dir)
    with pytest.raises(RepairFailed) as info:
        apply_repair(rp, env, host, [], lambda line: None)
    assert info.value.exit_code == 4 and info.value.restored
    assert manifest(env_dir) == before
    assert leftovers(tmp_path) == []
