"""What `import tensorflow` loads decides `loads` (macho/startup.py): TensorFlow's own rules read from its
tensorflow/__init__.py, programs never loaded, the rest judged; prove and doctor share the rule."""
from __future__ import annotations

import json
from pathlib import Path

from tfsetup.env.facts import Distribution, EnvFacts
from tfsetup.doctor.rules import diagnose
from tfsetup.macho.reader import MH_EXECUTE
from tfsetup.macho.startup import PROGRAM, conditional_imports, startup_rules
from tfsetup.prove.macos import check_loads
from tfsetup.prove.proof import prove_dir
from tfsetup.recipes import load_recipes

from tests.conftest import host_fixture
from tests.e2e.helpers import run_tfsetup
from tests.unit.test_macho_reader import macho, tf_env, write

# tensorflow/__init__.py of the tensorflow 2.21.0 wheel, lines 373-378 and 422-446 (2.15.1: 383-387, 438-460)
TF_INIT = '''import os as _os
import site as _site
from tensorflow.python.framework import load_library as _ll

# Hook external TensorFlow modules.

# Load tensorflow-io-gcs-filesystem if enabled
if (_os.getenv("TF_USE_MODULAR_FILESYSTEM", "0") == "true" or
    _os.getenv("TF_USE_MODULAR_FILESYSTEM", "0") == "1"):
  import tensorflow_io_gcs_filesystem as _tensorflow_io_gcs_filesystem

def _running_from_pip_package():
  return True

if _running_from_pip_package():
  for _s in []:
    _plugin_dir = _os.path.join(_s, "tensorflow-plugins")
    if _os.path.exists(_plugin_dir):
      _ll.load_library(_plugin_dir)
      _ll.load_pluggable_device_library(_plugin_dir)

if _os.getenv("TF_PLUGGABLE_DEVICE_LIBRARY_PATH", ""):
  _ll.load_pluggable_device_library(_os.getenv("TF_PLUGGABLE_DEVICE_LIBRARY_PATH"))
'''
GCS = "tensorflow_io_gcs_filesystem/core/python/ops/libtensorflow_io_gcs_filesystem.so"
SERVER = "tensorboard_data_server/bin/server"
NUMPY = "numpy/_core/_multiarray_umath.cpython-311-darwin.so"
GCS_NOTE = f"{GCS} is loaded only with TF_USE_MODULAR_FILESYSTEM=1, needs macOS 14.0"


def test_tensorflows_own_init_says_what_it_imports_only_on_demand():
    assert conditional_imports(TF_INIT) == {"tensorflow_io_gcs_filesystem": "TF_USE_MODULAR_FILESYSTEM=1"}
    also_always = TF_INIT + "import tensorflow_io_gcs_filesystem\n"
    assert conditional_imports(also_always) == {}  # imported unconditionally too: loaded at start-up
    other_test = "import sys\nif sys.platform == 'darwin':\n  import foo\n"
    assert conditional_imports(other_test) == {}  # not an environment variable: may well be loaded
    environ = "import os\nif os.environ.get('USE_BAR') == 'yes':\n  from bar import baz\n"
    assert conditional_imports(environ) == {"bar": "USE_BAR=yes"}


def test_what_is_on_demand_comes_from_the_env_and_the_file(tmp_path):
    assert startup_rules(tmp_path).on_demand(GCS) is None  # no TensorFlow: every binary is judged
    rules = startup_rules(_tf_site(tmp_path / "site"))
    assert rules.on_demand(GCS) == "loaded only with TF_USE_MODULAR_FILESYSTEM=1"
    assert rules.on_demand(NUMPY) is None and rules.on_demand("tensorflow-plugins/libmetal_plugin.dylib") is None
    assert rules.on_demand("tensorflow/python/x.so", MH_EXECUTE) == PROGRAM


