"""Pure planning: host facts + recipes table + request -> Plan (its JSON: `tfsetup plan --json`).

No I/O here. `plan()` can be run for another machine (`--host-file`) and is tested exhaustively
through host-facts fixtures.

Over 400 lines because the reasons and hints (why each row was rejected, the nearest request that
works, the warnings) are part of the planner's pure output and are tested with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from packaging.version import InvalidVersion, Version

from tfsetup.errors import EXIT_BAD_INPUT, EXIT_NO_RECIPE, TfsetupError
from tfsetup.host.facts import HostFacts, PythonInfo
from tfsetup.platforms import native_launch
from tfsetup.pythons import EOL_CHECKED, ManagedPython, eol_month, is_eol, managed_pythons
from tfsetup.recipes import ACCELERATORS, Lock, Recipe, RecipeTable

ACCELERATOR_NAMES = {"metal": "Metal", "cuda": "CUDA", "cpu": "CPU-only"}
# Tie-break between interpreters of the same version: builds that are made for this, first.
SOURCE_PREFERENCE = ("homebrew", "python.org", "uv", "pyenv", "system", "xcode", "other", "conda")
SHOWN_PACKAGES = ("tensorflow-metal", "numpy", "keras", "tf-keras", "keras-nightly", "protobuf", "ml-dtypes")
_TF_REQUEST = re.compile(r"^\d+\.\d+(\.\d+)?$")
_PY_REQUEST = re.compile(r"^3\.\d+$")


@dataclass(frozen=True)
class PlanRequest:
    tf: Optional[str] = None  # "2.19" or "2.19.1"
    python: Optional[str] = None  # "3.12"
    accelerator: Optional[str] = None  # None: the best the host has; "cpu" for --cpu-only
    recipe_id: Optional[str] = None
    pre: bool = False
    keras: Optional[int] = None  # 2: a stack whose tf.keras is Keras 2 (--keras 2)
    # A CPython uv downloads may compete with the host's (pythons.py): "auto" or "never" (today's
    # behaviour: host Pythons only). managed_python: prefer it even where a host Python fits.
    python_downloads: str = "auto"
    managed_python: bool = False
    today: str = EOL_CHECKED  # YYYY-MM-DD: which Pythons are past their end of life (pure: an input)


@dataclass(frozen=True)
class Hint:
    """A request to try instead, checked by planning it (make_hint): the flags to type, only those that
    differ from the request given, and what that request picks."""
    request: PlanRequest
    flags: Tuple[str, ...]
    recipe: str
    tensorflow: str
    python: str
    executable: str = ""  # the interpreter it picks

    def text(self) -> str:
        return f"{' '.join(self.flags)} ({self.recipe}: TensorFlow {self.tensorflow}, Python {self.python})"

    def to_json(self) -> Dict[str, Any]:
        return {"flags": list(self.flags), "recipe": self.recipe, "tensorflow": self.tensorflow,
                "python": self.python, "executable": self.executable}


@dataclass(frozen=True)
class Rejection:
    recipe: str
    reasons: List[str]
    select: Optional[Hint] = None  # the flags that pick this row instead, where one change does

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"recipe": self.recipe, "reasons": list(self.reasons)}
        if self.select is not None:
            doc["select"] = self.select.to_json()
        return doc


@dataclass(frozen=True)
class Plan:
    recipe: Recipe
    python: PythonInfo
    launch: List[str]
    lock: Lock
    warnings: List[str] = field(default_factory=list)
    rejected: List[Rejection] = field(default_factory=list)
    hints: List[Hint] = field(default_factory=list)  # the checked requests the warnings suggest
    managed: Optional[ManagedPython] = None  # the Python is downloaded by uv at install (executable "" until then)
    passed_over: List[str] = field(default_factory=list)  # why the host's Pythons were not used

    def with_interpreter(self, python: PythonInfo, launch: List[str]) -> "Plan":
        """This plan on the managed Python, once installed (managed stays: where it came from)."""
        return replace(self, python=python, launch=list(launch))

    @property
    def packages(self) -> Dict[str, str]:
        pins = self.lock.pins
        shown = {self.recipe.distribution: pins.get(self.recipe.distribution, self.recipe.tensorflow)}
        shown.update({name: pins[name] for name in SHOWN_PACKAGES if name in pins})
        return shown

    def to_json(self) -> Dict[str, Any]:
        return {
            "recipe": self.recipe.id,
            "accelerator": self.recipe.accelerator,
            "python": self._python_json(),
            "packages": self.packages,
            "warnings": list(self.warnings),
            "rejected": [r.to_json() for r in self.rejected],
            # extensions: a JSON document only gains keys, never renames one (scripts read it)
            "hints": [h.to_json() for h in self.hints],
            "platform": self.recipe.platform,
            "python_platform": self.recipe.python_platform,
            "lock": {"path": self.recipe.lock_relpath(self.python.minor), "digest": self.lock.digest,
                     "packages": len(self.lock.pins)},
            "keras": self.recipe.keras,
            "env": dict(self.recipe.env),
        }

    def _python_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"executable": self.python.executable or None, "version": self.python.version,
                               "launch": list(self.launch),
                               # extensions
                               "source": "managed" if self.managed else self.python.source,
                               "archs": list(self.python.archs)}
        if self.managed is not None:
            doc.update(self.managed.to_json())
        if self.passed_over:
            doc["passed_over"] = list(self.passed_over)
        return doc


class PlanError(TfsetupError):
    """Nothing fits (exit 3, with every rejection) or the request itself is bad (exit 2)."""

    def __init__(self, message: str, exit_code: int = EXIT_NO_RECIPE,
                 rejected: Sequence[Rejection] = (), fix: Optional[str] = None,
                 hints: Sequence[Hint] = ()) -> None:
        super().__init__(message, exit_code, fix)
        self.rejected = list(rejected)
        self.hints = list(hints)  # the checked requests the fix names

    def to_json(self) -> Dict[str, Any]:
        doc = super().to_json()
        if self.exit_code == EXIT_NO_RECIPE:
            doc["rejected"] = [r.to_json() for r in self.rejected]
            doc["hints"] = [h.to_json() for h in self.hints]
        return doc


# ---------------------------------------------------------------------------------------------
# host and request checks (each returns human reasons; empty means "fits")

def host_accelerator(facts: HostFacts) -> str:
    """The best accelerator this host really has."""
    if facts.os == "macos" and facts.machine == "arm64":
        return "metal"  # every Apple Silicon Mac has a Metal GPU
    if facts.os == "linux" and facts.machine == "x86_64" and facts.has_gpu("nvidia"):
        return "cuda"
    return "cpu"


def _version_lt(a: Optional[str], b: str) -> bool:
    try:
        return a is not None and Version(a) < Version(b)
    except InvalidVersion:
        return False


def _os_label(os_name: str) -> str:
    return {"macos": "macOS", "linux": "Linux", "windows": "Windows"}.get(os_name, os_name)


def host_reasons(recipe: Recipe, facts: HostFacts) -> List[str]:
    """Why this recipe cannot run on this host at all (independent of what was asked)."""
    if recipe.platform != facts.platform:
        return [f"built for {_os_label(recipe.os)} {recipe.machine}; "
                f"this host is {_os_label(facts.os)} {facts.machine}"]
    reasons = []
    if recipe.min_os and facts.os == "macos" and _version_lt(facts.os_version, recipe.min_os):
        reasons.append(f"needs macOS {recipe.min_os} or newer (the minimum its binaries are built for, "
                       f"read from their LC_BUILD_VERSION); this Mac runs {facts.os_version}")
    if recipe.min_glibc and facts.glibc and _version_lt(facts.glibc, recipe.min_glibc):
        reasons.append(f"needs glibc {recipe.min_glibc} or newer; this host has {facts.glibc}")
    if recipe.requires_avx and facts.cpu_flags and "avx" not in facts.cpu_flags:
        reasons.append("TensorFlow's x86_64 wheels need AVX and this CPU lacks it "
                       "(the import would die with SIGILL)")
    if recipe.accelerator == "cuda":
        nvidia = [g for g in facts.gpus if g.vendor == "nvidia"]
        if not nvidia:
            reasons.append("needs an NVIDIA GPU; none found (no nvidia-smi or no device)")
        elif recipe.min_nvidia_driver and all(_version_lt(g.driver, recipe.min_nvidia_driver) for g in nvidia):
            reasons.append(f"needs NVIDIA driver {recipe.min_nvidia_driver} or newer; "
                           f"found {', '.join(g.driver or '?' for g in nvidia)}")
    if recipe.accelerator == "metal" and host_accelerator(facts) != "metal":
        reasons.append("needs an Apple Silicon GPU")
    return reasons


def tf_matches(recipe: Recipe, requested: str) -> bool:
    """'2.19' matches 2.19.x; '2.19.1' matches exactly."""
    parts = requested.split(".")
    return recipe.tensorflow.split(".")[: len(parts)] == parts


def request_reasons(recipe: Recipe, request: PlanRequest) -> List[str]:
    """Why this recipe is not what was asked for."""
    reasons = []
    if request.recipe_id and recipe.id != request.recipe_id:
        reasons.append(f"not the requested recipe {request.recipe_id}")
    if request.tf and not tf_matches(recipe, request.tf):
        reasons.append(f"TensorFlow {recipe.tensorflow}, not the requested {request.tf}")
    if request.accelerator and recipe.accelerator != request.accelerator:
        wanted = "CPU-only was requested" if request.accelerator == "cpu" \
            else f"{ACCELERATOR_NAMES[request.accelerator]} was requested"
        reasons.append(f"{ACCELERATOR_NAMES[recipe.accelerator]} recipe; {wanted}")
    if recipe.status == "prerelease" and not request.pre:
        reasons.append("pre-release; pass --pre to allow it")
    if request.keras and recipe.keras != request.keras:
        reasons.append(f"tf.keras is Keras {recipe.keras} here; Keras {request.keras} was requested")
    return reasons


def opt_in_flag(recipe: Recipe) -> Optional[str]:
    """The flag that selects a row the planner never picks on its own (a Keras 2 stack on TF >= 2.16
    with tf-keras), or None."""
    return f"--keras {recipe.keras}" if recipe.keras_package == "tf-keras" else None


def flags_to_pick(recipe: Recipe) -> List[str]:
    """The flags without which `plan` never picks this row, even where it fits the host."""
    flags = ["--pre"] if recipe.status == "prerelease" else []
    keras = opt_in_flag(recipe)
    return flags + [keras] if keras else flags


def opt_in(recipe: Recipe, request: PlanRequest) -> bool:
    """Rows only a request selects: their flag (opt_in_flag) or --recipe."""
    return opt_in_flag(recipe) is not None and not request.keras and request.recipe_id != recipe.id


def _is_prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return True


def interpreter_reason(py: PythonInfo, recipe: Recipe, facts: HostFacts, request: PlanRequest) -> Optional[str]:
    """Why this interpreter cannot carry this recipe, or None when it can."""
    if py.implementation != "cpython":
        return f"{py.implementation}, not CPython"
    if py.free_threaded:
        return "free-threaded build (TensorFlow ships no free-threaded wheels)"
    if facts.machine not in py.archs:
        return f"{'/'.join(py.archs) or 'unknown arch'} only; this {_os_label(facts.os)} host is {facts.machine}"
    if request.python and py.minor != request.python:
        return f"Python {py.minor}, not the requested {request.python}"
    if _is_prerelease(py.version) and not request.pre:
        return f"Python {py.version} is a pre-release; pass --pre to allow it"
    if py.minor not in recipe.pythons:
        return f"Python {py.minor} is not supported (needs {_span(recipe.pythons)})"
    if py.minor not in recipe.locks:
        return f"no lock for Python {py.minor} (run scripts/lock_recipes.py)"
    return None


def _span(pythons: Sequence[str]) -> str:
    ordered = sorted(pythons, key=lambda v: int(v.split(".")[1]))
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


def _python_rank(py: PythonInfo) -> Tuple[int, int]:
    source = SOURCE_PREFERENCE.index(py.source) if py.source in SOURCE_PREFERENCE else len(SOURCE_PREFERENCE)
    return (-int(py.minor.split(".")[1]), source)


def managed_candidate(recipe: Recipe, facts: HostFacts, request: PlanRequest) -> Optional[PythonInfo]:
    """The newest CPython uv can download for this recipe on this host (source "managed", no executable
    yet), or None: downloads off, no build for this host, or no minor fits. Never one past its end of
    life unless it was asked for by name (--python)."""
    if request.python_downloads != "auto":
        return None
    minors = [m for m in recipe.pythons if m in recipe.locks and
              (m == request.python if request.python else not is_eol(m, request.today))]
    found = managed_pythons(facts.os, facts.machine, facts.glibc, minors)
    if not found:
        return None
    return PythonInfo(executable="", version=found[0].minor, archs=[facts.machine], source="managed")


def managed_for(py: PythonInfo, facts: HostFacts) -> Optional[ManagedPython]:
    if py.source != "managed":
        return None
    found = managed_pythons(facts.os, facts.machine, facts.glibc, [py.minor])
    return found[0] if found else None


def choose_interpreter(recipe: Recipe, facts: HostFacts, request: PlanRequest
                       ) -> Tuple[Optional[PythonInfo], List[str]]:
    """(the best interpreter for the recipe, or None with the reasons each candidate failed).

    A host Python that fits wins (nothing to download) unless it is past its end of life and was not
    asked for by name, or --managed-python; else a managed one uv downloads (managed_candidate)."""
    fits, reasons = [], []
    for py in facts.pythons:
        why = interpreter_reason(py, recipe, facts, request)
        if why is None:
            fits.append(py)
        else:
            reasons.append(f"{py.executable}: {why}")
    host = sorted(fits, key=_python_rank)[0] if fits else None
    managed = managed_candidate(recipe, facts, request)
    if managed is not None and (host is None or request.managed_python
                                or (not request.python and is_eol(host.minor, request.today))):
        return managed, []
    if host is not None:
        return host, []
    needs = f"needs {_span(recipe.pythons)}, {facts.machine}"
    if request.python and request.python not in recipe.pythons:  # one reason, not one per interpreter
        return None, [f"no usable Python for it ({needs}): Python {request.python} was requested"]
    if request.python and not any(py.minor == request.python for py in facts.pythons):
        found = ", ".join(sorted({py.minor for py in facts.pythons}, key=lambda v: int(v.split(".")[1])))
        return None, [f"no usable Python for it ({needs}): no Python {request.python} on this host "
                      f"(found {found or 'none'})"]
    if not facts.pythons:
        reasons.append("no Python interpreter was found on this host")
    return None, [f"no usable Python for it ({needs}): " + "; ".join(reasons)]


def eol_reason(recipe: Recipe, minor: str) -> str:
    """"Python 3.9 reached end of life in October 2025; its lock cannot take urllib3 2.7+ / keras 3.11+"."""
    text = f"Python {minor} reached end of life in {eol_month(minor)}"
    held = []
    for note in security_notes(recipe, minor):  # "urllib3 2.6.3 (Python 3.9 lock; urllib3 2.7+ requires ..."
        held += re.findall(r"(\S+ \d+(?:\.\d+)*\+) requires Python", note)
    return text + (f"; its lock cannot take {' / '.join(held)}" if held else "")


def passed_over(facts: HostFacts, table: RecipeTable, request: PlanRequest, recipe: Recipe) -> List[str]:
    """Why each host Python was not used when the plan downloads one."""
    notes = []
    host_only, _ = _evaluate(facts, table, replace(request, python_downloads="never"))
    if host_only is not None and host_only[0].id != recipe.id:
        other, py = host_only
        notes.append(f"the host's Pythons reach only {other.id} ({ACCELERATOR_NAMES[other.accelerator]}, "
                     f"{py.executable} {py.version})")
    for py in facts.pythons:
        why = interpreter_reason(py, recipe, facts, request)
        if why is None:
            why = eol_reason(recipe, py.minor) if is_eol(py.minor, request.today) else \
                "--managed-python asks for a uv-managed Python"
        notes.append(f"{py.executable} ({py.version}): {why}")
    if not facts.pythons:
        notes.append("no Python interpreter was found on this host")
    return notes


def launch_for(py: PythonInfo, facts: HostFacts) -> List[str]:
    # Every child that creates, fills or tests the env starts the way this launch does.
    if not py.executable:
        return []  # a managed Python: known once uv has installed it (Plan.with_interpreter)
    return native_launch(py.executable, facts.os, facts.machine, facts.rosetta, py.archs)


def python_fix(facts: HostFacts, recipe: Recipe) -> str:
    newest = sorted(recipe.pythons, key=lambda v: int(v.split(".")[1]))[-1]
    if facts.os == "macos":
        return f"install an arm64 Python {newest} (`brew install python@{newest}` or `uv python install {newest}`)" \
            if facts.machine == "arm64" else f"install Python {newest} (`brew install python@{newest}`)"
    return f"install Python {newest} (`uv python install {newest}`)"


# ---------------------------------------------------------------------------------------------

def _ranked(table: RecipeTable, best: str) -> List[Recipe]:
    order = {acc: i for i, acc in enumerate([best] + [a for a in ACCELERATORS if a != best])}
    return sorted(table.recipes, key=lambda r: (order[r.accelerator], *recipe_rank(r)))


def recipe_rank(recipe: Recipe) -> Tuple[bool, bool, float]:
    """THE order of recipes of one accelerator, best first when sorted by it: a stable release before a
    prerelease, the table's default first, then the newest TensorFlow. The planner, the team lock
    (team/lockfile.recipes_for) and doctor's fixes (doctor/rules) all rank by it."""
    v = recipe.tf_version
    return (recipe.status == "prerelease", not recipe.default, -(v.major * 1e6 + v.minor * 1e3 + v.micro))


