"""tfsetup.macho on the real macOS arm64 wheels from PyPI: the outcomes a Mac would show.

The wheels are installed for `aarch64-apple-darwin` with `uv pip install --target` (no Mac needed;
uv's cache is shared through UV_CACHE_DIR, so each wheel is downloaded once). What is asserted is
what public reports say dyld prints on a Mac (tensorflow issues 81987/84167, PRs 126360/126384)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from tfsetup.macho.dyld import check_env, dyld_message, highest_minos, prove_plugins
from tfsetup.macho.reader import read_macho

from tests.conftest import scratch
from tests.e2e.helpers import uv

pytestmark = [pytest.mark.network, pytest.mark.slow]

PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"
CORE = "tensorflow/python/_pywrap_tensorflow_internal.so"
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"


# Wheels no other test module reads (~1.9 GB unpacked): they go into this module's own uv cache, deleted
# with it, so they never sit in the shared cache for the rest of the run (CI's disk is finite).
ONLY_HERE = {"tensorflow==2.18.0", "tensorflow-macos==2.9.2"}


class MacWheels:
    """Install sets of macOS arm64 wheels into target dirs, each set once per module."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.done: Dict[Tuple[str, ...], Path] = {}

    def get(self, *specs: str, python: str = "3.11") -> Path:
        key = (python,) + specs
        if key not in self.done:
            target = self.base / "-".join(s.replace("==", "") for s in key)
            own = self.base / "uv-cache" if ONLY_HERE.intersection(specs) else None
            uv("pip", "install", "--quiet", "--python-platform", "aarch64-apple-darwin",
               "--python-version", python, "--no-deps", "--target", str(target), *specs, cache=own)
            self.done[key] = target
        return self.done[key]


@pytest.fixture(scope="module")
def mac_wheels(tmp_path_factory) -> Iterator[MacWheels]:
    with scratch(tmp_path_factory, "mac-wheels") as root:
        yield MacWheels(root)


@pytest.mark.parametrize("tf", ["2.18.0", "2.19.1"])
def test_metal_110_misses_tsl_log_message(mac_wheels, tf):
    env = mac_wheels.get(f"tensorflow=={tf}", "tensorflow-metal==1.1.0")
    report = prove_plugins(env, macos="14.0")
    assert [(p.kind, p.file, p.library, p.symbol, p.expected_in, p.count) for p in report.problems] == [
        ("symbol-not-found", PLUGIN, "@rpath/_pywrap_tensorflow_internal.so", LOG_MESSAGE, CORE, 1)]
    assert dyld_message(report.problems[0], "/sp") == (
        f"Symbol not found: {LOG_MESSAGE}\n  Referenced from: /sp/{PLUGIN}\n  Expected in: /sp/{CORE}")
    assert report.loaded == [CORE, "tensorflow/libtensorflow_cc.2.dylib",
                             "tensorflow/libtensorflow_framework.2.dylib", PLUGIN]


@pytest.mark.parametrize("tf", ["2.18.0", "2.19.1"])
def test_metal_120_loads(mac_wheels, tf):
    env = mac_wheels.get(f"tensorflow=={tf}", "tensorflow-metal==1.2.0")
    report = prove_plugins(env, macos="14.0")
    assert report.ok, [p.to_json() for p in report.problems]
    assert report.loaded[-1] == PLUGIN and report.files_checked == 4
    assert report.bindings_checked > 10_000  # TensorFlow's own images are bound too


def test_tf_2191_core_reexports_what_the_plugin_binds(mac_wheels):
    env = mac_wheels.get("tensorflow==2.19.1", "tensorflow-metal==1.2.0")
    core = read_macho(env / CORE)
    reexports = [e for e in core.exports if e.is_reexport]
    assert len(reexports) == 450
    entry = core.exports.lookup("__ZN10tensorflow28_AttrValue_default_instance_E")
    assert entry.is_reexport and core.dylib_for(entry.reexport_ordinal).name == "@rpath/libtensorflow_cc.2.dylib"
    plugin = read_macho(env / PLUGIN)
    two_level = {b.symbol for b in plugin.bindings if plugin.dylib_for(b.ordinal)
                 and plugin.dylib_for(b.ordinal).name == "@rpath/_pywrap_tensorflow_internal.so"}
    assert "__ZN10tensorflow28_AttrValue_default_instance_E" in two_level  # found only via the re-export
    assert len({b.symbol for b in plugin.bindings if b.ordinal == -2}) == 120  # flat-namespace imports


