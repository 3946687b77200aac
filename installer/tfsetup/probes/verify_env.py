"""Run BY the env's own python: the verification suite. Stdlib + TensorFlow only.

Writes one JSON line per event: {"event": "start", "id": ...} before a check and
{"event": "result", "id", "status", "message", "seconds", "data"} after it, flushed, so that
when TensorFlow crashes the process (SIGILL, SIGSEGV, abort) the parent knows which check died.
argv[1] is a JSON object: {"expect": {dist: version}, "accelerator", "machine", "benchmark", "distribution",
"events": PATH}. The events go to PATH, a file this probe creates (O_EXCL) in a private directory of the
parent's, not to stdout: whatever else runs in this process (a .pth file, TensorFlow) prints to stdout,
and printing a fake "done" there must not pass a verification. Without "events": stdout (by hand).
"""
import json
import os
import platform
import sys
import time
import traceback

try:
    from importlib import metadata
except ImportError:  # Python < 3.8
    metadata = None

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ chatter out of the way

ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}


_CHANNEL = []  # the events file, opened by main()


def emit(doc):
    line = json.dumps(doc) + "\n"
    if _CHANNEL:
        os.write(_CHANNEL[0], line.encode("utf-8"))  # unbuffered: a crash loses nothing written
    else:
        sys.stdout.write(line)
        sys.stdout.flush()


class Skip(Exception):
    pass


class Warn(Exception):
    pass


def run_check(check_id, fn, state):
    emit({"event": "start", "id": check_id})
    started = time.perf_counter()
    data = {}
    try:
        message = fn(state, data)
        status = "pass"
    except Skip as exc:
        status, message = "skip", str(exc)
    except Warn as exc:
        status, message = "warn", str(exc)
    except BaseException as exc:  # a check that raises has failed, with the reason
        if isinstance(exc, KeyboardInterrupt):
            raise
        lines = str(exc).strip().splitlines()
        status = "fail"
        if isinstance(exc, AssertionError) and lines:  # the check's own words; other errors keep their type
            message = lines[-1]
        else:
            message = "%s: %s" % (type(exc).__name__, lines[-1]) if lines else type(exc).__name__
        data["error"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
    emit({"event": "result", "id": check_id, "status": status, "message": str(message),
          "seconds": round(time.perf_counter() - started, 3), "data": data})
    return status


def check_arch(state, data):
    actual = ARCH.get(platform.machine().lower(), platform.machine())
    want = state["config"]["machine"]
    want = "arm64" if want == "aarch64" and sys.platform == "darwin" else want
    data["machine"] = actual
    if actual != want:
        hint = " (translated by Rosetta: start it with `arch -arm64`)" if sys.platform == "darwin" else ""
        raise AssertionError("interpreter runs as %s, the hardware is %s%s" % (actual, want, hint))
    return "runs as %s" % actual


def check_import(state, data):
    started = time.perf_counter()
    import tensorflow as tf  # noqa: F401  # lazy: this check times the import itself

    state["tf"] = tf
    data["import_seconds"] = round(time.perf_counter() - started, 3)
    return "import tensorflow took %.1fs" % data["import_seconds"]


def need_tf(state):
    if "tf" not in state:
        raise Skip("tensorflow did not import")
    return state["tf"]


def _dist_version(name):
    if metadata is None:  # Python < 3.8
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


def check_tf_version(state, data):
    tf = need_tf(state)
    dist = state["config"].get("distribution", "tensorflow")
    want = state["config"]["expect"].get(dist)
    installed = _dist_version(dist)
    data.update({"tf.__version__": tf.__version__, "distribution": dist, "installed": installed})
    if want and installed != want:
        raise AssertionError("%s %s installed, the lock says %s" % (dist, installed, want))
    if want and not want.startswith(tf.__version__.split("-")[0].split("rc")[0]):
        raise AssertionError("tf.__version__ is %s, the lock says %s" % (tf.__version__, want))
    keras = state["config"].get("keras")
    if keras:  # e.g. a Keras 2 stack on TF >= 2.16 needs tf-keras and TF_USE_LEGACY_KERAS=1 in every process
        package, version = keras_behind(tf)
        data["tf.keras"] = {"package": package, "version": version}
        if not (version or "").startswith("%d." % keras):
            raise AssertionError("tf.keras is %s %s, the recipe promises Keras %d" % (package, version or "?", keras))
        return "%s %s, tf.keras is %s %s" % (dist, tf.__version__, package, version)
    return "%s %s" % (dist, tf.__version__)


# Where a package that can back tf.keras gets its version when no module on the way declares one.
KERAS_DISTRIBUTIONS = {"tf_keras": ("tf-keras",), "keras": ("keras", "keras-nightly")}


def keras_behind(tf):
    """(package, version) of the Keras that `tf.keras` resolves to, asked of Keras itself.

    `tf.keras` is a lazy loader in TF >= 2.16 (Keras 3, or tf_keras with TF_USE_LEGACY_KERAS=1) and
    has no `__version__`; before 2.16 it is the `keras` 2.x package's API. Either way `tf.keras.Model`
    is the real class of the Keras behind it: its module names that package (tf_keras.src.engine...,
    keras.src.models..., keras.engine...), and the nearest module up that path that declares
    `__version__` is the Keras version (tf_keras, keras 2.x and keras 3 all declare one)."""
    module_name = tf.keras.Model.__module__
    package = module_name.split(".")[0]
    parts = module_name.split(".")
    for end in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:end]))
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str) and version:
            return package, version
    for dist in KERAS_DISTRIBUTIONS.get(package, (package,)):
        version = _dist_version(dist)
        if version:
            return package, version
    return package, None