def _unknown_tf(table: RecipeTable, requested: str, facts: Optional[HostFacts] = None) -> str:
    """With `facts`: list only the versions of the recipes that fit that host (when planning)."""
    minor = ".".join(requested.split(".")[:2])
    pinned = sorted({r.tensorflow for r in table.recipes if r.tf_minor == minor}, key=Version)
    if pinned:  # 2.19.0 asked, 2.19.1 pinned: say so rather than "unknown"
        return (f"no recipe pins TensorFlow {requested}; {minor} is pinned at {', '.join(pinned)} "
                f"(the tested patch release): pass --tf {minor}")
    fitting = [r for r in table.recipes if facts is not None and not host_reasons(r, facts)]
    rows = fitting or list(table.recipes)
    stable = {r.tf_minor for r in rows if r.status != "prerelease"}
    pre = {r.tf_minor for r in rows if r.status == "prerelease"} - stable
    known = [*sorted(stable, key=Version, reverse=True), *(f"{v} (pre-release, with --pre)" for v in sorted(pre))]
    where = "the recipes that fit this host have" if fitting else "the recipes table has"
    return f"no recipe for TensorFlow {requested}; {where} {', '.join(known)}"


def check_python_request(value: str) -> None:
    """--python is a minor version (3.12): recipes, locks and wheels are per minor version."""
    if _PY_REQUEST.match(value):
        return
    if re.match(r"^3\.\d+\.\d+$", value):
        minor = ".".join(value.split(".")[:2])
        message = f"--python takes a minor version like {minor}, not {value}: the best {minor} build found is used"
    elif re.match(r"^[0-9]+(\.[0-9]+)*$", value):
        message = (f"--python takes a minor version like 3.12, not {value}" if value == "3" else
                   f"Python {value} is not supported: TensorFlow needs Python 3 (--python 3.12, for example)")
    else:
        message = f"--python must look like 3.12, got {value!r}"
    raise PlanError(message, EXIT_BAD_INPUT)