@pytest.mark.parametrize("metal", ["1.1.0", "1.2.0"])
def test_tf_220_library_not_loaded(mac_wheels, metal):
    env = mac_wheels.get("tensorflow==2.20.0", f"tensorflow-metal=={metal}")
    report = prove_plugins(env, macos="14.0")
    kinds = [(p.kind, p.file, p.library) for p in report.problems]
    assert kinds == [("library-not-loaded", PLUGIN, "@rpath/_pywrap_tensorflow_internal.so"),
                     ("symbol-not-found-flat", PLUGIN, None)]
    flat = report.problems[1]
    assert flat.symbol == "_TF_AssignUpdateVariable" and flat.count > 30
    assert dyld_message(report.problems[0]).startswith(
        f"Library not loaded: @rpath/_pywrap_tensorflow_internal.so\n  Referenced from: {PLUGIN}\n  Reason: tried: ")
    core = read_macho(env / CORE, exports=False, bindings=False)
    assert core.install_name != "@rpath/_pywrap_tensorflow_internal.so"  # why: 2.20 renamed it


def test_minos_from_the_binaries(mac_wheels):
    assert highest_minos(mac_wheels.get("tensorflow-metal==1.2.0")) == ("12.1", PLUGIN)
    assert highest_minos(mac_wheels.get("tensorflow-metal==1.1.0")) == ("11.3", PLUGIN)
    assert highest_minos(mac_wheels.get("tensorflow==2.19.1"))[0] == "12.0"
    macos_292 = mac_wheels.get("tensorflow-macos==2.9.2", python="3.10")  # its wheel tag says 11.0
    assert highest_minos(macos_292)[0] == "11.3"
    assert read_macho(macos_292 / "tensorflow/libtensorflow_framework.2.dylib").minos == "11.3"


def test_check_env_whole_env(mac_wheels):
    env = mac_wheels.get("tensorflow==2.19.1", "tensorflow-metal==1.2.0")
    report = check_env(env, macos="14.0")
    assert report.ok, [p.to_json() for p in report.problems]
    assert report.files_checked > 60 and report.dependencies_checked > 400
    old = check_env(env, macos="12.0")
    assert [(p.kind, p.file, p.needs, p.have) for p in old.problems] == [("macos-too-old", PLUGIN, "12.1", "12.0")]
    intel = check_env(env, arch="x86_64", macos="14.0")
    assert {p.kind for p in intel.problems} == {"wrong-arch"} and len(intel.problems) == intel.files_checked
    broken = check_env(mac_wheels.get("tensorflow==2.20.0", "tensorflow-metal==1.2.0"), macos="14.0")
    assert [(p.kind, p.file, p.library) for p in broken.problems] == [
        ("library-not-loaded", PLUGIN, "@rpath/_pywrap_tensorflow_internal.so")]


def _bytes_read() -> int:
    """This process's bytes read through read(2) so far (Linux /proc/self/io `rchar`)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_reader_speed_on_the_largest_dylib(mac_wheels):
    path = mac_wheels.get("tensorflow==2.19.1", "tensorflow-metal==1.2.0") / "tensorflow/libtensorflow_cc.2.dylib"
    assert path.stat().st_size > 500_000_000
    before = _bytes_read()
    image = read_macho(path, bindings=False)  # header, load commands, export trie
    hit = image.exports.lookup("__ZN10tensorflow28_AttrValue_default_instance_E")
    # fast because it reads only what it needs, not the 500 MB (bytes read, not seconds: no timing luck)
    assert _bytes_read() - before < 64 << 20
    # the second hop of the core's re-export: cc re-exports it again, from the framework
    assert hit.is_reexport and image.dylib_for(hit.reexport_ordinal).name == "@rpath/libtensorflow_framework.2.dylib"
