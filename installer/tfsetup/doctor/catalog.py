"""The catalog of finding kinds: what each finding id means, how `doctor --fix` repairs it, and the
public reports that document it. One table for doctor's rules, its repair planner and explain.

Repair kinds: STACK reinstalls the matching recipe's hash-pinned lock into the env (the user's other
packages stay); VERIFY runs the verification suite in the env and records the result (nothing in it
changes); REBUILD makes a fresh env with a native interpreter (a wrong-arch Python cannot be
fixed in place); MANUAL is what tfsetup cannot change (the CPU, the macOS version): the fix is shown.
Sources of the explain rules were collected with their error texts (tests/fixtures/errors/SOURCES.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

STACK = "stack"
REBUILD = "rebuild"
MANUAL = "manual"
VERIFY = "verify"


@dataclass(frozen=True)
class FindingKind:
    id: str  # what each id means: the comment above its entry
    repair: str  # STACK | VERIFY | REBUILD | MANUAL
    sources: Tuple[str, ...] = ()
    fix: str = ""  # what `doctor --fix` does about it, where the rule's own fix text does not say it all


KINDS: Tuple[FindingKind, ...] = (
    # the env's Python runs translated by Rosetta 2
    FindingKind("rosetta-python", REBUILD),
    # x86_64 wheels installed on an Apple Silicon Mac
    FindingKind("x86-wheel-on-arm64", REBUILD),
    # an x86_64 conda env on an Apple Silicon Mac
    FindingKind("conda-x86-on-arm64", REBUILD),
    # two TensorFlow distributions installed at once
    FindingKind("conflicting-tf-distributions", STACK),
    # the Metal plug-in does not load with this TensorFlow
    FindingKind("metal-plugin-abi-mismatch", STACK, (
        "https://github.com/ShapeLayer/blog.jonghyeon.me/blob/648c1a19a2fb7fd2c78e4350b37e1ecbfc7ca940"
        "/_posts/2025-09-11-tensorflow-metal-compatibilities.md",
        "https://github.com/tensorflow/text/issues/654",
        "https://github.com/tensorflow/models/issues/10617",
    )),
    # a Metal-capable Mac without the Metal plug-in
    FindingKind("metal-plugin-missing", STACK),
    # NumPy's major version differs from the one TensorFlow was built against
    FindingKind("numpy-abi-mismatch", STACK, (
        "https://github.com/tensorflow/tensorflow/issues/90245",
        "https://github.com/nv-tlabs/vipe/issues/42",
        "https://github.com/CameronBodine/PINGMapper/issues/123",
    )),
    # the Keras version does not match TensorFlow
    FindingKind("keras-mismatch", STACK, (
        "https://github.com/keras-team/tf-keras/issues/257",
        "https://github.com/katanemo/plano/issues/231",
        "https://github.com/tensorflow/tensorflow/issues/62825",
        "https://github.com/keras-team/keras/issues/19390",
        "https://github.com/serengil/deepface/issues/1121",
        "https://github.com/linkedin/Liger-Kernel/pull/161",
    )),
    # an installed package's requirement is not met
    FindingKind("requirement-conflict", STACK),
    # protobuf does not match TensorFlow's generated code
    FindingKind("protobuf-mismatch", STACK, (
        "https://github.com/tensorflow/tensorflow/issues/56266",
        "https://github.com/GantMan/nsfw_model/issues/154",
        "https://github.com/tensorflow/models/issues/11192",
        "https://github.com/onnx/tensorflow-onnx/pull/2476",
    )),
    # two C++ libprotobuf copies in one process (TensorFlow's and another native package's)
    FindingKind("libprotobuf-version-clash", MANUAL, (
        "https://github.com/protocolbuffers/protobuf/issues/9086",
        "https://github.com/tensorflow/tensorflow/issues/19370",
        "https://github.com/jiangxiluning/FOTS.PyTorch/issues/90",
        "https://github.com/materialyzeai/megnet/issues/11",
        "https://github.com/onnx/onnx-caffe2/issues/106",
        "https://github.com/pytorch/pytorch/pull/6833",
    )),
    # TensorFlow cannot load the CUDA libraries
    FindingKind("cuda-libs-missing", STACK, (
        "https://github.com/NVIDIA/tensorflow/issues/110",
        "https://github.com/JdeRobot/BehaviorMetrics/issues/385",
        "https://github.com/rwth-i6/returnn/issues/1806",
    )),
    # no TensorFlow in the env
    FindingKind("tensorflow-missing", STACK),
    # installed files of a locked distribution are missing or not the size its RECORD gives
    FindingKind("files-missing", STACK, (
                    "https://packaging.python.org/en/latest/specifications/recording-installed-packages/",),
                fix="reinstalls the damaged distributions with the rest of the lock (uninstall, then install "
                "from the hash-pinned lock, from the cache where it has them), then verifies"),
    # a native file of a locked distribution is built for another arch or platform
    FindingKind("wrong-arch-file", STACK, (
                    "https://docs.astral.sh/uv/reference/cli/#uv-pip-install--python-platform",
                    "https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html",),
                fix="reinstalls those distributions from the lock for the env's own platform, then verifies"),
    # `import tensorflow` fails
    FindingKind("tensorflow-import-failed", STACK),
    # ml-dtypes is newer than this TensorFlow knows
    FindingKind("ml-dtypes-mismatch", STACK, (
        "https://github.com/jax-ml/ml_dtypes/issues/101",
    )),
    # the interpreter the venv was made from is gone (upgraded or removed)
    FindingKind("base-python-missing", REBUILD, (
        "https://github.com/AcademySoftwareFoundation/rez/issues/1818",
        "https://github.com/python-poetry/install.python-poetry.org/issues/34",
        "https://github.com/pypa/pipenv/issues/3828",
        "https://github.com/ggaughan/pipe2py/issues/38",
        "https://github.com/pypa/pipenv/issues/3695",
    )),
    # a free-threaded Python (3.13t/3.14t): no TensorFlow wheel exists
    FindingKind("free-threaded-python", REBUILD, (
        "https://pypi.org/simple/tensorflow/",
    )),
    # `import tensorflow` did not finish in time
    FindingKind("tensorflow-import-timeout", MANUAL),
    # a tfsetup env that was never verified (--no-verify), whose last verification timed out, or that failed it
    FindingKind("not-verified", VERIFY,
                fix="runs the verification suite and records the result; after a failed verification it "
                "imports TensorFlow to name the cause, reinstalls the locked stack and verifies again"),
    # no tensorflow-metal wheel for this Python
    FindingKind("metal-unsupported-python", MANUAL),
    # the macOS version is older than the wheels need
    FindingKind("macos-too-old", MANUAL),
    # the CPU lacks AVX, which TensorFlow's x86_64 wheels need
    FindingKind("no-avx", MANUAL),
    # a native library executed an instruction this CPU (or Rosetta) lacks
    FindingKind("illegal-instruction", MANUAL, (
        "https://github.com/tensorflow/tensorflow/issues/62342",
        "https://github.com/apple/tensorflow_macos/issues/72",
        "https://github.com/AlexanderVNikitin/tsgm/issues/38",
        "https://github.com/vanvalenlab/deepcell-tf/issues/715",
    )),
    # TensorFlow found no GPU platform (Metal plug-in not loaded)
    FindingKind("no-registered-platform", MANUAL, (
        "https://github.com/tensorflow/tensorflow/issues/58988",
        "https://github.com/tlkh/tf-metal-experiments/issues/19",
    )),
    # a wheel built for another platform or Python
    FindingKind("unsupported-wheel", MANUAL, (
        "https://github.com/apple/tensorflow_macos/issues/46",
        "https://github.com/tensorflow/tensorflow/issues/50108",
        "https://github.com/mwidjaja1/DSOnMacARM/issues/3",
    )),
    # no TensorFlow wheel for this Python or platform
    FindingKind("no-matching-distribution", MANUAL, (
        "https://github.com/tensorflow/tensorflow/issues/79349",
        "https://github.com/tensorflow/tensorflow/issues/115652",
        "https://github.com/tensorflow/tensorflow/issues/48636",
    )),
    # a compiled module's architecture differs from the Python's
    FindingKind("rosetta-arch-mismatch", MANUAL, (
        "https://github.com/apple/tensorflow_macos/issues/146",
        "https://github.com/mattdesl/canvas-sketch/issues/151",
        "https://github.com/tensorflow/tensorflow/issues/57483",
    )),
)
CATALOG: Dict[str, FindingKind] = {k.id: k for k in KINDS}


def _ids(repair: str) -> FrozenSet[str]:
    return frozenset(k.id for k in KINDS if k.repair == repair)


STACK_IDS = _ids(STACK)
VERIFY_IDS = _ids(VERIFY)
REBUILD_IDS = _ids(REBUILD)


def sources_of(finding_id: str) -> Tuple[str, ...]:
    kind = CATALOG.get(finding_id)
    return kind.sources if kind else ()
