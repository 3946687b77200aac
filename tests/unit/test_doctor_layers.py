"""doctor's two layers apart: each built-in rule on its own (a table without [[incompatible]] entries)
and each table entry on its own (an env the rule does not flag), and which layer spoke
(finding.data["origin"]).

The bundled table repeats several rules (numpy 2 under TF <= 2.17, Keras 3 over TF 2.15) with the same
finding ids, so a weakened rule would hide behind its table entry in every whole-table test.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.specifiers import SpecifierSet

from tests.conftest import host_fixture
from tests.unit.test_doctor_rules import TABLE, d, linux_215, linux_221, mac_stack
from tfsetup.doctor.rules import diagnose
from tfsetup.recipes import Incompatible

RULES_ONLY = replace(TABLE, incompatible=())
LINUX = host_fixture("linux-x86_64-avx")
MAC = host_fixture("m1-native-homebrew")


def find(findings, finding_id):
    return next((f for f in findings if f.id == finding_id), None)


def linux_tf(version: str, *extra):
    return linux_221(d("tensorflow-cpu", version, ()), *extra)


# ---------------------------------------------------------------------------------------------
# the NumPy ABI rule: TF <= 2.17 with NumPy >= 2

@pytest.mark.parametrize("tf,numpy", [("2.15.1", "2.0.0"), ("2.16.2", "2.1.3"), ("2.17.1", "2.0.0"),
                                      ("2.17.0", "2.2.6")])
def test_numpy_rule_alone_fires_up_to_tf_2_17_from_numpy_2_0(tf, numpy):
    finding = find(diagnose(linux_tf(tf, d("numpy", numpy)), LINUX, RULES_ONLY), "numpy-abi-mismatch")
    assert finding is not None, (tf, numpy)
    assert finding.severity == "error"
    assert finding.data["origin"] == ["rule"]
    assert f"numpy {numpy} installed" in finding.evidence
    assert f"TensorFlow {tf} was built against NumPy 1.x" in finding.message


@pytest.mark.parametrize("tf,numpy", [("2.18.0", "2.0.2"), ("2.19.1", "2.1.3"), ("2.17.1", "1.26.4"),
                                      ("2.15.1", "1.26.4")])
def test_numpy_rule_alone_is_silent_from_tf_2_18_or_with_numpy_1(tf, numpy):
    findings = diagnose(linux_tf(tf, d("numpy", numpy)), LINUX, RULES_ONLY)
    assert find(findings, "numpy-abi-mismatch") is None, (tf, numpy)


def test_numpy_rule_and_table_entry_both_speak_the_rule_first():
    finding = find(diagnose(linux_215(d("numpy", "2.1.3")), LINUX, TABLE), "numpy-abi-mismatch")
    assert finding.data["origin"] == ["rule", "table"]
    assert finding.message.startswith("TensorFlow 2.15.1 was built against NumPy 1.x")  # the rule's text
    assert finding.data["incompatible"] == ["tf-2.17-or-older-numpy-2"]
    assert "numpy 2.1.3 installed (matches numpy>=2)" in finding.evidence  # the entry's evidence, merged


# ---------------------------------------------------------------------------------------------
# the Keras rule: Keras 3 over TF < 2.16, Keras 2 under TF >= 2.16

@pytest.mark.parametrize("tf,keras", [("2.15.1", "3.0.0"), ("2.15.0", "3.6.0"), ("2.14.1", "3.10.0")])
def test_keras_rule_alone_flags_keras_3_over_tf_2_15(tf, keras):
    env = linux_215(d("tensorflow-cpu", tf, ()), d("keras", keras))
    finding = find(diagnose(env, LINUX, RULES_ONLY), "keras-mismatch")
    assert finding is not None, (tf, keras)
    assert finding.severity == "error" and finding.data["origin"] == ["rule"]
    assert finding.message.startswith(f"Keras {keras} is installed over TensorFlow {tf}, which was made for Keras 2")
    assert f"keras {keras} installed" in finding.evidence


@pytest.mark.parametrize("tf,keras", [("2.16.1", "2.15.0"), ("2.19.1", "2.15.1"), ("2.21.0", "2.15.0")])
def test_keras_rule_alone_flags_keras_2_under_tf_2_16_plus(tf, keras):
    finding = find(diagnose(linux_tf(tf, d("keras", keras)), LINUX, RULES_ONLY), "keras-mismatch")
    assert finding is not None and finding.data["origin"] == ["rule"]
    assert finding.message.startswith(f"TensorFlow {tf} needs Keras 3")


@pytest.mark.parametrize("tf,keras", [("2.15.1", "2.15.0"), ("2.16.1", "3.0.0"), ("2.21.0", "3.12.0")])
def test_keras_rule_alone_is_silent_on_matching_pairs(tf, keras):
    env = linux_215(d("tensorflow-cpu", tf, ()), d("keras", keras)) if tf < "2.16" else linux_tf(tf, d("keras", keras))
    assert find(diagnose(env, LINUX, RULES_ONLY), "keras-mismatch") is None


def test_keras_3_over_tf_2_15_with_the_table_is_the_rules_error_plus_the_entrys_evidence():
    finding = find(diagnose(linux_215(d("keras", "3.6.0")), LINUX, TABLE), "keras-mismatch")
    assert finding.data["origin"] == ["rule", "table"] and finding.severity == "error"
    assert finding.data["incompatible"] == ["tf-2.15-keras-3"]


# ---------------------------------------------------------------------------------------------
# table entries on their own: an env no rule flags, the entry's own severity

def test_a_table_entry_alone_speaks_with_its_own_severity():
    # TF 2.16 + metal 1.1.0 + Keras 3 on a Mac: no rule objects; the disputed entry is a warning
    env = mac_stack(tf="2.16.2", metal="1.1.0", numpy="1.26.4", keras="3.3.3")
    finding = find(diagnose(env, MAC, TABLE), "keras-mismatch")
    assert finding is not None and finding.data["origin"] == ["table"]
    assert finding.severity == "warning"  # reported, unconfirmed: never an error
    assert finding.data["incompatible"] == ["metal-1.1-tf-2.16-keras3"]
    assert find(diagnose(env, MAC, RULES_ONLY), "keras-mismatch") is None


def test_an_entry_for_a_rules_id_on_versions_the_rule_allows_speaks_alone():
    entry = Incompatible(id="test-numpy-2.0-with-tf-2.18", finding="numpy-abi-mismatch",
                         when={"tensorflow": SpecifierSet("==2.18.0"), "numpy": SpecifierSet("==2.0.0")},
                         signatures=(), message="made-up entry", fix="made-up fix",
                         sources=("https://example.org/x",),
                         severity="warning")
    table = replace(TABLE, incompatible=(entry,))
    finding = find(diagnose(linux_tf("2.18.0", d("numpy", "2.0.0")), LINUX, table), "numpy-abi-mismatch")
    assert finding is not None and finding.data["origin"] == ["table"]
    assert (finding.severity, finding.message, finding.sources) == ("warning", "made-up entry",
                                                                    ("https://example.org/x",))
    assert find(diagnose(linux_tf("2.18.0", d("numpy", "2.0.1")), LINUX, table), "numpy-abi-mismatch") is None


# ---------------------------------------------------------------------------------------------
# branches scripts/mutation.py found untested

def test_keras_fix_names_tfs_own_keras_minor_and_other_tf_majors_are_left_alone():
    finding = find(diagnose(linux_215(d("keras", "3.6.0")), LINUX, RULES_ONLY), "keras-mismatch")
    assert '"keras==2.15.*"`' in finding.fix
    tf1 = linux_215(d("tensorflow-cpu", "1.15.5", ()), d("keras", "3.6.0"))
    assert find(diagnose(tf1, LINUX, RULES_ONLY), "keras-mismatch") is None


def test_macos_11_is_too_old_for_arm64_tf_wheels_and_12_0_is_not():
    env = mac_stack(tf="2.15.1", metal=None, numpy="1.26.4", keras="2.15.0", tags=("cp311-cp311-macosx_12_0_arm64",))
    assert find(diagnose(env, replace(MAC, os_version="11.7.10"), RULES_ONLY), "macos-too-old") is not None
    assert find(diagnose(env, replace(MAC, os_version="12.0"), RULES_ONLY), "macos-too-old") is None


def _cuda_fix(tf_version: str):
    env = linux_221(d("tensorflow", tf_version, ()))
    return find(diagnose(env, host_fixture("linux-x86_64-h100"), TABLE), "cuda-libs-missing")


def test_cuda_fix_names_the_recipe_of_tfs_minor_else_the_default_cuda_recipe():
    assert "recipe linux-x86_64-cuda-tf2.18 " in _cuda_fix("2.18.1").fix
    assert "recipe linux-x86_64-cuda-tf2.21 " in _cuda_fix("2.19.1").fix  # no 2.19 CUDA recipe: the default
    assert _cuda_fix("2.14.1") is not None  # TF 2.14 is the first with pip CUDA wheels
    assert _cuda_fix("2.13.1") is None


def test_unparseable_versions_do_not_break_the_rules():
    env = linux_221(d("tensorflow", "2.x-custom", ()))
    assert find(diagnose(env, host_fixture("linux-x86_64-h100"), RULES_ONLY), "cuda-libs-missing") is None
    mac = replace(mac_stack(metal=None), version="3.x")
    assert find(diagnose(mac, MAC, RULES_ONLY), "metal-unsupported-python") is None


def test_not_verified_only_without_a_passed_verification_and_at_most_three_failed_checks():
    passed = linux_221(record={"verification": {"ok": True}})
    assert find(diagnose(passed, LINUX, TABLE), "not-verified") is None
    checks = [{"id": f"c{i}", "status": "fail", "message": f"m{i}"} for i in range(5)]
    failed = find(diagnose(linux_221(record={"verification": {"ok": False, "checks": checks}}), LINUX, TABLE),
                  "not-verified")
    assert failed.evidence == ("c0: m0", "c1: m1", "c2: m2") and "failed its last verification" in failed.message
    none = find(diagnose(linux_221(record={}), LINUX, TABLE), "not-verified")
    assert none.evidence == ("verification: none",)


def test_marker_environment_of_windows_linux_and_other_implementations():
    from tfsetup.env.facts import marker_environment

    win = marker_environment(replace(linux_221(), sys_platform="win32", machine="x86_64"))
    assert (win["os_name"], win["platform_system"], win["platform_machine"]) == ("nt", "Windows", "AMD64")
    assert win["platform_python_implementation"] == "CPython"
    lin = marker_environment(replace(linux_221(), implementation="pypy"))
    assert (lin["os_name"], lin["platform_system"], lin["platform_machine"]) == ("posix", "Linux", "x86_64")
    assert lin["platform_python_implementation"] == "pypy"


def test_an_unmet_requirement_without_a_version_reads_any():
    from tfsetup.doctor.rules import unmet_requirements

    env = linux_221(d("tensorflow-cpu", "2.21.0", ("absl-py",)), d("absl-py", "0"))
    env = replace(env, distributions={k: v for k, v in env.distributions.items() if k != "absl-py"})
    assert {"by": "tensorflow-cpu 2.21.0", "package": "absl-py", "required": "any",
            "installed": None} in unmet_requirements(env)


def test_x86_conda_on_apple_silicon_depends_on_the_arm64_slice():
    env = mac_stack(machine="x86_64", conda=True, arm64_capable=False)
    assert find(diagnose(env, MAC, RULES_ONLY), "conda-x86-on-arm64") is not None
    capable = find(diagnose(mac_stack(machine="x86_64", conda=True, arm64_capable=True), MAC, RULES_ONLY),
                   "rosetta-python")
    assert capable is not None and capable.severity == "warning"
    rosetta = find(diagnose(mac_stack(machine="x86_64", arm64_capable=False), MAC, RULES_ONLY), "rosetta-python")
    assert "interpreter: /usr/bin/python3" in rosetta.evidence  # the base interpreter, the one to replace


def test_macos_too_old_reads_the_recipes_min_os_the_tf_version_and_wheel_tags():
    stack = mac_stack(tags=())  # TF 2.19.1 + tensorflow-metal 1.2.0: the Metal recipe's min_os is 12.1
    finding = find(diagnose(stack, replace(MAC, os_version="12.0"), RULES_ONLY), "macos-too-old")
    assert finding is not None and "(macOS 12.1)" in finding.message
    assert any("tensorflow-metal 1.2.0: its binaries need macOS 12.1" in e for e in finding.evidence)
    tf213 = mac_stack(tf="2.13.1", metal=None, numpy="1.24.3", keras="2.13.1", tags=())
    assert find(diagnose(tf213, replace(MAC, os_version="11.7"), RULES_ONLY), "macos-too-old") is not None
    tagged = mac_stack(metal=None, tags=())
    tagged = replace(tagged, distributions=dict(tagged.distributions,
                                                numpy=d("numpy", "2.1.3", (), ("cp311-cp311-macosx_14_0_arm64",))))
    finding = find(diagnose(tagged, replace(MAC, os_version="13.6"), RULES_ONLY), "macos-too-old")
    assert finding is not None and "(macOS 14.0)" in finding.message


def test_macos_too_old_names_the_recipe_whose_min_os_is_exactly_this_macos():
    env = mac_stack(metal=None, tags=())
    finding = find(diagnose(env, replace(MAC, os_version="11.3"), RULES_ONLY), "macos-too-old")
    assert "only recipe macos11-arm64-cpu-tfmacos2.9" in finding.fix


def test_python_313_metal_finding_speaks_with_the_tables_entry():
    entry = next(e for e in TABLE.incompatible if e.finding == "metal-unsupported-python")
    finding = find(diagnose(mac_stack(version="3.13.1"), MAC, TABLE), "metal-unsupported-python")
    assert finding.message == entry.message and finding.severity == "error"


def test_small_helpers_markers_evidence_and_failed_checks():
    from tfsetup.doctor.findings import distinct_evidence
    from tfsetup.env.facts import marker_environment

    assert marker_environment(replace(linux_221(), sys_platform=""))["sys_platform"] == "linux"
    assert distinct_evidence(["numpy 2.1.3 installed", "numpy 2.1.3 installed (matches numpy>=2)", "x"]) == (
        "numpy 2.1.3 installed (matches numpy>=2)", "x")
    checks = [{"id": "a", "status": "pass", "message": "ok"}, "garbage", {"id": "b", "status": "fail", "message": "no"}]
    failed = find(diagnose(linux_221(record={"verification": {"ok": False, "checks": checks}}), LINUX, TABLE),
                  "not-verified")
    assert failed.evidence == ("b: no",)


def test_without_a_default_metal_recipe_the_hint_names_the_first_one():
    table = replace(RULES_ONLY, recipes=tuple(replace(r, default=False) for r in TABLE.recipes))
    env = mac_stack(tf="2.21.0", metal=None)
    finding = find(diagnose(env, MAC, table), "metal-plugin-missing")
    assert "use recipe macos-arm64-metal-tf2.19 " in finding.fix