def validate_request(table: RecipeTable, request: PlanRequest, facts: Optional[HostFacts] = None) -> None:
    if request.tf is not None:
        if not _TF_REQUEST.match(request.tf):
            raise PlanError(f"--tf must look like 2.19 or 2.19.1, got {request.tf!r}", EXIT_BAD_INPUT)
        if not any(tf_matches(r, request.tf) for r in table.recipes):
            raise PlanError(_unknown_tf(table, request.tf, facts), EXIT_BAD_INPUT,
                            fix="pass one of those with --tf, or leave --tf out for this host's default")
    if request.python is not None:
        check_python_request(request.python)
    if request.python_downloads not in ("auto", "never"):
        raise PlanError(f"--python-downloads must be auto or never, got {request.python_downloads!r}",
                        EXIT_BAD_INPUT)
    if request.accelerator is not None and request.accelerator not in ACCELERATORS:
        raise PlanError(f"unknown accelerator {request.accelerator!r}; choose {', '.join(ACCELERATORS)}",
                        EXIT_BAD_INPUT)
    if request.recipe_id is not None and table.by_id(request.recipe_id) is None:
        raise PlanError(f"unknown recipe {request.recipe_id!r}; `tfsetup recipes --all` lists them",
                        EXIT_BAD_INPUT)


