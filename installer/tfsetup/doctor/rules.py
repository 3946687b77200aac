"""Pure rules: the facts of an env + the host facts + the recipes table -> findings.

No I/O. Each rule looks at facts only (installed versions, wheel tags, the interpreter's arch, the
host) and says what is wrong, how bad, and the fix. `--deep` results (an `import tensorflow` that was
really run) arrive inside EnvFacts.deep and go through `explain_exit`.

Over 400 lines because it holds every built-in rule, each a small pure function over the facts, in
one place the catalog (doctor/catalog.py) can be read against.
"""
from __future__ import annotations

import re
import shlex
from collections import deque
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from tfsetup.doctor.catalog import sources_of
from tfsetup.doctor.explain import explain_exit
from tfsetup.doctor.findings import Finding, merge_findings
from tfsetup.env.facts import Distribution, EnvFacts, marker_environment
from tfsetup.host.facts import HostFacts
from tfsetup.macho.dyld import Problem, dyld_message
from tfsetup.plan import recipe_rank
from tfsetup.env.record import lock_pins, verification_state
from tfsetup.verify import longer_timeout
from tfsetup.recipes import TF_DISTRIBUTIONS, Incompatible, Recipe, RecipeTable, normalize_name

ROSETTA_URL = "https://developer.apple.com/documentation/apple-silicon/about-the-rosetta-translation-environment"
TF_INSTALL_URL = "https://www.tensorflow.org/install/pip"
METAL_URL = "https://developer.apple.com/metal/tensorflow-plugin"
MINIFORGE_URL = "https://github.com/conda-forge/miniforge"
CUDA_LIBS = ("nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12", "nvidia-cudnn-cu12")
_MACOS_TAG = re.compile(r"macosx_(\d+)_(\d+)_(\w+)$")


# ---------------------------------------------------------------------------------------------
# small helpers over the facts

def _v(text: Optional[str]) -> Optional[Version]:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _minor(version: Optional[Version]) -> Tuple[int, int]:
    if version is None:
        return (0, 0)
    release = version.release + (0,)
    return (release[0], release[1])


def tf_distribution(env: EnvFacts) -> Optional[Distribution]:
    """The installed TensorFlow distribution (TF_DISTRIBUTIONS order when there are several)."""
    found = env.tf_distributions()
    return found[0] if found else None


def _applies(req: Requirement, markers: Dict[str, str]) -> bool:
    if req.marker is None:
        return True
    try:
        return bool(req.marker.evaluate(markers))
    except (InvalidMarker, KeyError, ValueError, TypeError):
        return False


def _requirements(dist: Distribution, markers: Dict[str, str]) -> List[Requirement]:
    out = []
    for line in dist.requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if _applies(req, markers):
            out.append(req)
    return out


def _contains(spec: SpecifierSet, version: str) -> bool:
    v = _v(version)
    return v is not None and spec.contains(v, prereleases=True)


def _label(dist: Distribution) -> str:
    return f"{dist.key} {dist.version}"


def _table_sources(table: RecipeTable, finding_id: str) -> Tuple[str, ...]:
    return tuple(s for e in table.incompatible if e.finding == finding_id for s in e.sources)


def _sources(table: RecipeTable, finding_id: str, *extra: str) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(_table_sources(table, finding_id) + sources_of(finding_id)
                               + tuple(extra)))


def _recorded_accelerator(env: EnvFacts) -> Optional[str]:
    return (env.record or {}).get("accelerator")


def _metal_recipes(table: RecipeTable, host: HostFacts) -> List[Recipe]:
    return [r for r in table.recipes if r.platform == host.platform and r.accelerator == "metal"]


def _default_recipe(table: RecipeTable, host: HostFacts, accelerator: str) -> Optional[Recipe]:
    own = [r for r in table.recipes if r.platform == host.platform and r.accelerator == accelerator]
    return next((r for r in own if r.default), own[0] if own else None)


# ---------------------------------------------------------------------------------------------
# the rules (each returns zero or more findings)