def check_numpy_version(state, data):
    import numpy  # lazy: only once TF imported (numpy comes with it)

    want = state["config"]["expect"].get("numpy")
    data["numpy"] = numpy.__version__
    if want and numpy.__version__ != want:
        raise AssertionError("numpy %s, the lock says %s" % (numpy.__version__, want))
    return "numpy %s" % numpy.__version__


def check_build_info(state, data):
    tf = need_tf(state)
    info = dict(tf.sysconfig.get_build_info())
    data.update({k: str(v) for k, v in info.items()})
    if info.get("is_cuda_build"):
        return "CUDA build (CUDA %s, cuDNN %s)" % (info.get("cuda_version"), info.get("cudnn_version"))
    return "CPU build" + (" (%s)" % info.get("cpu_compiler", "") if info.get("cpu_compiler") else "")


def check_cpu_ops(state, data):
    tf = need_tf(state)
    with tf.device("/CPU:0"):
        a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        product = tf.linalg.matmul(a, a).numpy().tolist()
        total = int(tf.reduce_sum(tf.range(10)).numpy())
    if product != [[7.0, 10.0], [15.0, 22.0]] or total != 45:
        raise AssertionError("wrong results: matmul %r, sum %r" % (product, total))
    return "matmul and reduce_sum exact"


def _gpus(state):
    tf = need_tf(state)
    return tf.config.list_physical_devices("GPU")


def gpu_required(state):
    return state["config"]["accelerator"] in ("metal", "cuda")


def check_gpu_devices(state, data):
    gpus = _gpus(state)
    data["gpus"] = [g.name for g in gpus]
    if not gpu_required(state):
        raise Skip("CPU recipe (%d GPU device(s) visible)" % len(gpus))
    if not gpus:
        raise AssertionError("no GPU device visible to TensorFlow (the %s plug-in or libraries did not load)"
                             % state["config"]["accelerator"])
    return ", ".join(g.name for g in gpus)


def _matrices(tf, n):
    tf.random.set_seed(0)
    return tf.random.uniform((n, n), seed=1), tf.random.uniform((n, n), seed=2)