def _evaluate(facts: HostFacts, table: RecipeTable, request: PlanRequest
              ) -> Tuple[Optional[Tuple[Recipe, PythonInfo]], List[Rejection]]:
    """(the first row, in rank order, that fits the host and the request, with its interpreter; every
    other row of the host's platform with why it was not chosen). Rows of other platforms are listed by
    `tfsetup recipes --all`, not here."""
    chosen = None
    rejected = []
    for recipe in _ranked(table, request.accelerator or host_accelerator(facts)):
        if recipe.platform != facts.platform:
            continue
        if opt_in(recipe, request):
            rejected.append(_opt_in_rejection(recipe, facts, request))
            continue
        reasons = host_reasons(recipe, facts) + request_reasons(recipe, request)
        py = None
        if not reasons:
            py, reasons = choose_interpreter(recipe, facts, request)
        if reasons:
            rejected.append(Rejection(recipe.id, reasons))
        elif chosen is None and py is not None:
            chosen = (recipe, py)
        elif chosen is not None and py is not None:  # fits too: ranked below the chosen row
            rejected.append(Rejection(recipe.id, [_ranked_below(recipe, chosen[0])],
                                      _select_hint(recipe, py, request)))
    return chosen, rejected


def _opt_in_rejection(recipe: Recipe, facts: HostFacts, request: PlanRequest) -> Rejection:
    """A row only its flag selects: that, and what else would stand in its way with the flag given."""
    flag = opt_in_flag(recipe)
    with_flag = replace(request, keras=recipe.keras)
    reasons = host_reasons(recipe, facts) + request_reasons(recipe, with_flag)
    py = None
    if not reasons:
        py, reasons = choose_interpreter(recipe, facts, with_flag)
    first = f"a Keras {recipe.keras} stack ({recipe.keras_package}), chosen only with {flag}"
    return Rejection(recipe.id, [first] + reasons,
                     _select_hint(recipe, py, request) if py is not None else None)