def _rosetta(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    if not (host.os == "macos" and host.machine == "arm64" and env.machine == "x86_64"):
        return []
    if env.sys_platform not in ("darwin", ""):  # a Mac-shaped env judged elsewhere (--host-file)
        return []
    evidence = (f"the env's python ran as {env.machine} (platform.machine())",
                f"this Mac's hardware is arm64 ({host.cpu or 'Apple Silicon'})",
                f"interpreter: {env.base_executable or env.executable or env.python}")
    if env.conda and env.arm64_capable is not True:
        return [Finding(
            "conda-x86-on-arm64", "error",
            "This is an x86_64 (Intel) conda environment on an Apple Silicon Mac: everything in it runs "
            "translated by Rosetta 2, TensorFlow's x86 builds need AVX (which Rosetta does not provide) and "
            "the Metal plug-in exists only for arm64.",
            "Rebuild it as an arm64 venv (`tfsetup doctor --fix` does it and reinstalls your other packages), "
            "or install an arm64 conda (Miniforge arm64) and recreate the env there.",
            evidence + ("conda env (conda-meta/ exists)",), (ROSETTA_URL, MINIFORGE_URL))]
    if env.arm64_capable:
        return [Finding(
            "rosetta-python", "warning",
            "The env's python has an arm64 slice but ran as x86_64: it was started from a process "
            "translated by Rosetta 2 (an x86 terminal or parent), so it loads x86 code and no Metal GPU.",
            f"Open a native (arm64) terminal, or start it with `arch -arm64 {env.python}`.",
            evidence + ("the same binary starts as arm64 under `arch -arm64`",), (ROSETTA_URL,))]
    return [Finding(
        "rosetta-python", "error",
        "The env's python is an x86_64-only build running translated by Rosetta 2 on an Apple Silicon Mac: "
        "it can only use x86_64 wheels (TensorFlow's need AVX, which Rosetta lacks) and no Metal GPU.",
        "Rebuild the env with an arm64 Python (`tfsetup doctor --fix` does it and reinstalls your other "
        "packages), e.g. from `brew install python@3.12` in /opt/homebrew or `uv python install 3.12`.",
        evidence, (ROSETTA_URL,))]


def _x86_wheels(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    if not (host.os == "macos" and host.machine == "arm64"):
        return []
    bad = []
    for dist in env.distributions.values():
        if dist.wheel_tags and all(t.endswith("_x86_64") or t.endswith("_intel") for t in dist.wheel_tags):
            bad.append(f"{_label(dist)}: {', '.join(dist.wheel_tags)}")
    if not bad:
        return []
    return [Finding(
        "x86-wheel-on-arm64", "error",
        "x86_64 wheels of TensorFlow-related packages are installed on an Apple Silicon Mac: they run only "
        "under Rosetta 2, without AVX (TensorFlow dies with an illegal instruction) and without Metal.",
        "Rebuild the env with an arm64 Python so that arm64 wheels are installed (`tfsetup doctor --fix`).",
        tuple(bad), (ROSETTA_URL, "https://pypi.org/simple/tensorflow/"))]


PLUGIN_PREFIX = "tensorflow-plugins/"
LOAD_KINDS = ("library-not-loaded", "symbol-not-found", "symbol-not-found-flat")


def _dyld_line(p: Problem) -> str:
    """The first line dyld prints for it, and where it was referenced from."""
    head = dyld_message(p).splitlines()[0]
    return head if p.kind in ("wrong-arch", "macos-too-old") else f"{head} (referenced from {p.file})"


def _plugins_load(env: EnvFacts) -> bool:
    """The loader check ran, found plug-in files and every one loads."""
    report = env.loader
    return report is not None and any(r.startswith(PLUGIN_PREFIX) for r in report.loaded) and not any(
        p.file.startswith(PLUGIN_PREFIX) for p in report.problems)


def _loader(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    """What dyld would refuse, read from the installed files (EnvFacts.loader): the binaries decide."""
    report = env.loader
    if report is None or (report.ok and not report.on_demand):
        return []
    out: List[Finding] = []
    plugin = [p for p in report.problems if p.kind in LOAD_KINDS and p.file.startswith(PLUGIN_PREFIX)]
    if plugin:
        first = plugin[0]
        tf, metal = tf_distribution(env), env.dist("tensorflow-metal")
        rows = sorted((r for r in _metal_recipes(table, host) if env.minor in r.pythons), key=recipe_rank)
        fix = (f"Use {rows[0].distribution} {rows[0].tensorflow} with tensorflow-metal {rows[0].plugin_version} "
               f"(recipe {rows[0].id}): `tfsetup doctor --fix` installs that set, or "
               f"`tfsetup install --tf {rows[0].tf_minor} --force {shlex.quote(env.path)}`; or remove tensorflow-metal to run on the "
               "CPU." if rows else "Remove tensorflow-metal and run TensorFlow on the CPU.")
        installed = (f"{_label(tf)}" if tf else "no TensorFlow") + (f" and {_label(metal)}" if metal else "")
        out.append(Finding(
            "metal-plugin-abi-mismatch", "error",
            f"The Metal plug-in does not load with the installed TensorFlow ({installed} by their metadata; "
            f"judged from the files): dyld stops with `{dyld_message(first).splitlines()[0]}` in {first.file}, "
            "so `import tensorflow` fails.",
            fix, tuple(_dyld_line(p) + (f" and {p.count - 1} more" if p.count > 1 else "") for p in plugin),
            _sources(table, "metal-plugin-abi-mismatch"),
            {"loader": [{"kind": p.kind, "file": p.file, "library": p.library, "symbol": p.symbol}
                        for p in plugin]}))
    wrong = [p for p in report.problems if p.kind == "wrong-arch"]
    if wrong and report.arch == "arm64":
        shown = [f"{p.file}: {p.have} only, no arm64 slice" for p in wrong[:5]]
        more = (f"and {len(wrong) - 5} more files",) if len(wrong) > 5 else ()
        out.append(Finding(
            "x86-wheel-on-arm64", "error",
            f"{len(wrong)} installed binar{'y has' if len(wrong) == 1 else 'ies have'} no arm64 code (first: "
            f"{wrong[0].file}): an arm64 Python cannot load {'it' if len(wrong) == 1 else 'them'} (dyld: "
            "'incompatible architecture').",
            "Reinstall arm64 wheels: `tfsetup doctor --fix` rebuilds the env with an arm64 Python.",
            tuple(shown) + more, (ROSETTA_URL,)))
    elif wrong:
        out.append(Finding(
            "unsupported-wheel", "error",
            f"{len(wrong)} installed binaries have no {report.arch} code (first: {wrong[0].file}).",
            "Reinstall the env's packages for this Mac's architecture (`tfsetup install PATH --force`).",
            tuple(f"{p.file}: {p.have}" for p in wrong[:5])))
    # Report.problems is what `import tensorflow` loads; Report.on_demand the files it loads only on demand,
    # by TensorFlow's own rules (macho/startup.py, through prove.check_loads: the one home of that rule).
    old = [p for p in report.problems if p.kind == "macos-too-old"]
    on_demand = [p for p in report.on_demand if p.kind == "macos-too-old"]
    if on_demand and not old:  # never loaded by `import tensorflow`: a limit on one feature, not a broken env
        need = max((p.needs or "0" for p in on_demand), key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))
        out.append(Finding(
            "macos-too-old", "warning",
            f"Files loaded only on demand need macOS {need}, newer than this Mac's {report.macos}: "
            "`import tensorflow` works; what loads them does not ("
            + "; ".join(f"{p.file}: {p.when}" for p in on_demand[:3]) + ").",
            f"Update macOS to {need} if you need that feature; nothing else to do.",
            tuple(_dyld_line(p) for p in on_demand[:5])))
    if old:
        need = max((p.needs or "0" for p in old), key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))
        out.append(Finding(
            "macos-too-old", "error",
            f"Installed binaries need macOS {need}, newer than this Mac's {report.macos}: dyld refuses them.",
            f"Update macOS to {need} or newer, or install a recipe whose minimum fits (`tfsetup recipes`).",
            tuple(_dyld_line(p) for p in old[:5])))
    core = [p for p in report.problems if p.kind in LOAD_KINDS and p.file.startswith("tensorflow/")]
    if core:
        out.append(Finding(
            "tensorflow-import-failed", "error",
            f"TensorFlow's own binaries do not load: `{dyld_message(core[0]).splitlines()[0]}` in {core[0].file}.",
            "Reinstall TensorFlow from the recipe's lock (`tfsetup doctor --fix`).",
            tuple(_dyld_line(p) for p in core[:5])))
    return out


def _conflicts(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    installed = env.tf_distributions()
    if len(installed) < 2:
        return []
    markers = marker_environment(env)
    required = {normalize_name(r.name) for d in installed for r in _requirements(d, markers)}
    # tensorflow 2.13-2.15 on Apple Silicon requires tensorflow-macos, on Windows tensorflow-intel: fine.
    roots = [d for d in installed if d.key not in required]
    if len(roots) < 2:
        return []
    names = ", ".join(_label(d) for d in roots)
    return [Finding(
        "conflicting-tf-distributions", "error",
        f"Several TensorFlow distributions are installed at once ({names}). They all install the same "
        "`tensorflow` package, so the files on disk are a mix of whichever was installed last.",
        "Keep exactly one: `tfsetup doctor --fix` uninstalls the others and reinstalls the recipe's "
        f"TensorFlow; by hand: `pip uninstall {' '.join(d.key for d in roots)}`, then install one.",
        tuple(f"{_label(d)} installed" for d in roots),
        (TF_INSTALL_URL,) + tuple(f"https://pypi.org/simple/{d.key}/" for d in roots),
        {"distributions": [d.key for d in roots]})]


def _incompatible_matches(entry: Incompatible, env: EnvFacts, host: HostFacts) -> Optional[List[str]]:
    if not entry.when or (entry.os and entry.os != host.os):
        return None
    tf = tf_distribution(env)
    evidence = []
    for name, spec in entry.when.items():
        dist = tf if name == "tensorflow" else env.dist(name)
        if dist is None or not _contains(spec, dist.version):
            return None
        evidence.append(f"{_label(dist)} installed (matches {name}{spec})")
    return evidence


def _table_entries(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    out = []
    for entry in table.incompatible:
        evidence = _incompatible_matches(entry, env, host)
        if evidence is not None:
            out.append(Finding(entry.finding, entry.severity, entry.message, entry.fix, tuple(evidence),
                               tuple(entry.sources), {"incompatible": [entry.id]}))
    return out


def _metal(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    tf = tf_distribution(env)
    if not (host.os == "macos" and host.machine == "arm64") or tf is None:
        return []
    metal = env.dist("tensorflow-metal")
    recorded_cpu = _recorded_accelerator(env) == "cpu"
    if _minor(_v(env.version)) >= (3, 13):
        entry = next((e for e in table.incompatible if e.finding == "metal-unsupported-python"), None)
        severity = "error" if metal else ("info" if recorded_cpu else "warning")
        return [Finding(
            "metal-unsupported-python", severity,
            entry.message if entry else "tensorflow-metal has no wheel for Python 3.13 or newer: no Metal GPU.",
            entry.fix if entry else "Use Python 3.12 or older for Metal, or stay on the CPU.",
            (f"Python {env.version} in the env", f"{_label(tf)} installed")
            + ((f"{_label(metal)} installed anyway",) if metal else ()),
            _sources(table, "metal-unsupported-python", "https://pypi.org/simple/tensorflow-metal/"))]
    if metal is not None or env.machine != "arm64":
        return []
    tf_minor = ".".join(tf.version.split(".")[:2])
    fits = [r for r in _metal_recipes(table, host) if r.tf_minor == tf_minor and env.minor in r.pythons]
    default = _default_recipe(table, host, "metal")
    evidence = (f"{_label(tf)} installed, tensorflow-metal not installed", f"GPU: {host.cpu or 'Apple GPU'}")
    sources = (METAL_URL,) + (tuple(fits[0].sources) if fits else ())
    if fits:
        return [Finding(
            "metal-plugin-missing", "info" if recorded_cpu else "warning",
            "tensorflow-metal is not installed: TensorFlow runs on the CPU only and the Apple GPU is unused.",
            f"`tfsetup doctor --fix` installs the Metal set of recipe {fits[0].id} "
            f"(tensorflow-metal {fits[0].plugin_version}), "
            f"or `pip install tensorflow-metal=={fits[0].plugin_version}`.",
            evidence, sources)]
    hint = (f" For the GPU use recipe {default.id} (TensorFlow {default.tensorflow} + tensorflow-metal "
            f"{default.plugin_version}): `tfsetup install --tf {default.tf_minor} --force`.") if default else ""
    return [Finding(
        "metal-plugin-missing", "info",
        f"No Metal GPU: tensorflow-metal is not installed, and no tested plug-in loads with TensorFlow {tf.version}.",
        "Nothing to do for CPU work." + hint, evidence, sources)]


def _numpy(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    tf, numpy = tf_distribution(env), env.dist("numpy")
    if tf is None or numpy is None:
        return []
    tfv, npv = _v(tf.version), _v(numpy.version)
    if tfv is None or npv is None or not (_minor(tfv) <= (2, 17) and npv.major >= 2):
        return []
    return [Finding(
        "numpy-abi-mismatch", "error",
        f"TensorFlow {tf.version} was built against NumPy 1.x and NumPy {numpy.version} is installed: "
        "`import tensorflow` fails (\"A module that was compiled using NumPy 1.x cannot be run in NumPy 2\").",
        "`tfsetup doctor --fix` reinstalls the recipe's locked stack (numpy 1.26); by hand: "
        "`pip install \"numpy<2\"`, or move to TensorFlow 2.18 or newer.",
        (f"{_label(tf)} installed", f"{_label(numpy)} installed"),
        _sources(table, "numpy-abi-mismatch", "https://github.com/tensorflow/tensorflow/releases/tag/v2.18.0"))]


def _keras(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    tf, keras = tf_distribution(env), env.dist("keras")
    if tf is None or keras is None:
        return []
    tfv, kv = _v(tf.version), _v(keras.version)
    if tfv is None or kv is None or tfv.major != 2:
        return []
    if _minor(tfv) < (2, 16) and kv.major >= 3:
        message = (f"Keras {keras.version} is installed over TensorFlow {tf.version}, which was made for Keras 2 "
                   f"(it requires keras<2.16): tf.keras code and saved models break.")
        fix = ("`tfsetup doctor --fix` reinstalls TensorFlow's own Keras; by hand: "
               f"`pip install \"keras=={_minor(tfv)[0]}.{_minor(tfv)[1]}.*\"`, or port to TensorFlow 2.16+.")
    elif _minor(tfv) >= (2, 16) and kv.major < 3:
        message = (f"TensorFlow {tf.version} needs Keras 3 but Keras {keras.version} is installed: "
                   "`import tensorflow` / tf.keras fail.")
        fix = ("`tfsetup doctor --fix` reinstalls the recipe's Keras 3; by hand: `pip install \"keras>=3\"` "
               "(keep Keras 2 code working with the tf-keras package and TF_USE_LEGACY_KERAS=1).")
    else:
        return []
    return [Finding("keras-mismatch", "error", message, fix, (f"{_label(tf)} installed", f"{_label(keras)} installed"),
                    _sources(table, "keras-mismatch"))]


def unmet_requirements(env: EnvFacts) -> List[Dict[str, str]]:
    """Every Requires-Dist in the TensorFlow closure that the env does not satisfy."""
    markers = marker_environment(env)
    roots = env.tf_distributions() + [d for d in (env.dist("tensorflow-metal"),) if d]
    queue = deque(roots)
    seen = {d.key for d in roots}
    unmet = []
    while queue:
        dist = queue.popleft()
        for req in _requirements(dist, markers):
            name = normalize_name(req.name)
            dep = env.dist(name)
            if dep is None:
                unmet.append({"by": _label(dist), "package": name, "required": str(req.specifier) or "any",
                              "installed": None})
                continue
            if req.specifier and not _contains(req.specifier, dep.version):
                unmet.append({"by": _label(dist), "package": name, "required": str(req.specifier),
                              "installed": dep.version})
            if name not in seen:
                seen.add(name)
                queue.append(dep)
    return unmet


def _describe(u: Dict[str, str]) -> str:
    have = f"{u['package']} {u['installed']} is installed" if u["installed"] else f"{u['package']} is not installed"
    return f"{u['by']} requires {u['package']}{'' if u['required'] == 'any' else u['required']}; {have}"


def _requirements_rule(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    unmet = unmet_requirements(env)
    if not unmet:
        return []
    names = sorted({u["package"] for u in unmet})
    by = sorted({u["by"] for u in unmet})
    out = [Finding(
        "requirement-conflict", "error",
        f"The TensorFlow stack's declared requirements are not met: {', '.join(names)} "
        f"({len(unmet)} unmet requirement{'s' if len(unmet) > 1 else ''}).",
        "`tfsetup doctor --fix` reinstalls the recipe's locked, consistent stack and keeps your other packages; "
        "by hand: `pip check` lists them, install the versions it asks for.",
        tuple(_describe(u) for u in unmet),
        tuple(f"https://pypi.org/project/{b.split(' ')[0]}/{b.split(' ')[1]}/" for b in by),
        {"unmet": unmet})]
    proto = [u for u in unmet if u["package"] == "protobuf"]
    if proto:
        out.append(Finding(
            "protobuf-mismatch", "error",
            f"The installed protobuf does not fit TensorFlow: {_describe(proto[0])}. A wrong protobuf "
            "fails at import (\"Descriptors cannot be created directly\") or at runtime.",
            "`tfsetup doctor --fix` reinstalls the locked stack; by hand: "
            f"`pip install \"protobuf{proto[0]['required']}\"`."
            if proto[0]["required"] != "any" else "`tfsetup doctor --fix` reinstalls the locked stack.",
            tuple(_describe(u) for u in proto), _sources(table, "protobuf-mismatch")))
    return out


def tf_closure(env: EnvFacts) -> List[Distribution]:
    """The installed TensorFlow distributions, the Metal plug-in, and everything they require, transitively."""
    markers = marker_environment(env)
    roots = env.tf_distributions() + [d for d in (env.dist("tensorflow-metal"),) if d]
    queue = deque(roots)
    seen = {d.key: d for d in roots}
    while queue:
        for req in _requirements(queue.popleft(), markers):
            dep = env.dist(req.name)
            if dep is not None and dep.key not in seen:
                seen[dep.key] = dep
                queue.append(dep)
    return list(seen.values())


def locked_distributions(env: EnvFacts) -> List[str]:
    """Whose installed files the fast pass checks: the env's locked packages (its record's lock pins), or,
    in an env tfsetup did not make, the TensorFlow stack (what a repair from a recipe's lock puts back)."""
    pins = lock_pins(env.record)
    names = [normalize_name(n) for n in pins] if pins else [d.key for d in tf_closure(env)]
    return sorted(n for n in set(names) if env.dist(n) is not None)


def _shown(paths: Sequence[str], limit: int = 3) -> str:
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _files_missing(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    """Files a locked distribution's RECORD lists that are gone (or not the size RECORD gives): deleted by
    hand, by a cleaner, by an interrupted copy. `import tensorflow` fails later, wherever one is needed."""
    broken = [f for f in env.files or () if f.missing or f.resized]
    if not broken:
        return []
    missing = sum(len(f.missing) for f in broken)
    resized = sum(len(f.resized) for f in broken)
    what = " and ".join(part for part in (f"{missing} missing" if missing else "",
                                          f"{resized} not the size RECORD gives" if resized else "") if part)
    evidence = []
    for f in broken:
        if f.missing:
            evidence.append(f"{f.key} {f.version}: {len(f.missing)} of {f.checked} files missing: {_shown(f.missing)}")
        if f.resized:
            evidence.append(f"{f.key} {f.version}: {len(f.resized)} files changed size: "
                            + _shown([f"{p} ({have} bytes, RECORD says {want})" for p, have, want in f.resized]))
    names = ", ".join(f"{f.key} {f.version}" for f in broken)
    return [Finding(
        "files-missing", "error",
        f"Installed files of {names} are damaged ({what}, against the distribution's RECORD): whatever "
        "imports them fails.",
        "`tfsetup doctor --fix` reinstalls those distributions from the lock (from the cache where it has "
        f"them); by hand: reinstall {names}.",
        tuple(evidence), (),
        {"files": {f.key: list(f.missing) + [p for p, _, _ in f.resized] for f in broken}})]


# The binary format a platform loads, and the arch names its headers give for the env's machine.
BINARY_FORMAT = {"linux": "elf", "darwin": "macho"}
ARCH_NAMES = {"x86_64": ("x86_64", "x86_64h"), "aarch64": ("aarch64",), "arm64": ("arm64", "arm64e")}


def binary_target(env: EnvFacts, host: HostFacts) -> Tuple[Optional[str], Tuple[str, ...], str]:
    """(binary format, arch names, arch shown) the env's native files must be, judged for `host`: a Mac
    judges them as Mach-O for its own hardware when the env's python is not a Mac's (a Mac-shaped env
    built on Linux, `--host-file mac.json`), as `with_loader` does; else the env's own platform and arch."""
    if host.os == "macos" and env.sys_platform != "darwin":
        machine = "arm64" if host.machine in ("arm64", "aarch64") else "x86_64"
        return "macho", ARCH_NAMES[machine], machine
    platform = "linux" if env.sys_platform.startswith("linux") else env.sys_platform
    if not env.machine:
        return None, (), ""
    return BINARY_FORMAT.get(platform), ARCH_NAMES.get(env.machine, (env.machine,)), env.machine


def wrong_arch_files(env: EnvFacts, host: HostFacts) -> List[Tuple[str, str, str]]:
    """(distribution, file, what it is) for each native file the env's python cannot load: another binary
    format than its platform's, or no code for its arch (ELF e_machine, Mach-O slices)."""
    want, archs, _ = binary_target(env, host)
    if want is None:
        return []  # Windows (PE) is not read
    out = []
    for f in env.files or ():
        for native in f.native:
            if native.format != want:
                out.append((f"{f.key} {f.version}", native.path, f"{native.format} ({', '.join(native.archs)})"))
            elif not any(a in archs for a in native.archs):
                out.append((f"{f.key} {f.version}", native.path, ", ".join(native.archs)))
    return out


def _wrong_arch_file(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    bad = wrong_arch_files(env, host)
    machine = binary_target(env, host)[2]
    if env.loader is not None:  # on a Mac the loader check already names its wrong-arch files
        seen = {p.file for p in env.loader.problems if p.kind == "wrong-arch"}
        bad = [b for b in bad if not any(b[1].endswith(s) or s.endswith(b[1]) for s in seen)]
    if not bad:
        return []
    dists = list(dict.fromkeys(d for d, _, _ in bad))
    return [Finding(
        "wrong-arch-file", "error",
        f"{len(bad)} native file{'s' if len(bad) > 1 else ''} of {', '.join(dists)} "
        f"{'are' if len(bad) > 1 else 'is'} not built for this env's {machine} Python (first: {bad[0][1]}, "
        f"{bad[0][2]}): loading {'them' if len(bad) > 1 else 'it'} fails (a wheel for another platform was "
        "installed, e.g. with --platform or --python-platform).",
        f"`tfsetup doctor --fix` reinstalls {', '.join(dists)} from the lock, for {machine}.",
        tuple(f"{d}: {p}: {what}, not {machine}" for d, p, what in bad[:5])
        + ((f"and {len(bad) - 5} more files",) if len(bad) > 5 else ()), (),
        {"files": [{"distribution": d, "path": p, "have": what} for d, p, what in bad]})]


def _table_min_os(table: RecipeTable, host: HostFacts, name: str, version: str) -> Optional[str]:
    """The oldest macOS a recipe of this host's platform pinning `name==version` runs on (its binaries'
    LC_BUILD_VERSION minos, recorded as the recipe's min_os); None when no recipe pins it."""
    found = [r.min_os for r in table.recipes if r.platform == host.platform and r.min_os
             and (r.locks and any(lock.pins.get(name) == version for lock in r.locks.values()))]
    return min(found, key=lambda v: _minor(_v(v))) if found else None


def _macos_too_old(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    if host.os != "macos":
        return []
    osv = _v(host.os_version)
    if osv is None:
        return []
    tf, metal = tf_distribution(env), env.dist("tensorflow-metal")
    needs: List[Tuple[Tuple[int, int], str]] = []  # (macOS major.minor, why)
    for dist in (tf, metal):
        if dist is None:
            continue
        minos = _table_min_os(table, host, dist.key, dist.version)
        if minos:
            needs.append((_minor(_v(minos)), f"{_label(dist)}: its binaries need macOS {minos} (LC_BUILD_VERSION)"))
    if tf is not None and host.machine == "arm64" and tf.key != "tensorflow-macos" and _minor(_v(tf.version)) >= (2, 13):
        needs.append(((12, 0), f"{_label(tf)}: its arm64 wheels are tagged macosx_12_0 (macOS 12+)"))
    if metal is not None:
        needs.append(((12, 0), f"{_label(metal)}: the Metal plug-in needs macOS 12+"))
    for dist in env.distributions.values():
        for tag in dist.wheel_tags:
            m = _MACOS_TAG.search(tag)
            if m:
                needs.append(((int(m.group(1)), int(m.group(2))), f"{_label(dist)}: wheel tag {tag}"))
                break
    needs = [(need, why) for need, why in needs if need > _minor(osv)]
    if not needs:
        return []
    newest = max(need for need, _ in needs)
    wanted = f"{newest[0]}.{newest[1]}"
    older = [r for r in table.recipes if r.platform == host.platform and r.min_os
             and _v(r.min_os) is not None and _minor(_v(r.min_os)) <= _minor(osv)]
    alt = (f"; on macOS {host.os_version} only recipe {older[0].id} "
           f"({older[0].distribution} {older[0].tensorflow}) fits") if older else ""
    return [Finding(
        "macos-too-old", "error",
        f"This Mac runs macOS {host.os_version}, older than what the installed TensorFlow build needs "
        f"(macOS {wanted}): it fails to load.",
        f"Upgrade macOS to {wanted} or newer{alt}.",
        tuple([f"macOS {host.os_version}"] + [why for _, why in needs]),
        ("https://pypi.org/simple/tensorflow/", METAL_URL))]


def _no_avx(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    tf = tf_distribution(env)
    if tf is None or host.machine != "x86_64" or not host.cpu_flags or "avx" in host.cpu_flags:
        return []
    return [Finding(
        "no-avx", "error",
        "This CPU has no AVX, and TensorFlow's x86_64 wheels are built with AVX: `import tensorflow` dies "
        "with an illegal instruction (SIGILL).",
        "Use a machine whose CPU has AVX (any x86 CPU since ~2011 except some Celeron/Pentium/Atom models), "
        "or build TensorFlow from source without AVX; no prebuilt wheel runs here.",
        (f"CPU: {host.cpu or 'unknown'}", f"CPU flags: {' '.join(host.cpu_flags)} (no avx)", f"{_label(tf)} installed"),
        _sources(table, "illegal-instruction", TF_INSTALL_URL))]


def _cuda(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    tf = tf_distribution(env)
    if not (host.os == "linux" and host.machine == "x86_64" and host.has_gpu("nvidia")) or tf is None:
        return []
    if _minor(_v(tf.version)) < (2, 14):
        return []
    missing = [name for name in CUDA_LIBS if env.dist(name) is None]
    if not missing:
        return []
    gpu = next(g for g in host.gpus if g.vendor == "nvidia")
    recipe = next((r for r in table.recipes if r.platform == host.platform and r.accelerator == "cuda"
                   and r.tf_minor == ".".join(tf.version.split(".")[:2])), None) \
        or _default_recipe(table, host, "cuda")
    evidence = (f"GPU: {gpu.name}" + (f" (driver {gpu.driver})" if gpu.driver else ""), f"{_label(tf)} installed",
                "not installed: " + ", ".join(missing))
    sources = _sources(table, "cuda-libs-missing", TF_INSTALL_URL)
    if tf.key == "tensorflow-cpu":
        return [Finding("cuda-libs-missing", "info",
                        "tensorflow-cpu is installed: the NVIDIA GPU is not used (by choice of distribution).",
                        f"For the GPU: `tfsetup install --accelerator cuda --force` "
                        f"({recipe.id if recipe else 'tensorflow[and-cuda]'}).", evidence, sources)]
    fix = f"`tfsetup doctor --fix` installs recipe {recipe.id} (tensorflow[and-cuda] {recipe.tensorflow} with its " \
          f"CUDA 12 wheels); by hand: `pip install \"tensorflow[and-cuda]=={tf.version}\"`." if recipe else \
        f"`pip install \"tensorflow[and-cuda]=={tf.version}\"`."
    return [Finding(
        "cuda-libs-missing", "warning",
        f"This host has an NVIDIA GPU but the CUDA 12 libraries TensorFlow {tf.version} loads from pip wheels "
        "are not installed: TensorFlow silently runs on the CPU (\"Cannot dlopen some GPU libraries\").",
        fix, evidence, sources)]


def _missing_tf(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    if env.tf_distributions():
        return []
    return [Finding(
        "tensorflow-missing", "warning",
        f"No TensorFlow distribution is installed in {env.path}.",
        "`tfsetup doctor --fix` installs the recipe's locked TensorFlow stack into it (keeping your packages), "
        "or `tfsetup install PATH` makes a new env.",
        (f"none of {', '.join(TF_DISTRIBUTIONS)} is installed", f"Python {env.version} at {env.python}"),
        (TF_INSTALL_URL,))]


def _not_verified(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    """A tfsetup env whose record has no passed verification: made with --no-verify, its last
    verification timed out, or it failed. It may work; nothing has shown that it does. The fix is the
    command that settles it in that situation (doctor --fix runs it too, and records the result)."""
    if env.record is None:
        return []
    state = verification_state(env.record)
    if state == "ok":
        return []
    verification = env.record.get("verification") or {}
    path = shlex.quote(env.path)
    if state == "timed-out":
        seconds = verification.get("seconds")
        took = f" after {float(seconds):.0f}s" if isinstance(seconds, (int, float)) and seconds else ""
        longer = longer_timeout(float(seconds or 0))
        return [Finding("not-verified", "warning",
                        f"This tfsetup env is not verified: its last verification timed out{took} (a slow "
                        "machine or a first import of TensorFlow, not a failure).",
                        f"give it more time: `tfsetup verify {path} --timeout {longer}` (it records the result), "
                        f"or `tfsetup doctor --fix {path}`", (f"verification: timed out{took}",))]
    if state == "failed":
        evidence = tuple(f"{c.get('id')}: {c.get('message')}" for c in verification.get("checks") or []
                         if isinstance(c, dict) and c.get("status") == "fail")[:3]
        return [Finding("not-verified", "warning",
                        "This tfsetup env failed its last verification; nothing shows that its stack works.",
                        f"`tfsetup doctor --deep --fix {path}` imports TensorFlow to name the cause, reinstalls the "
                        "env's locked stack and verifies again (it records the result)",
                        evidence or ("verification: failed",), (), {"verification": "failed"})]
    return [Finding("not-verified", "warning",
                    "This tfsetup env was installed without verification (--no-verify); nothing shows that its "
                    "stack works.",
                    f"run `tfsetup verify {path}` (it records the result), or `tfsetup doctor --fix {path}`",
                    ("verification: none",))]


# How a venv's base Python goes away, by where it lived (the fix is the same: a new env on a live one).
_GONE_HOW = (
    (re.compile(re.escape("/Cellar/")),
     "Homebrew removes an old Cellar version after `brew upgrade` (or `brew cleanup`)"),
    (re.compile(re.escape("/homebrew/")),
     "Homebrew upgraded or removed that Python (`brew upgrade`, `brew uninstall`)"),
    (re.compile(re.escape("/.pyenv/")), "that pyenv version was deleted (`pyenv uninstall`)"),
    # uv's store (~/.local/share/uv/python, or UV_PYTHON_INSTALL_DIR) names each build like its key
    (re.compile(r"/uv/python/|/cpython-3\.\d+[\w.+]*-(?:linux|macos|windows)-"),
     "uv removed or replaced that managed Python (`uv python uninstall`, `uv python upgrade`)"),
    (re.compile(re.escape("/Python.framework/")), "that python.org install was removed or replaced"),
)


def gone_how(path: str) -> str:
    p = path.replace("\\", "/")
    return next((how for where, how in _GONE_HOW if where.search(p)),
                "the interpreter the venv was made from was moved or deleted")


def _base_python(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    """A venv links to its base interpreter (pyvenv.cfg `home`); when that is gone, nothing in it runs."""
    if not env.base_python_missing:
        return []
    minor = env.minor or "of the same version"
    return [Finding(
        "base-python-missing", "error",
        f"The Python this env was made from is gone: {env.base_python_missing} no longer exists "
        f"({gone_how(env.base_python_missing)}), so {env.python} cannot start.",
        f"`tfsetup doctor --fix` rebuilds it on a Python {minor} (this host's, or one uv downloads) with the "
        "same recipe, carrying your packages",
        (f"pyvenv.cfg: home = {env.base_home}", f"missing: {env.base_python_missing}"),
        _sources(table, "base-python-missing"))]


def _deep(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    if env.deep is None or env.deep.ok:
        return []
    if env.deep.timed_out:
        return [Finding("tensorflow-import-timeout", "warning",
                        f"`import tensorflow` did not finish within {env.deep.seconds:.0f}s.",
                        "Run it by hand to see where it hangs: "
                        f"`{env.python} -c \"import tensorflow\"`.", ("timed out",), ())]
    found = explain_exit(env.deep.returncode, env.deep.stderr, table)
    found = [Finding(f.id, f.severity, f.message, f.fix, f.evidence, f.sources,
                     dict(f.data, deep=True)) for f in found]
    if not found:
        lines = [ln for ln in env.deep.stderr.strip().splitlines() if ln.strip()]
        found = [Finding("tensorflow-import-failed", "error",
                         f"`import tensorflow` fails in this env (exit {env.deep.returncode}).",
                         "Read the error below; `tfsetup explain` names known causes, `tfsetup doctor --fix` "
                         "reinstalls the recipe's locked stack.",
                         tuple(lines[-3:]) or (f"exit status {env.deep.returncode}",), (), {"deep": True})]
    return found


# Built-in rules speak first (their text is computed from this env's facts: merge_findings lets the
# first of equals speak); a table entry for the same finding id adds its evidence and sources, and
# speaks alone where no rule knows the problem.
RULES = (_base_python, _rosetta, _loader, _x86_wheels, _files_missing, _wrong_arch_file, _conflicts, _metal, _numpy,
         _keras, _requirements_rule, _table_entries, _macos_too_old, _no_avx, _cuda, _missing_tf, _not_verified, _deep)


def diagnose(env: EnvFacts, host: HostFacts, table: RecipeTable) -> List[Finding]:
    """All findings for this env on this host, one per id, worst first."""
    findings: List[Finding] = []
    for rule in RULES:
        # data["origin"]: which layer said it ("rule", "table"; both after a merge), so the built-in
        # rules and the table's [[incompatible]] entries can be told (and tested) apart.
        origin = ["table"] if rule is _table_entries else ["rule"]
        findings.extend(replace(f, data=dict(f.data, origin=origin)) for f in rule(env, host, table))
    if _plugins_load(env):  # the files load whatever their metadata says: the binaries decide
        findings = [f for f in findings if f.id != "metal-plugin-abi-mismatch"]
    return [_naming_the_env(f, env) for f in merge_findings(findings)]


def _naming_the_env(finding: Finding, env: EnvFacts) -> Finding:
    """A fix to copy and paste: a bare `tfsetup doctor --fix` would look for an env elsewhere, and a bare
    `pip` in an env without pip (uv makes envs without it) runs some other Python's pip."""
    fix = finding.fix
    if env.dist("pip") is None and "`pip " in fix:
        python = shlex.quote(env.python)
        fix = re.sub(r"`pip (\w+)", lambda m: f"`uv pip {m.group(1)} --python {python}", fix)
    bare = "`tfsetup doctor --fix`"
    if bare in fix and not (env.venv or env.conda):  # --fix refuses to change a system Python
        fix += " (--fix does not change a system Python: make a separate env with `tfsetup install PATH`)"
    elif bare in fix:
        fix = fix.replace(bare, f"`tfsetup doctor --fix {shlex.quote(env.path)}`")
    return finding if fix == finding.fix else replace(finding, fix=fix)


def problems(findings: Sequence[Finding]) -> List[Finding]:
    """The findings that make doctor exit 1 (errors and warnings)."""
    return [f for f in findings if f.severity in ("error", "warning")]
