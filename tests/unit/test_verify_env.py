"""The verification probe's Keras check (probes/verify_env.py), run by a real child Python against
packages laid out the way TensorFlow and each Keras lay theirs out: since TF 2.16 `tf.keras` is a lazy
loader with no `__version__` (issue 18: every `install --keras 2` failed with "tf.keras is Keras ?").
The real stacks are installed and verified in tests/e2e/test_keras_modes.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

from tfsetup.verify import PROBE

# TensorFlow >= 2.16's tensorflow/__init__.py in miniature: `keras` is a module object that imports,
# on first attribute access, Keras 3's tf.keras API or, with TF_USE_LEGACY_KERAS=1, tf_keras's; the API
# modules it forwards to declare no __version__ (tensorflow/python/util/lazy_loader.py, KerasLazyLoader).
TF_216 = '''\
import importlib, os, types
__version__ = "2.21.0"


class _KerasLazyLoader(types.ModuleType):
    def __getattr__(self, item):
        legacy = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
        target = importlib.import_module("tf_keras.api._v2.keras" if legacy else "keras._tf_keras.keras")
        return getattr(target, item)


keras = _KerasLazyLoader("keras")
'''
# TensorFlow 2.15: tf.keras is keras 2.15's own API module (keras.api._v2.keras), again with no __version__.
TF_215 = '''\
__version__ = "2.15.1"
from keras.api._v2 import keras
'''

STACKS: Dict[str, Dict[str, str]] = {
    "tf_keras 2.21": {  # tf_keras/__init__.py declares __version__; Model lives in tf_keras.src.engine.training
        "tf_keras/__init__.py": '__version__ = "2.21.0"\n',
        "tf_keras/src/__init__.py": "",
        "tf_keras/src/engine/__init__.py": "",
        "tf_keras/src/engine/training.py": "class Model:\n    pass\n",
        "tf_keras/api/__init__.py": "",
        "tf_keras/api/_v2/__init__.py": "",
        "tf_keras/api/_v2/keras/__init__.py": "from tf_keras.src.engine.training import Model\n",
    },
    "keras 3.12": {  # keras/__init__.py takes __version__ from keras.src.version; Model in keras.src.models.model
        "keras/__init__.py": "from keras.src.version import __version__\n",
        "keras/src/__init__.py": "from keras.src.version import __version__\n",
        "keras/src/version.py": '__version__ = "3.12.0"\n',
        "keras/src/models/__init__.py": "",
        "keras/src/models/model.py": "class Model:\n    pass\n",
        "keras/_tf_keras/__init__.py": "",
        "keras/_tf_keras/keras/__init__.py": "from keras.src.models.model import Model\n",
    },
    "keras 2.15": {  # keras 2.15: __version__ in keras/__init__.py; Model in keras.src.engine.training
        "keras/__init__.py": '__version__ = "2.15.0"\n',
        "keras/src/__init__.py": '__version__ = "2.15.0"\n',
        "keras/src/engine/__init__.py": "",
        "keras/src/engine/training.py": "class Model:\n    pass\n",
        "keras/api/__init__.py": "",
        "keras/api/_v2/__init__.py": "",
        "keras/api/_v2/keras/__init__.py": "from keras.src.engine.training import Model\n",
    },
}


def site(root: Path, tf: str, *stacks: str) -> Path:
    files = {"tensorflow/__init__.py": tf}
    for name in stacks:
        files.update(STACKS[name])
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def tf_version_check(path: Path, keras: Optional[int], legacy: bool = False) -> dict:
    """The probe's tf-version result, run by a child Python that finds `path` first on sys.path."""
    config = {"only": ["tf-import", "tf-version"], "keras": keras, "distribution": "tensorflow", "expect": {}}
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(path)
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    out = subprocess.run([sys.executable, PROBE, json.dumps(config)], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    results = {e["id"]: e for e in map(json.loads, out.stdout.splitlines()) if e["event"] == "result"}
    assert results["tf-import"]["status"] == "pass", results
    return results["tf-version"]


def test_keras_2_stack_on_tf_216_passes_by_asking_tf_keras(tmp_path):
    both = site(tmp_path, TF_216, "tf_keras 2.21", "keras 3.12")
    check = tf_version_check(both, keras=2, legacy=True)
    assert check["status"] == "pass", check
    assert check["data"]["tf.keras"] == {"package": "tf_keras", "version": "2.21.0"}
    assert "tf.keras is tf_keras 2.21.0" in check["message"]


def test_keras_2_promised_but_tf_keras_resolves_to_keras_3_fails_naming_it(tmp_path):
    both = site(tmp_path, TF_216, "tf_keras 2.21", "keras 3.12")  # TF_USE_LEGACY_KERAS not set
    check = tf_version_check(both, keras=2)
    assert check["status"] == "fail"
    assert check["message"] == "tf.keras is keras 3.12.0, the recipe promises Keras 2"


@pytest.mark.parametrize("tf, stack, keras, package, version", [
    pytest.param(TF_216, "keras 3.12", 3, "keras", "3.12.0", id="keras-3"),
    pytest.param(TF_215, "keras 2.15", 2, "keras", "2.15.0", id="keras-2.15"),  # the keras 2.x package of TF <= 2.15
])
def test_the_keras_of_other_stacks_is_read_from_keras_itself(tmp_path, tf, stack, keras, package, version):
    check = tf_version_check(site(tmp_path, tf, stack), keras=keras)
    assert check["status"] == "pass", check
    assert check["data"]["tf.keras"] == {"package": package, "version": version}


def test_without_a_promised_keras_nothing_is_imported_for_it(tmp_path):
    check = tf_version_check(site(tmp_path, TF_216), keras=None)  # no Keras installed at all
    assert check["status"] == "pass" and "tf.keras" not in check["data"]