def _ranked_below(recipe: Recipe, chosen: Recipe) -> str:
    """Why a row that fits was not chosen: the rank order of _ranked, in words."""
    if recipe.accelerator != chosen.accelerator:
        why = f"{ACCELERATOR_NAMES[chosen.accelerator]} comes first on this host"
    elif recipe.status == "prerelease" and chosen.status != "prerelease":
        why = "a stable release comes first"
    elif chosen.default and not recipe.default:
        why = "it is the default"
    else:
        why = "it is newer"
    return f"fits too, but {chosen.id} is chosen ({why})"


def _select_hint(recipe: Recipe, py: PythonInfo, request: PlanRequest) -> Hint:
    """--recipe ID on top of the request: the row fits with it, so planning it picks the row (checked by
    the tests, which plan every hint)."""
    wanted = replace(request, recipe_id=recipe.id)
    return Hint(wanted, flag_changes(request, wanted), recipe.id, recipe.tensorflow, py.minor, py.executable)


# ---------------------------------------------------------------------------------------------
# hints: requests to try instead, each checked by planning it before it is suggested

def request_flags(request: PlanRequest) -> Dict[str, str]:
    """The command-line flags that give this request (flag -> value, "" for a switch)."""
    flags: Dict[str, str] = {}
    if request.tf:
        flags["--tf"] = request.tf
    if request.python:
        flags["--python"] = request.python
    if request.accelerator == "cpu":
        flags["--cpu-only"] = ""
    elif request.accelerator:
        flags["--accelerator"] = request.accelerator
    if request.recipe_id:
        flags["--recipe"] = request.recipe_id
    if request.pre:
        flags["--pre"] = ""
    if request.keras:
        flags["--keras"] = str(request.keras)
    return flags


