"""Run BY the candidate interpreter: print facts about itself as one JSON object.

Stdlib only, and old-Python tolerant, because it runs inside interpreters tfsetup does not control.
"""
import json
import platform
import struct
import sys
import sysconfig

# The answer's schema, written once: field -> its value when absent (its type is the default's). main()
# answers exactly these fields; tfsetup reads the answer through the same table (host/interpreters.py).
FIELDS = {
    "version": "", "implementation": "cpython", "machine": "", "platform": "", "pointer_bits": 0,
    "free_threaded": False, "executable": "", "prefix": "", "base_prefix": "", "mac_ver": "",
}


def main():
    gil_disabled = sysconfig.get_config_var("Py_GIL_DISABLED")
    info = {
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": platform.machine(),
        "platform": sysconfig.get_platform(),
        "pointer_bits": struct.calcsize("P") * 8,
        "free_threaded": bool(gil_disabled),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "mac_ver": platform.mac_ver()[0],
    }
    sys.stdout.write(json.dumps(info))


if __name__ == "__main__":
    main()