def _tf_site(root: Path) -> Path:
    """A TensorFlow-shaped site-packages: TF's images and the Metal plug-in (macOS 12.1), TF's own
    __init__.py, numpy (12.0), tensorflow-io-gcs-filesystem 0.37's library (14.0, as in the real wheel)
    and tensorboard-data-server's program (12.0)."""
    tf_env(root)
    write(root / "tensorflow/__init__.py", TF_INIT.encode())
    write(root / NUMPY, macho(minos="12.0", dylibs=[("load", "/usr/lib/libSystem.B.dylib")]))
    write(root / GCS, macho(install_name="@rpath/libtensorflow_io_gcs_filesystem.so", minos="14.0",
                            dylibs=[("load", "/usr/lib/libc++.1.dylib")]))
    write(root / SERVER, macho(minos="12.0", filetype=MH_EXECUTE, dylibs=[("load", "/usr/lib/libSystem.B.dylib")]))
    return root


def test_files_tf_loads_only_on_demand_are_notes_not_failures(tmp_path):
    site = _tf_site(tmp_path / "site")
    report = check_loads(site, "arm64", "12.1")
    assert report.ok, [p.to_json() for p in report.problems]
    assert [(p.kind, p.file, p.needs, p.when) for p in report.on_demand] == [
        ("macos-too-old", GCS, "14.0", "loaded only with TF_USE_MODULAR_FILESYSTEM=1")]
    result = prove_dir(site, "macos-arm64", "3.11", "12.1", "--macos", "pins", None, 0.0)
    assert result.loads and GCS_NOTE in result.notes
    assert result.highest == ("12.1", "tensorflow-plugins/libmetal_plugin.dylib")  # the minos of what loads
    assert {(f, m) for f, m, _w in result.on_demand} == {(GCS, "14.0"), (SERVER, "12.0")}
    old = check_loads(site, "arm64", "12.0")  # what loads is still judged: the plug-in needs 12.1
    assert [(p.kind, p.file) for p in old.problems] == [("macos-too-old", "tensorflow-plugins/libmetal_plugin.dylib")]
    assert (SERVER, "a program (run as a process, never loaded by `import tensorflow`)") in \
        [(p.file, p.when) for p in check_loads(site, "arm64", "11.0").on_demand]


def test_without_tensorflows_rule_the_same_file_is_judged(tmp_path):
    site = _tf_site(tmp_path / "site")
    (site / "tensorflow/__init__.py").write_text("import tensorflow_io_gcs_filesystem\n")  # a TF importing it always
    report = check_loads(site, "arm64", "12.1")
    assert [(p.kind, p.file) for p in report.problems] == [("macos-too-old", GCS)] and report.on_demand == []


def test_a_binary_tf_imports_is_judged_whatever_its_package(tmp_path):
    site = _tf_site(tmp_path / "site")
    write(site / NUMPY, macho(minos="13.0"))
    report = check_loads(site, "arm64", "12.1")
    assert [(p.kind, p.file) for p in report.problems] == [("macos-too-old", NUMPY)]


def test_doctor_reads_the_same_rule(tmp_path):
    site = _tf_site(tmp_path / "site")
    facts = EnvFacts(path="/envs/mac", python="/envs/mac/bin/python", version="3.11.7", machine="x86_64",
                     sys_platform="linux", loader=check_loads(site, "arm64", "13.6", full=False),
                     distributions={"tensorflow": Distribution("tensorflow", "2.19.1",
                                                               wheel_tags=("cp311-cp311-macosx_12_0_arm64",))})
    found = [f for f in diagnose(facts, host_fixture("m1-native-homebrew"), load_recipes(None)) if f.id == "macos-too-old"]
    assert [f.severity for f in found] == ["warning"]
    assert "TF_USE_MODULAR_FILESYSTEM=1" in found[0].message and "14.0" in found[0].fix


def test_the_cli_prints_the_note_and_exits_0(tmp_path):
    env = tmp_path / "env"
    _tf_site(env / "lib" / "python3.11" / "site-packages")
    (env / "lib" / "python3.11" / "site-packages" / "tensorflow-2.19.1.dist-info").mkdir()
    proc = run_tfsetup("prove", "--env", str(env), "--macos", "13.6", "--platform", "macos-arm64", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("loads: tensorflow 2.19.1 on macos-arm64") and f"note: {GCS_NOTE}" in proc.stdout
    doc = json.loads(run_tfsetup("prove", "--env", str(env), "--macos", "13.6", "--platform", "macos-arm64", "--json",
                                 timeout=120).stdout)
    assert doc["loads"] is True and doc["problems"] == []
    assert doc["on_demand_problems"][0]["when"] == "loaded only with TF_USE_MODULAR_FILESYSTEM=1"