def flag_changes(given: PlanRequest, wanted: PlanRequest) -> Tuple[str, ...]:
    """What to type on top of the given flags to get `wanted`: new or changed flags, and "without X" for
    one to leave out. Never a flag exactly as it was given."""
    old, new = request_flags(given), request_flags(wanted)
    changes = [f"{flag} {value}".strip() for flag, value in new.items() if old.get(flag) != value]
    changes += [f"without {flag}" for flag in old if flag not in new]
    return tuple(changes)


def make_hint(facts: HostFacts, table: RecipeTable, given: PlanRequest, wanted: PlanRequest,
              accept: Optional[Callable[[Recipe], bool]] = None) -> Optional[Hint]:
    """`wanted` as a hint when it differs from `given` and plans (and its recipe is acceptable), else None."""
    flags = flag_changes(given, wanted)
    if not flags:
        return None
    try:
        validate_request(table, wanted, facts)
    except PlanError:
        return None
    found, _ = _evaluate(facts, table, wanted)
    if found is None or (accept is not None and not accept(found[0])):
        return None
    recipe, py = found
    return Hint(wanted, flags, recipe.id, recipe.tensorflow, py.minor, py.executable)


def _host_minors(facts: HostFacts) -> List[str]:
    return sorted({py.minor for py in facts.pythons}, key=lambda v: -int(v.split(".")[1]))


