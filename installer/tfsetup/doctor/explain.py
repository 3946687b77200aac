"""`tfsetup explain`: read a pasted error log or traceback and name the known problems in it.

Pure: text in, findings out (no I/O). Every rule is a few compiled regexes checked against the real
texts kept as test fixtures (tests/fixtures/errors/; PATTERNS.md there says why each pattern looks
the way it does). What each finding id means, and its public sources, live in doctor/catalog.py.
Rules match on the error *messages*, never on traceback frames: user-code shape errors have the same
TensorFlow frames as real environment problems.

Over 400 lines because each rule sits with the judgement it needs (which TF, which arch, which
signal); splitting them would separate a pattern from the reason it looks the way it does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tfsetup.doctor.catalog import sources_of
from tfsetup.doctor.findings import Finding, merge_findings, worst_first
from tfsetup.recipes import RecipeTable

MAX_EVIDENCE = 3
MAX_EVIDENCE_CHARS = 400
_I = re.IGNORECASE

# ---------------------------------------------------------------------------------------------
# rules


@dataclass(frozen=True)
class Verdict:
    """What a rule concluded from its matches; None from `decide` means 'not this problem after all'."""
    severity: str
    message: str
    fix: str


Decide = Callable[[str, List[re.Match[str]]], Optional[Verdict]]


@dataclass(frozen=True)
class Rule:
    id: str
    patterns: Tuple[re.Pattern[str], ...]  # each starts with a literal, so a 5 MB log stays fast
    decide: Decide
    line_filter: Optional[re.Pattern[str]] = None  # a match counts only when its line also matches this


def _rule(rule_id: str, patterns: Sequence[str], decide: Decide, line_filter: Optional[str] = None) -> Rule:
    return Rule(rule_id, tuple(re.compile(p, _I) for p in patterns), decide,
                re.compile(line_filter, _I) if line_filter else None)


_TF_HINT = re.compile(r"tensorflow|_pywrap_tf", _I)


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text, _I) is not None


def _metal(text: str, matches: List[re.Match[str]]) -> Verdict:
    symbol = re.search(r"symbol not found(?: in flat namespace)?:? '?(_\w+)", text, _I)
    what = f" (missing symbol {symbol.group(1)})" if symbol else ""
    return Verdict(
        "error",
        "The tensorflow-metal plugin was built for a different TensorFlow than the one installed: "
        f"TensorFlow cannot load libmetal_plugin.dylib{what}. Each tensorflow-metal release works "
        "with only one or two TensorFlow versions.",
        "pin the Metal set: `tfsetup install --force` (TF 2.19 + tensorflow-metal 1.2.0), or "
        "`pip uninstall tensorflow-metal` for CPU only",
    )


def _no_platform(text: str, matches: List[re.Match[str]]) -> Verdict:
    return Verdict(
        "error",
        "An op was compiled with XLA for a device platform that is not registered: the "
        "tensorflow-metal plugin does not provide XLA (jit_compile), and this TensorFlow + "
        "tensorflow-metal pair does not fit.",
        "install a tested TF + tensorflow-metal pair: `tfsetup install --force`; with TF 2.11-2.12 "
        "code, use `tf.keras.optimizers.legacy.Adam` (or pass jit_compile=False) so nothing is XLA-compiled",
    )


def _numpy(text: str, matches: List[re.Match[str]]) -> Verdict:
    if _TF_HINT.search(text):
        return Verdict(
            "error",
            "TensorFlow was built against NumPy 1.x but NumPy 2 is installed; its compiled modules "
            "cannot load (`_ARRAY_API not found`).",
            "`pip install 'numpy<2'` or move to TF ≥ 2.18: `tfsetup install --force`",
        )
    return Verdict(
        "error",
        "A compiled module built against NumPy 1.x is loaded with NumPy 2 installed (the log does not "
        "say which module; it is not necessarily TensorFlow).",
        "`pip install 'numpy<2'`, or upgrade the module named in the traceback to a NumPy 2 build",
    )


def _illegal(text: str, matches: List[re.Match[str]]) -> Verdict:
    mac = _has(r"zsh: illegal hardware instruction|illegal instruction: 4|(?m:^\W*i386\s*$)|/Users/|darwin", text)
    linux = _has(r"\(core dump|/usr/lib|/home/|linux", text)
    if mac:
        where = ("This looks like a Mac: on Apple Silicon this usually means an x86_64 Python running "
                 "under Rosetta, which cannot run TensorFlow's AVX code.")
    elif linux:
        where = "On this x86 machine the CPU probably lacks AVX, which TensorFlow's official wheels require."
    else:
        where = ("Usually an x86_64 Python under Rosetta on an Apple Silicon Mac, or an x86 CPU without "
                 "AVX, which TensorFlow's official wheels require.")
    tf = "TensorFlow" if _TF_HINT.search(text) else "A native library (likely TensorFlow)"
    return Verdict(
        "error",
        f"{tf} crashed with an illegal CPU instruction (SIGILL). {where}",
        "on an Apple Silicon Mac run a native arm64 Python (`arch -arm64`); on x86 the CPU lacks AVX: "
        "use a build without AVX or another machine",
    )


def _protobuf(text: str, matches: List[re.Match[str]]) -> Verdict:
    if _has(r"runtime_version", text):
        return Verdict(
            "error",
            "The installed protobuf is older than the protobuf that generated these _pb2 modules: they import "
            "google.protobuf.runtime_version, which older protobuf runtimes do not have.",
            "upgrade protobuf within what TensorFlow allows (`pip check` names the range), or reinstall the "
            "locked set: `tfsetup doctor --fix`",
        )
    return Verdict(
        "error",
        "The installed protobuf (4.x or newer) cannot load the generated _pb2 code shipped by this "
        "TensorFlow (or a library built on it, such as tensorflow_hub); the two versions do not fit.",
        "`pip install 'protobuf<3.21'` for TF ≤ 2.9 (or set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, "
        "slow), or move to a current TF: `tfsetup install --force`",
    )


_PB_VERSIONS = re.compile(
    r"(?:requires version|compiled against version) (\d[\w.]*) of the Protocol Buffer runtime library, "
    r"(?:but the installed version is|which is not compatible with the installed version) \(?(\d[\w.]*?)\)?\.?\s", _I)
_PB_FILE = re.compile(r'Version verification failed in "([^"\n]{1,300})"', _I)


def _libprotobuf(text: str, matches: List[re.Match[str]]) -> Verdict:
    """libprotobuf's C++ version check (GOOGLE_PROTOBUF_VERIFY_VERSION, run by every generated .pb.cc
    when its library loads) failed: the code was compiled against one libprotobuf and the libprotobuf
    that the process already resolved is another. With pip wheels that is two copies in one process:
    TensorFlow's own and one that another native package (OpenCV, onnx, PyTorch, a system/apt
    libprotobuf) brings; whichever loads first serves both (sources: doctor/catalog.py)."""
    versions = _PB_VERSIONS.search(text)
    where = _PB_FILE.search(text)
    clash = (f"built against libprotobuf {versions.group(1)} found libprotobuf {versions.group(2)} already loaded"
             if versions else "built against one libprotobuf version found another already loaded")
    owner = ""
    if where:
        generated = where.group(1)
        owner = (" TensorFlow's own generated code" if _TF_HINT.search(generated)
                 else f" generated code of another library ({generated.rsplit('/', 1)[-1]})")
    return Verdict(
        "error",
        f"Two copies of the C++ protobuf library meet in one process:{owner or ' code'} {clash}, and "
        "libprotobuf aborted the process (FatalException). Usually TensorFlow and another native package "
        "(OpenCV, onnx, PyTorch, a system libprotobuf) each bring their own copy, whatever `pip list` says.",
        "import tensorflow before the other native package (the first libprotobuf loaded serves both), or "
        "keep one copy: use that package's wheel instead of a build against another protobuf (`pip list`; "
        "`ldd`/`otool -L` on its module shows a system libprotobuf), or run the two in separate processes",
    )


_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)"
                    r"-(?P<plat>[^-]+)\.whl$", _I)


def _wheel(text: str, matches: List[re.Match[str]]) -> Verdict:
    before = re.search(r"([^\s'\"`:]+)$", text[max(0, matches[0].start() - 300):matches[0].start()])
    filename = ((before.group(1) if before else "") + ".whl").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    parts = _WHEEL.match(filename)
    if parts:
        plat = parts.group("plat").lower()
        what = f"The wheel {filename} ({parts.group('name')} {parts.group('version')}) does not fit this Python"
        if plat.endswith("arm64"):
            why = ("; it is built for arm64, so the Python is probably an x86_64 one (Rosetta) or an "
                   f"other Python version than {parts.group('py')}.")
        elif plat.startswith("macosx_1") and "x86_64" in plat:
            why = (f"; it needs {plat} but this Python is arm64, another version than {parts.group('py')}, or "
                   "reports macOS as 10.16 (an old Python/pip on macOS 11+).")
        else:
            why = f"; its tags ({parts.group('py')}-{parts.group('abi')}-{plat}) do not match this interpreter."
        message = what + why
    else:
        message = f"pip refused {filename}: its Python/platform tags do not match this interpreter."
    return Verdict(
        "error",
        message,
        "use a native Python of a supported version (on Apple Silicon an arm64 one) and the wheels made for it: "
        "`tfsetup plan` shows a Python that works",
    )


def _no_dist(text: str, matches: List[re.Match[str]]) -> Verdict:
    versions = re.search(r"\(from versions: ([^)\n]*)\)", text, _I)
    name = matches[0].group(1)
    if versions and versions.group(1).strip().lower() == "none":
        why = (f"pip found no {name} wheel at all for this Python and platform: the Python is too new for "
               "this TensorFlow, or it is an x86_64 Python on an arm64 Mac (or the macOS is too old).")
    elif versions:
        why = (f"The requested {name} version has no wheel for this Python; pip only sees "
               f"{_short(versions.group(1))}. The pin is too old (or too new) for this Python.")
    else:
        why = (f"pip found no installable {name} for this Python and platform: the Python is too new or too "
               "old, or it is an x86_64 Python on an arm64 Mac.")
    return Verdict("error", why, "`tfsetup plan` shows a Python that works (and the TensorFlow versions it has wheels for)")


def _short(versions: str) -> str:
    items = [v.strip() for v in versions.split(",") if v.strip()]
    return ", ".join(items) if len(items) <= 4 else f"{items[0]} ... {items[-1]}"


def _keras(text: str, matches: List[re.Match[str]]) -> Verdict:
    if _has(r"register_load_context_function", text):
        return Verdict(
            "error",
            "A Keras 2 package (keras 2.x or tf-keras) built for another TensorFlow version is installed: it "
            "calls a TensorFlow internal (register_load_context_function) this TensorFlow does not have.",
            "install the Keras 2 of TensorFlow's own minor version (TF 2.15 -> `keras==2.15.*`; TF 2.16+ "
            "-> `tf-keras` of the same minor), or a locked set: `tfsetup install --force`",
        )
    if _has(r"requires keras", text):
        return Verdict(
            "error",
            "Keras 3 is installed next to a TensorFlow (≤ 2.15) that needs Keras 2; `import tensorflow` "
            "will use the wrong Keras and fail.",
            "`pip install 'keras<3'` matching the TensorFlow version (e.g. keras 2.15 for TF 2.15), or move "
            "to TF ≥ 2.16 with Keras 3: `tfsetup install --force`",
        )
    return Verdict(
        "error",
        "Code written for Keras 2 (tf.keras) runs on Keras 3, which TensorFlow ≥ 2.16 installs by "
        "default; Keras 3 rejects it.",
        "`pip install tf-keras` (matching the TensorFlow minor) and set `TF_USE_LEGACY_KERAS=1`, or port the "
        "code to Keras 3",
    )


def _cuda(text: str, matches: List[re.Match[str]]) -> Verdict:
    benign = _has(r"Ignore above cudart dlerror", text)
    missing = []
    for m in matches:
        lib = m.group(1) if m.re.groups else None
        if lib:
            dl = re.match(r"'?;\s*dlerror:\s*([\w.+-]+)", text[m.end():m.end() + 200])
            name = dl.group(1) if dl and dl.group(1) != lib else lib
            if name not in missing:
                missing.append(name)
    only_cudart = bool(missing) and all(n.lower().startswith("libcudart") or n.lower().startswith("cudart")
                                        for n in missing)
    gpu_skipped = _has(r"Cannot dlopen some GPU libraries|Skipping registering GPU devices", text)
    names = ", ".join(missing) if missing else "some CUDA libraries"
    if benign or (only_cudart and not gpu_skipped):
        return Verdict(
            "warning",
            f"TensorFlow could not load {names}. Harmless on a machine without an NVIDIA GPU (TensorFlow "
            "runs on the CPU); if you expected the GPU, the CUDA runtime is missing. Look further in the "
            "log for the real error.",
            "ignore it on a CPU-only machine; for the GPU on Linux: `tfsetup install --force` "
            "(tensorflow[and-cuda] brings the CUDA libraries)",
        )
    return Verdict(
        "error",
        f"TensorFlow cannot load the CUDA libraries it needs ({names}), so it runs without the GPU.",
        "on Linux: `tfsetup install --force` (tensorflow[and-cuda] installs matching CUDA/cuDNN libraries); "
        "otherwise install the CUDA and cuDNN versions this TensorFlow was built for and check LD_LIBRARY_PATH",
    )


def _rosetta(text: str, matches: List[re.Match[str]]) -> Verdict:
    m = next((m for m in matches if m.re.groups >= 2), None)
    have, need = (m.group(1).lower(), m.group(2).lower()) if m else ("", "")
    if have == "x86_64" and need.startswith("arm64"):
        what = ("An x86_64 (Intel) compiled module is being loaded by a native arm64 Python: the environment "
                "mixes architectures (packages installed from an x86/Rosetta Python or another env).")
    elif have.startswith("arm64") and need == "x86_64":
        what = ("An arm64 compiled module is being loaded by an x86_64 Python running under Rosetta: the "
                "environment mixes architectures.")
    else:
        what = ("A compiled module has the wrong CPU architecture for this Python (x86_64 vs arm64): the "
                "Python runs under Rosetta, or the packages were installed by a Python of the other architecture.")
    return Verdict(
        "error",
        what,
        "recreate the env with one native arm64 Python (`arch -arm64`): `tfsetup install --force`; "
        "`tfsetup plan` shows a Python that works",
    )


def _base_python(text: str, matches: List[re.Match[str]]) -> Verdict:
    gone = next((m.group(1) for m in matches if m.re.groups and m.group(1)), "")
    what = f" ({gone})" if gone else ""
    return Verdict(
        "error",
        f"The interpreter this environment (or script) was made from is gone{what}: a venv links to its base "
        "Python, and `brew upgrade`/`brew cleanup` (an old Cellar version), `pyenv uninstall`, `uv python "
        "uninstall` or removing a python.org install deletes it. Nothing inside the env can fix that.",
        "`tfsetup doctor --fix PATH` rebuilds a tfsetup env on a Python of the same minor (the host's, or one "
        "uv downloads), carrying your packages; other envs: recreate them",
    )


_CUDA_LIB = (r"Could not load dynamic library '((?:lib(?:cuda|cublas|cufft|curand|cusolver|cusparse|cudnn|nvinfer)"
             r"\w*\.so[.\d]*)|cu\w+\.dll)'")

RULES: Tuple[Rule, ...] = (
    _rule("metal-plugin-abi-mismatch", [
        r"libmetal_plugin\.dylib",
    ], _metal, line_filter=r"symbol not found|Library not loaded: @rpath/_pywrap_tensorflow_internal\.so"),
    _rule("no-registered-platform", [r"could not find registered platform with id"], _no_platform),
    _rule("numpy-abi-mismatch", [
        r"compiled using NumPy 1\.x cannot be run in",
        r"_ARRAY_API not found",
        r"numpy\.core\.multiarray failed to import",
    ], _numpy),
    _rule("illegal-instruction", [
        r"illegal (?:hardware )?instruction",
        r"\bSIGILL\b",
        r"exit (?:code|status) (?:132|-4)\b",
        r"\bsignal 4\b",
        r"returned -4\b",
    ], _illegal),
    _rule("protobuf-mismatch", [r"Descriptors cannot (?:not )?be created directly",
                                r"cannot import name 'runtime_version' from 'google\.protobuf'"], _protobuf),
    _rule("libprotobuf-version-clash", [
        r"This program (?:requires version|was compiled against version) \d[\w.]* of the Protocol Buffer runtime",
    ], _libprotobuf),
    _rule("unsupported-wheel", [r"\.whl is not a supported wheel on this platform"], _wheel),
    _rule("no-matching-distribution", [
        r"No matching distribution found for ((?:tensorflow|tf-nightly|tf_nightly)[\w.\-\[\],=<>!~]*)",
        r"Could not find a version that satisfies the requirement "
        r"((?:tensorflow|tf-nightly|tf_nightly)[\w.\-\[\],=<>!~]*)",
    ], _no_dist),
    _rule("keras-mismatch", [
        r"requires keras[<>=!~][^,\n]{0,40}(?:,[<>=!~][^,\n ]{0,40})?, but you have keras 3\.",
        r"Keras 3, but this is not yet supported",
        r"A KerasTensor cannot be used as input to a TensorFlow function",
        r"has no attribute 'register_load_context_function'",
    ], _keras),
    _rule("cuda-libs-missing", [
        _CUDA_LIB,
        r"Cannot dlopen some GPU libraries",
    ], _cuda),
    _rule("base-python-missing", [
        r"Library not loaded: '?(/[^\n']*Python\.framework/Versions/\d+\.\d+/Python)",
        r"Library not loaded: @executable_path/\.\./\.Python",
        r"bad interpreter: (?:(/[^\n:]*python[\w.]*): )?no such file or directory",
    ], _base_python),
    _rule("rosetta-arch-mismatch", [
        r"incompatible architecture \(have [('\"]?(x86_64|arm64e?)[)'\"]?, need [('\"]?(x86_64|arm64e?)[)'\"]?\)",
        r"mach-o,? but wrong architecture",
    ], _rosetta),
)

# ---------------------------------------------------------------------------------------------
# evidence


_WINDOW = 4000  # how far around a match its "line" reaches (keeps a 5 MB one-line text linear)


def _line_window(text: str, pos: int) -> str:
    low = max(0, pos - _WINDOW)
    start = text.rfind("\n", low, pos) + 1 or low
    end = text.find("\n", pos, pos + _WINDOW)
    return text[start:end if end != -1 else min(len(text), pos + _WINDOW)]


def _line_at(text: str, pos: int) -> str:
    line = _line_window(text, pos).strip()
    if len(line) > MAX_EVIDENCE_CHARS:
        line = line[:MAX_EVIDENCE_CHARS].rstrip() + " ..."
    return line


def _merge_evidence(*groups: Sequence[str]) -> Tuple[str, ...]:
    out: List[str] = []
    for group in groups:
        for line in group:
            if line and line not in out and len(out) < MAX_EVIDENCE:
                out.append(line)
    return tuple(out)


def _matches(rule: Rule, text: str) -> List[re.Match[str]]:
    found: List[re.Match[str]] = []
    for pattern in rule.patterns:
        for tried, m in enumerate(pattern.finditer(text)):
            if tried >= 1000:  # a log may repeat a line thousands of times; enough to decide
                break
            if rule.line_filter is None or rule.line_filter.search(_line_window(text, m.start())):
                found.append(m)
                if len(found) >= 50:
                    return found
    return found


# ---------------------------------------------------------------------------------------------
# entry points


def with_host(findings: List[Finding], text: str, host: Any) -> List[Finding]:
    """Findings judged against the machine explain runs on (the log is most often from this machine):
    an illegal instruction in a Linux log, read on an x86_64 host whose CPU *has* AVX, is not "no AVX"."""
    flags = set(getattr(host, "cpu_flags", None) or ())
    if getattr(host, "os", None) != "linux" or getattr(host, "machine", None) != "x86_64" or "avx" not in flags:
        return findings
    if _has(r"zsh: illegal hardware instruction|illegal instruction: 4|/Users/|darwin", text):
        return findings  # a Mac's log pasted here: this machine's CPU says nothing about it
    out = []
    for f in findings:
        if f.id == "illegal-instruction":
            have = ", ".join(x for x in ("avx", "avx2", "fma", "avx512f") if x in flags)
            f = replace(f, message=(
                f"{f.message.split('. ')[0]}. This machine's CPU has AVX ({have}), so if the log is from here "
                "the cause is elsewhere: a wheel built for newer instructions than this CPU has (a "
                "tensorflow or jaxlib/numpy build from another index, or one compiled with -march=native "
                "on another machine), or a native extension built for another CPU."),
                fix="find the wheel: run `python -X faulthandler -c 'import tensorflow'` in the env (the last "
                    "module named is the culprit) and reinstall the env's locked set with `tfsetup doctor --fix`; "
                    "if the log came from another machine, check that one: `grep -o -w avx /proc/cpuinfo`")
        out.append(f)
    return out


def explain(text: str, table: Optional[RecipeTable] = None) -> List[Finding]:
    """The known problems named in `text` (a log or traceback), deduplicated, worst first.

    With `table`, its `incompatible` entries whose signature occurs in the text are findings too; when
    one shares an id with a built-in rule, the curated entry's message and fix win (it is the more
    specific: findings.merge_findings) and the evidence and sources are merged (one finding per id).
    """
    if not text:
        return []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    found: List[Finding] = []
    for rule in RULES:
        matches = _matches(rule, text)
        if not matches:
            continue
        verdict = rule.decide(text, matches)
        if verdict is None:
            continue
        evidence = _merge_evidence([_line_at(text, m.start()) for m in sorted(matches, key=lambda m: m.start())])
        found.append(Finding(id=rule.id, severity=verdict.severity, message=verdict.message,
                             fix=verdict.fix, evidence=evidence, sources=sources_of(rule.id)))
    # A curated entry is as specific as the longest signature it matched (a built-in pattern: 0), so the
    # most precise one speaks for its finding id: a generic signature ("libmetal_plugin.dylib") must not
    # override a precise one.
    signature: Dict[str, int] = {}
    for entry in (table.incompatible if table is not None else ()):
        matched = [sig for sig in entry.signatures if sig and sig in text]
        if not matched:
            continue
        evidence = [_line_at(text, pos) for pos in sorted(text.find(sig) for sig in matched)]
        signature[entry.id] = max(len(sig) for sig in matched)
        found.append(Finding(id=entry.finding, severity=entry.severity, message=entry.message, fix=entry.fix,
                             evidence=_merge_evidence(evidence), sources=tuple(entry.sources),
                             data={"incompatible": [entry.id]}))

    def specificity(finding: Finding) -> int:
        return max((signature.get(i, 0) for i in finding.data.get("incompatible", ())), default=0)

    return [replace(f, evidence=_merge_evidence(f.evidence)) for f in merge_findings(found, specificity)]


def explain_exit(returncode: int, stderr: str, table: Optional[RecipeTable] = None) -> List[Finding]:
    """Findings for a crashed process: killed by SIGILL (-4, or 132 from a shell) is an illegal
    instruction even when it printed nothing; otherwise whatever its stderr says."""
    findings = explain(stderr, table)
    if returncode in (-4, 132) and not any(f.id == "illegal-instruction" for f in findings):
        code_line = f"exit status {returncode}" + (" (killed by SIGILL)" if returncode == -4 else " (128 + SIGILL)")
        verdict = _illegal(stderr or "", [])
        findings.append(Finding(id="illegal-instruction", severity="error", message=verdict.message,
                                fix=verdict.fix, evidence=(code_line,), sources=sources_of("illegal-instruction")))
        findings = worst_first(findings)
    return findings
