"""Host facts: the stable JSON document of `tfsetup detect --json`: it only gains
keys, never renames one (scripts and `--host-file` read it).

Pure data: dataclasses, JSON round-trip and validation. Nothing here touches the machine.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from tfsetup.errors import BadInput
from tfsetup.inputs import loads_json, read_bytes, read_stream
from tfsetup.platforms import MACHINES, OS_NAMES, platform_id

SCHEMA_VERSION = 1
# The x86 features that decide which TensorFlow builds can run (the full list is noise).
SIMD_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "amx_tile")
PYTHON_SOURCES = ("homebrew", "python.org", "xcode", "pyenv", "conda", "uv", "system", "other")


class FactsError(BadInput):
    """A host-facts document that does not follow the schema."""


@dataclass(frozen=True)
class Gpu:
    vendor: str  # "apple" | "nvidia" | "amd" | "intel" | "other"
    name: str
    cores: Optional[int] = None
    driver: Optional[str] = None
    memory_mib: Optional[int] = None
    compute_capability: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PythonInfo:
    executable: str
    version: str
    implementation: str = "cpython"
    archs: List[str] = field(default_factory=list)  # slices of the binary (lipo), or the one arch
    source: str = "other"
    free_threaded: bool = False

    @property
    def minor(self) -> str:
        """'3.11' for '3.11.7'."""
        return ".".join(self.version.split(".")[:2])

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HostFacts:
    os: str
    os_version: str
    machine: str  # the hardware: arm64 on Apple Silicon even under Rosetta
    cpu: str = ""
    rosetta: bool = False  # the probing process itself runs translated
    cpu_flags: List[str] = field(default_factory=list)
    gpus: List[Gpu] = field(default_factory=list)
    pythons: List[PythonInfo] = field(default_factory=list)
    # Extensions (added keys; none is ever renamed).
    glibc: Optional[str] = None
    memory_bytes: Optional[int] = None
    cpu_cores: Dict[str, int] = field(default_factory=dict)
    skipped_pythons: List[Dict[str, str]] = field(default_factory=list)

    @property
    def platform(self) -> str:
        """'macos-arm64', 'linux-x86_64', ...: the key recipes and locks are filed under."""
        return platform_id(self.os, self.machine)

    def has_gpu(self, vendor: str) -> bool:
        return any(g.vendor == vendor for g in self.gpus)

    def to_json(self) -> Dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "os": self.os,
            "os_version": self.os_version,
            "machine": self.machine,
            "cpu": self.cpu,
            "rosetta": self.rosetta,
            "cpu_flags": list(self.cpu_flags),
            "gpus": [g.to_json() for g in self.gpus],
            "pythons": [p.to_json() for p in self.pythons],
            "glibc": self.glibc,
            "memory_bytes": self.memory_bytes,
            "cpu_cores": dict(self.cpu_cores),
            "skipped_pythons": list(self.skipped_pythons),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def _expect(doc: Dict[str, Any], key: str, kind: Any, where: str, required: bool = True) -> Any:
    if key not in doc:
        if required:
            raise FactsError(f"{where}: missing key '{key}'")
        return None
    value = doc[key]
    if value is None and not required:
        return None
    if kind is int and isinstance(value, bool):
        raise FactsError(f"{where}: '{key}' must be an integer, got {value!r}")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise FactsError(f"{where}: '{key}' must be {name}, got {type(value).__name__}")
    return value


def _str_list(doc: Dict[str, Any], key: str, where: str, required: bool = True) -> List[str]:
    items = _expect(doc, key, list, where, required) or []
    if not all(isinstance(i, str) for i in items):
        raise FactsError(f"{where}: '{key}' must be a list of strings")
    return list(items)


def _gpu_from_json(doc: Any, where: str) -> Gpu:
    if not isinstance(doc, dict):
        raise FactsError(f"{where}: must be an object")
    return Gpu(
        vendor=_expect(doc, "vendor", str, where),
        name=_expect(doc, "name", str, where),
        cores=_expect(doc, "cores", int, where, required=False),
        driver=_expect(doc, "driver", str, where, required=False),
        memory_mib=_expect(doc, "memory_mib", int, where, required=False),
        compute_capability=_expect(doc, "compute_capability", str, where, required=False),
    )


def _python_from_json(doc: Any, where: str) -> PythonInfo:
    if not isinstance(doc, dict):
        raise FactsError(f"{where}: must be an object")
    version = _expect(doc, "version", str, where)
    if not all(part.isdigit() for part in version.split(".")[:2]) or version.count(".") < 1:
        raise FactsError(f"{where}: 'version' must look like 3.11.7, got {version!r}")
    source = _expect(doc, "source", str, where, required=False) or "other"
    if source not in PYTHON_SOURCES:
        raise FactsError(f"{where}: 'source' must be one of {', '.join(PYTHON_SOURCES)}, got {source!r}")
    return PythonInfo(
        executable=_expect(doc, "executable", str, where),
        version=version,
        implementation=_expect(doc, "implementation", str, where, required=False) or "cpython",
        archs=_str_list(doc, "archs", where),
        source=source,
        free_threaded=bool(_expect(doc, "free_threaded", bool, where, required=False)),
    )


def facts_from_json(doc: Any) -> HostFacts:
    """Validate a host-facts document and build HostFacts; raises FactsError naming the bad key."""
    where = "host facts"
    if not isinstance(doc, dict):
        raise FactsError(f"{where}: must be a JSON object")
    schema = _expect(doc, "schema", int, where)
    if schema != SCHEMA_VERSION:
        raise FactsError(f"{where}: unsupported schema {schema} (this tfsetup reads schema {SCHEMA_VERSION})")
    os_name = _expect(doc, "os", str, where)
    if os_name not in OS_NAMES:
        raise FactsError(f"{where}: 'os' must be one of {', '.join(OS_NAMES)}, got {os_name!r}")
    machine = _expect(doc, "machine", str, where)
    if machine not in MACHINES:
        raise FactsError(f"{where}: 'machine' must be one of {', '.join(MACHINES)}, got {machine!r}")
    os_version = _expect(doc, "os_version", str, where)
    if os_name == "macos" and os_version and not re.fullmatch(r"\d+(\.\d+)*", os_version):
        raise FactsError(f"{where}: 'os_version' must be a macOS version like 14.4.1, got {os_version!r}")
    gpus = _expect(doc, "gpus", list, where, required=False) or []
    pythons = _expect(doc, "pythons", list, where)  # may be empty; a missing list is a broken file
    cores = _expect(doc, "cpu_cores", dict, where, required=False) or {}
    return HostFacts(
        os=os_name,
        os_version=os_version,
        machine=machine,
        cpu=_expect(doc, "cpu", str, where, required=False) or "",
        rosetta=bool(_expect(doc, "rosetta", bool, where, required=False)),
        cpu_flags=_str_list(doc, "cpu_flags", where, required=False),
        gpus=[_gpu_from_json(g, f"gpus[{i}]") for i, g in enumerate(gpus)],
        pythons=[_python_from_json(p, f"pythons[{i}]") for i, p in enumerate(pythons)],
        glibc=_expect(doc, "glibc", str, where, required=False),
        memory_bytes=_expect(doc, "memory_bytes", int, where, required=False),
        cpu_cores={str(k): int(v) for k, v in cores.items()},
        skipped_pythons=list(_expect(doc, "skipped_pythons", list, where, required=False) or []),
    )


def load_facts_file(path: str) -> HostFacts:
    """Read a host-facts JSON file; every failure is a FactsError with the file named."""
    hint = "give the JSON that `tfsetup detect --json` prints"
    try:  # bounded: a huge file, /dev/zero or deep nesting is one clear error
        # `-`: e.g. `ssh mac tfsetup detect --json | tfsetup plan --host-file -`
        data = read_stream(sys.stdin.buffer, "stdin") if path == "-" else read_bytes(path, "host file")
        if b"\0" in data:
            raise FactsError(f"{path} is binary data, not JSON; {hint}")
        doc = loads_json(data.decode("utf-8"), path)
    except UnicodeDecodeError:
        raise FactsError(f"{path} is not UTF-8 text; {hint}") from None
    except BadInput as exc:
        raise FactsError(exc.message) from None
    try:
        return facts_from_json(doc)
    except FactsError as exc:
        raise FactsError(f"{path}: {exc}") from None