def _platform_tf_minors(table: RecipeTable, facts: HostFacts, accelerator: Optional[str] = None) -> List[str]:
    """The TensorFlow minors of the host platform's rows (of one accelerator), newest first."""
    rows = [r for r in _ranked(table, accelerator or host_accelerator(facts)) if r.platform == facts.platform
            and (accelerator is None or r.accelerator == accelerator) and not host_reasons(r, facts)]
    minors: List[str] = []
    for recipe in rows:
        if recipe.tf_minor not in minors:
            minors.append(recipe.tf_minor)
    return minors


def _better_accelerator(facts: HostFacts, table: RecipeTable, request: PlanRequest, best: str) -> Optional[Hint]:
    """The nearest request that plans a recipe for the host's best accelerator: another Python of this
    host, another TensorFlow, or without --keras; checked by planning it."""
    candidates = [replace(request, python=minor) for minor in _host_minors(facts)]
    candidates += [replace(request, tf=minor) for minor in _platform_tf_minors(table, facts, best)]
    candidates += [replace(request, tf=minor, python=None) for minor in _platform_tf_minors(table, facts, best)
                   if request.python]
    candidates.append(replace(request, keras=None))
    for candidate in candidates:
        hint = make_hint(facts, table, request, candidate, accept=lambda r: r.accelerator == best)
        if hint is not None:
            return hint
    return None


def _nearest_tf(facts: HostFacts, table: RecipeTable, request: PlanRequest) -> List[Hint]:
    """The working TensorFlow versions nearest to the one asked: the closest below and above (closer first)."""
    asked = Version(request.tf or "0")
    working = []
    for minor in sorted({r.tf_minor for r in table.recipes if r.platform == facts.platform}, key=Version):
        hint = make_hint(facts, table, request, replace(request, tf=minor))
        if hint is not None:
            working.append((abs(Version(minor).minor - asked.minor) + 100 * abs(Version(minor).major - asked.major),
                            Version(minor) > asked, hint))
    below = [w for w in working if not w[1]][-1:]
    above = [w for w in working if w[1]][:1]
    return [hint for _, _, hint in sorted(below + above, key=lambda w: (w[0], w[1]))]


def _nearest(facts: HostFacts, table: RecipeTable, request: PlanRequest) -> List[Hint]:
    """The closest requests that do work: change one constraint at a time, each checked by planning it."""
    if request.tf is not None and not _evaluate(facts, table, replace(request, pre=True))[0]:
        nearest_tf = _nearest_tf(facts, table, request)
        if nearest_tf:
            return nearest_tf
    candidates: List[PlanRequest] = [replace(request, pre=True)]
    candidates += [replace(request, tf=minor) for minor in _platform_tf_minors(table, facts)]
    candidates += [replace(request, python=minor) for minor in _host_minors(facts)]
    candidates += [replace(request, accelerator=None), replace(request, keras=None), replace(request, tf=None)]
    if request.recipe_id:
        relaxed = _evaluate(facts, table, replace(request, recipe_id=None))[0]
        if relaxed is not None:
            candidates.append(replace(request, recipe_id=relaxed[0].id))
        candidates.append(replace(request, recipe_id=None))
    for candidate in candidates:
        hint = make_hint(facts, table, request, candidate)
        if hint is not None:
            return [hint]
    return []


def plan(facts: HostFacts, table: RecipeTable, request: PlanRequest = PlanRequest()) -> Plan:
    validate_request(table, request, facts)
    chosen, rejected = _evaluate(facts, table, request)
    if chosen is None:
        own = [r for r in table.recipes if r.platform == facts.platform]
        fix = None
        hints: List[Hint] = []
        if not own:
            platforms = sorted({r.platform for r in table.recipes})
            message = (f"no recipe exists for {facts.os} {facts.machine}; "
                       f"tfsetup has recipes for {', '.join(platforms)}")
        else:
            asked = table.by_id(request.recipe_id) if request.recipe_id else None
            if asked is not None and asked.platform != facts.platform:
                message = f"recipe {asked.id} is {host_reasons(asked, facts)[0]}"
            else:
                message = f"no recipe fits this {_os_label(facts.os)} {facts.machine} host for this request"
            hints = _nearest(facts, table, request)
            if hints:
                fix = "nearest working choice: " + " or ".join(h.text() for h in hints)
            elif any("no usable Python" in reason for rej in rejected for reason in rej.reasons):
                fix = python_fix(facts, own[0])
            elif all(any("need AVX" in reason for reason in rej.reasons) for rej in rejected):
                check = " (check: `grep -o -w avx /proc/cpuinfo`)" if facts.os == "linux" else ""
                message += "; every x86_64 TensorFlow wheel on PyPI is built with AVX"
                fix = f"use a machine whose CPU has AVX{check}, or build TensorFlow from source without it"
        raise PlanError(message, EXIT_NO_RECIPE, rejected, fix, hints)
    recipe, py = chosen
    hints = []
    warnings = _warnings(facts, table, request, recipe, py, rejected, hints)
    managed = managed_for(py, facts)
    return Plan(recipe=recipe, python=py, launch=launch_for(py, facts), lock=recipe.locks[py.minor],
                warnings=warnings, rejected=rejected, hints=hints, managed=managed,
                passed_over=passed_over(facts, table, request, recipe) if managed else [])


