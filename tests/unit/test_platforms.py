"""platforms.py: one arch map, one `arch -arm64` rule, one deployment-target rule."""
from __future__ import annotations

from tfsetup.platforms import (canonical_arch, deployment_target, native_launch, needs_arch_arm64, normalize_arch,
                               relaunch, resolve_target, uv_python_platform, wheel_tag_arch)


def test_arch_words_follow_each_os():
    assert normalize_arch("AMD64", "windows") == "x86_64"
    assert normalize_arch("aarch64", "macos") == "arm64"
    assert normalize_arch("arm64", "linux") == "aarch64"
    assert normalize_arch("i386", "linux") == "i686"


def test_an_interpreters_own_arch_word_is_kept_and_aliases_folded():
    assert canonical_arch("AMD64") == "x86_64" and canonical_arch("x64") == "x86_64"
    assert canonical_arch("arm64") == "arm64" and canonical_arch("aarch64") == "aarch64"
    assert canonical_arch("riscv64") == "riscv64"


def test_wheel_tags_spell_the_arch_their_own_way():
    assert wheel_tag_arch("macos", "arm64") == "arm64" and wheel_tag_arch("macos", "x86_64") == "x86_64"
    assert wheel_tag_arch("linux", "arm64") == "aarch64" and wheel_tag_arch("linux", "x86_64") == "x86_64"
    assert wheel_tag_arch("windows", "x86_64") == "amd64" and wheel_tag_arch("windows", "arm64") == "arm64"


def test_arch_arm64_only_for_a_translated_tfsetup_on_apple_silicon():
    # translated tfsetup + a Python with an arm64 slice: start it native
    assert native_launch("/usr/bin/python3", "macos", "arm64", True, ["x86_64", "arm64"]) == \
        ["arch", "-arm64", "/usr/bin/python3"]
    # an env's python (slices unknown) is started native too
    assert needs_arch_arm64("macos", "arm64", True, None)
    # an x86_64-only Python cannot be started as arm64
    assert native_launch("/usr/local/bin/python3", "macos", "arm64", True, ["x86_64"]) == ["/usr/local/bin/python3"]
    # native tfsetup, Intel Macs, Linux: never
    assert native_launch("/p", "macos", "arm64", False, ["arm64"]) == ["/p"]
    assert native_launch("/p", "macos", "x86_64", True, None) == ["/p"]
    assert native_launch("/p", "linux", "aarch64", True, None) == ["/p"]


def test_relaunch_keeps_the_prefix():
    assert relaunch(["arch", "-arm64", "/base/python"], "/env/bin/python") == ["arch", "-arm64", "/env/bin/python"]
    assert relaunch(["/base/python"], "/env/bin/python") == ["/env/bin/python"]


def test_deployment_targets():
    assert deployment_target("14.4.1") == "14.4"
    assert deployment_target("15") == "15.0"
    assert deployment_target("", "arm64") == "12.0" and deployment_target("", "x86_64") == "10.15"
    assert resolve_target("12.1", "arm64") == "12.1" and resolve_target(None, "arm64") == "12.0"


def test_uv_platforms():
    assert uv_python_platform("macos", "arm64") == "aarch64-apple-darwin"
    assert uv_python_platform("linux", "x86_64", "2.17") == "x86_64-manylinux_2_17"
    assert uv_python_platform("linux", "aarch64") == "aarch64-manylinux_2_28"
