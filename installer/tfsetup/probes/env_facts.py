"""Run BY an environment's own python (with -I -B): print the facts `tfsetup doctor` needs as one JSON.

Stdlib only and fast: it never imports TensorFlow (a broken TensorFlow must not break the probe).
It reports the interpreter (version, implementation, arch, prefixes, conda or venv), the marker
environment PEP 508 markers are evaluated in (the keys of packaging.markers.default_environment()),
and every installed distribution with its Requires-Dist lines; for the TensorFlow-related ones also
the `Tag:` lines of their WHEEL file (which platform the installed binaries were built for).
"""
import json
import os
import platform
import sys
import sysconfig

try:
    from importlib import metadata
except ImportError:  # Python < 3.8
    metadata = None

TF_RELATED_PREFIXES = ("tensorflow", "tf-nightly", "tf-keras", "keras", "numpy", "protobuf", "ml-dtypes",
                       "jax", "jaxlib", "h5py", "nvidia-")
PROBE_ID = "env_facts"  # the answer's "probe" field: it is this probe's answer, not other output
# The answer's schema, written once: field -> its value when absent (its type is the default's). main()
# answers exactly these fields (+ "probe", and "error" when the distributions cannot be listed);
# tfsetup reads the answer through the same tables (env/facts.py, tfsetup.probes.read_answer).
FIELDS = {
    "version": "", "implementation": "cpython", "machine": "", "sys_platform": "", "executable": "",
    "base_executable": "", "prefix": "", "base_prefix": "", "conda": False, "free_threaded": False,
    "mac_ver": "", "markers": {}, "distributions": [],
}
# One item of "distributions" ("wheel_tags" only for the TensorFlow-related ones).
DISTRIBUTION_FIELDS = {
    "name": "", "version": "", "requires": [], "installer": "", "requested": False, "dist_info": "",
    "wheel_tags": [],
}


def normalize(name):
    out = []
    last_sep = False
    for ch in name.lower():
        if ch in "-_.":
            if not last_sep:
                out.append("-")
            last_sep = True
        else:
            out.append(ch)
            last_sep = False
    return "".join(out)


def full_version(info):
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def marker_environment():
    """The same keys and values as packaging.markers.default_environment()."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def wheel_tags(dist):
    try:
        text = dist.read_text("WHEEL") or ""
    except Exception:  # a damaged dist-info must not break the probe
        return []
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def read_small(dist, name):
    try:
        text = dist.read_text(name)
    except Exception:
        return None
    return None if text is None else text.strip()


def distributions(path=None):
    """`path`: read these site directories instead of sys.path (tfsetup reads an env whose own python
    cannot start: its base interpreter is gone)."""
    if metadata is None:  # Python < 3.8
        return [], "importlib.metadata is not available (Python %s)" % platform.python_version()
    found = {}
    listed = metadata.distributions(path=path) if path is not None else metadata.distributions()
    for dist in listed:  # sys.path order: the first one is the one imported
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:
            continue
        if not name or version is None:
            continue
        key = normalize(name)
        if key in found:
            continue
        info = {
            "name": name,
            "version": version,
            "requires": list(dist.requires or []),
            "installer": read_small(dist, "INSTALLER") or "",
            "requested": read_small(dist, "REQUESTED") is not None,
            # where its RECORD is: doctor checks the installed files against it (from outside)
            "dist_info": str(getattr(dist, "_path", "") or ""),
        }
        if key.startswith(TF_RELATED_PREFIXES):
            info["wheel_tags"] = wheel_tags(dist)
        found[key] = info
    return [found[k] for k in sorted(found)], None


def main():
    dists, error = distributions()
    prefix = sys.prefix
    facts = {
        "probe": PROBE_ID,
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": platform.machine(),
        "sys_platform": sys.platform,
        "executable": sys.executable,
        "base_executable": getattr(sys, "_base_executable", None),
        "prefix": prefix,
        "base_prefix": getattr(sys, "base_prefix", prefix),
        "conda": os.path.isdir(os.path.join(prefix, "conda-meta")),
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "mac_ver": platform.mac_ver()[0],
        "markers": marker_environment(),
        "distributions": dists,
    }
    if error:
        facts["error"] = error
    sys.stdout.write(json.dumps(facts))


if __name__ == "__main__":
    main()