def security_notes(recipe: Recipe, python: str) -> List[str]:
    """The recipe's security notes that concern this Python's lock, without their source URLs
    (a note names its lock as "(Python 3.9 lock; ..."; notes naming no lock concern every one)."""
    notes = []
    for note in recipe.security_notes:
        named = re.search(r"\(Python ((?:3\.\d+(?:, | and )?)+) locks?", note)
        if named is None or python in re.findall(r"3\.\d+", named.group(1)):
            notes.append(note.split(" - http", 1)[0])
    return notes


def _warnings(facts: HostFacts, table: RecipeTable, request: PlanRequest, recipe: Recipe, py: PythonInfo,
              rejected: List[Rejection], hints: List[Hint]) -> List[str]:
    """The plan's warnings; a hint a warning names is appended to `hints`."""
    warnings = []
    best = host_accelerator(facts)
    if request.accelerator is None and recipe.accelerator != best:
        better = [r for r in rejected if (table.by_id(r.recipe) or recipe).accelerator == best]
        why = better[0].reasons[0] if better else "no recipe for it"
        fix = ""
        hint = _better_accelerator(facts, table, request, best)
        python_blocked = [r for r in better if any("no usable Python" in reason for reason in r.reasons)]
        if hint is not None:
            hints.append(hint)
            changed = hint.request.python != request.python and len(hint.flags) == 1
            fix = f" For {ACCELERATOR_NAMES[best]}: {' '.join(hint.flags)}" + \
                (f" ({hint.executable} is here)." if changed
                 else f" ({hint.recipe}: TensorFlow {hint.tensorflow}, Python {hint.python}).")
        elif python_blocked:  # the machine, not the request, stands in the way: a Python to install
            target = table.by_id(python_blocked[0].recipe) or recipe
            fix = f" For {ACCELERATOR_NAMES[best]}: {python_fix(facts, target)}."
        warnings.append(f"{ACCELERATOR_NAMES[recipe.accelerator]} TensorFlow: no "
                        f"{ACCELERATOR_NAMES[best]} recipe fits ({better[0].recipe if better else best}: {why})."
                        + fix)
    if recipe.requires_avx and not facts.cpu_flags and facts.machine == "x86_64":
        warnings.append("could not read the CPU's flags; assuming AVX (without it the import dies with SIGILL)")
    if recipe.status == "legacy":  # how to select it is moot: it is selected (and may repeat a given flag)
        summary = re.sub(r";\s*select with [^;]*$", "", recipe.summary)
        warnings.append(f"{recipe.id} is a legacy set kept for compatibility: {summary}".rstrip(": "))
    warnings.extend(recipe.warnings)
    for note in security_notes(recipe, py.minor):
        warnings.append(f"known advisory the lock cannot move past: {note}")
    if facts.os == "macos" and facts.rosetta:
        warnings.append("tfsetup runs under Rosetta (x86_64) on this Mac; the env is built and tested as arm64 "
                        "through `arch -arm64`. Use it from a native (arm64) terminal.")
    if facts.os == "windows" and facts.has_gpu("nvidia"):
        warnings.append("native Windows TensorFlow has no GPU support after 2.10; for the NVIDIA GPU use "
                        "WSL2 and run tfsetup inside it (https://www.tensorflow.org/install/pip#windows-wsl2)")
    if py.source == "conda":
        warnings.append(f"the chosen Python is a conda interpreter ({py.executable}); "
                        "a Homebrew or python.org build is a better base for a venv")
    return warnings