def check_gpu_op(state, data):
    if not gpu_required(state):
        raise Skip("CPU recipe")
    tf = need_tf(state)
    if not _gpus(state):
        raise AssertionError("no GPU device")
    with tf.device("/GPU:0"):
        a, b = _matrices(tf, 256)
        c = tf.linalg.matmul(a, b)
    data["device"] = c.device
    if "GPU" not in c.device.upper():
        raise AssertionError("matmul ran on %s, not the GPU" % c.device)
    return "matmul on %s" % c.device


def check_agreement(state, data):
    if not gpu_required(state):
        raise Skip("CPU recipe")
    tf = need_tf(state)
    if not _gpus(state):
        raise AssertionError("no GPU device")
    import numpy  # lazy: only once TF imported (numpy comes with it)

    a, b = _matrices(tf, 256)
    with tf.device("/CPU:0"):
        cpu = tf.linalg.matmul(a, b).numpy()
    with tf.device("/GPU:0"):
        gpu = tf.linalg.matmul(a, b).numpy()
    err = float(numpy.max(numpy.abs(cpu - gpu) / (numpy.abs(cpu) + 1e-6)))
    data["max_relative_error"] = err
    if not numpy.allclose(cpu, gpu, rtol=1e-3, atol=1e-3):
        raise AssertionError("CPU and GPU disagree (max relative error %.2e)" % err)
    return "max relative error %.1e" % err


def check_train_step(state, data):
    tf = need_tf(state)
    import numpy  # lazy: only once TF imported (numpy comes with it)

    rng = numpy.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    tf.random.set_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(8,)), tf.keras.layers.Dense(16, activation="relu"),
                                 tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    losses = [float(v) for v in history.history["loss"]]
    data["losses"] = losses
    if not losses[-1] < losses[0] * 0.9:
        raise AssertionError("loss did not fall: %s" % ", ".join("%.3f" % v for v in losses))
    return "loss %.3f -> %.3f in 5 epochs" % (losses[0], losses[-1])


def check_speedup(state, data):
    tf = need_tf(state)
    if not _gpus(state):
        raise Skip("no GPU")

    def rate(device):
        with tf.device(device):
            a, b = _matrices(tf, 2048)
            tf.linalg.matmul(a, b).numpy()  # warm up
            started = time.perf_counter()
            for _ in range(10):
                c = tf.linalg.matmul(a, b)
            c.numpy()
            return 10 / (time.perf_counter() - started)

    cpu, gpu = rate("/CPU:0"), rate("/GPU:0")
    data.update({"cpu_matmuls_per_s": cpu, "gpu_matmuls_per_s": gpu})
    if gpu < cpu:
        raise Warn("GPU slower than CPU (%.1fx)" % (gpu / cpu))
    return "GPU %.1fx faster than CPU (2048x2048 matmul)" % (gpu / cpu)


CHECKS = [
    ("python-arch", check_arch),
    ("tf-import", check_import),
    ("tf-version", check_tf_version),
    ("numpy-version", check_numpy_version),
    ("build-info", check_build_info),
    ("cpu-ops", check_cpu_ops),
    ("gpu-devices", check_gpu_devices),
    ("gpu-op", check_gpu_op),
    ("cpu-gpu-agreement", check_agreement),
    ("train-step", check_train_step),
]


def main():
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    if config.get("events"):  # created here, never opened if it exists: nobody else wrote it first
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        _CHANNEL.append(os.open(config["events"], flags, 0o600))
    config.setdefault("expect", {})
    config.setdefault("accelerator", "cpu")
    config.setdefault("machine", ARCH.get(platform.machine().lower(), platform.machine()))
    state = {"config": config}
    checks = list(CHECKS) + ([("speedup", check_speedup)] if config.get("benchmark") else [])
    only = config.get("only")
    for check_id, fn in checks:
        if only and check_id not in only:
            continue
        run_check(check_id, fn, state)
    emit({"event": "done"})
    # Every result is out: skip the interpreter's teardown, which with TensorFlow and Keras loaded
    # takes ~1.3 s on a 2-core Linux box (scripts/bench.py) and reports nothing.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
