#!/usr/bin/env python3
"""Benchmark tfsetup against the ways people get TensorFlow without it (GitHub issue 6).

In one run, on this machine, for one recipe's lock (default: the Linux CPU recipe), side by side:

  pip      Apple's guide: `python -m venv`, `pip install <tensorflow dist>==<version>` (unpinned
           dependencies, as the guide does), first `import tensorflow`;
  uv       raw uv: `uv venv`, `uv pip install -r <lock>` (uv's defaults: no bytecode compile),
           first `import tensorflow`;
  tfsetup  `tfsetup install PATH --recipe R --python X.Y` (plan, venv, locked install, quick
           verification, promote); warm runs also find tfsetup's bytecode cache (hash-checked
           .pyc files of the same sources, harvested from an earlier env) in its state directory;

each with an empty cache ("cold") and with the same cache filled by an earlier run ("warm"); and
the latency of `tfsetup detect`, `plan`, `doctor` (fast pass) and `verify` (quick).

Fairness rules (printed with the results):
  * every variant has its own cache directory under --workdir; a cold run starts from an empty one,
    and from an empty tfsetup state directory too;
  * PYTHONDONTWRITEBYTECODE is removed from every child's environment, so that a baseline's first
    import writes its .pyc files the way it does on a normal machine (with the variable set, every
    import of an uncompiled env pays the compile again, which would flatter tfsetup);
  * package-source settings (pip.conf, PIP_FIND_LINKS, UV_INDEX_URL, ...) are dropped, so that all
    three download from the same index (PyPI) and none reads a local mirror;
  * runs are interleaved (pip, uv, tfsetup, pip, uv, ...) so that load from other processes on a
    shared machine spreads over all variants instead of hitting one.

Runs with the tfsetup and uv it is started with: `python scripts/bench.py` from tfsetup's env.
Progress goes to stderr; the table (or with --json one JSON document) to stdout.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

DEFAULT_RECIPE = "linux-x86_64-cpu-tf2.21"
VARIANTS = ("pip", "uv", "tfsetup")
SECTIONS = VARIANTS + ("latency",)
LATENCY_COMMANDS = ("detect", "plan", "doctor", "verify")
STEP_TIMEOUT_S = 1800.0

# Environment variables that pick where packages come from or how caches behave: the benchmark
# sets its own (one cache per variant, PyPI for all), so inherited ones must not leak in.
DROPPED_ENV = (
    "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX",
    "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CACHE_DIR",
    "PIP_NO_CACHE_DIR", "PIP_CONFIG_FILE", "PIP_REQUIRE_VIRTUALENV", "PIP_NO_COMPILE",
    "UV_CACHE_DIR", "UV_NO_CACHE", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX",
    "UV_FIND_LINKS", "UV_OFFLINE", "UV_LINK_MODE", "UV_COMPILE_BYTECODE", "UV_CONFIG_FILE",
    "UV_PYTHON", "TFSETUP_STATE_DIR", "TFSETUP_NO_CACHE", "TFSETUP_UV",
)

# Ratios of medians: (numerator, denominator, cache, what is measured). "total" is the time to a
# working env (venv + install + first import, or tfsetup's whole install with its verification).
RATIOS = {
    "warm_tfsetup_vs_uv": ("tfsetup", "uv", "warm", "total"),
    "warm_pip_vs_tfsetup": ("pip", "tfsetup", "warm", "total"),
    "cold_tfsetup_vs_uv": ("tfsetup", "uv", "cold", "total"),
    "cold_pip_vs_tfsetup": ("pip", "tfsetup", "cold", "total"),
    "warm_pip_vs_tfsetup_install_only": ("pip", "tfsetup", "warm", "install_only"),
    "cold_pip_vs_tfsetup_install_only": ("pip", "tfsetup", "cold", "install_only"),
}

# The targets. "max" means the measured value must be at most the limit.
TARGETS = (
    # (id, description, limit, "max" | "min")
    ("warm_tfsetup_vs_uv", "warm: tfsetup / raw uv (time to a verified env)", 1.3, "max"),
    ("warm_pip_vs_tfsetup", "warm: pip steps / tfsetup", 5.0, "min"),
    ("cold_tfsetup_vs_uv", "cold: tfsetup / raw uv", 1.2, "max"),
    ("detect_s", "`tfsetup detect` latency (s)", 0.3, "max"),
    ("plan_s", "`tfsetup plan` latency (s)", 0.3, "max"),
    ("doctor_s", "`tfsetup doctor` fast pass (s)", 1.0, "max"),
    ("verify_minus_import_s", "`tfsetup verify` minus `import tensorflow` (s)", 3.0, "max"),
)


# ---------------------------------------------------------------------------------------------
# pure helpers (unit-tested in tests/unit/test_bench.py)

@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    min: float
    max: float

    def to_json(self) -> Dict[str, Any]:
        return {"n": self.n, "median": round(self.median, 3), "min": round(self.min, 3),
                "max": round(self.max, 3)}


def summarize(values: Sequence[float]) -> Optional[Stats]:
    """Median with min/max: on a shared, noisy machine a mean would be dragged by one slow run."""
    if not values:
        return None
    return Stats(len(values), statistics.median(values), min(values), max(values))


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def target_status(value: Optional[float], limit: float, kind: str) -> str:
    """'met', 'missed' or 'n/a' (a variant was not run)."""
    if value is None:
        return "n/a"
    ok = value <= limit if kind == "max" else value >= limit
    return "met" if ok else "missed"


def fmt_stats(stats: Optional[Stats]) -> str:
    if stats is None:
        return "-"
    if stats.n == 1:
        return f"{stats.median:.2f}"
    return f"{stats.median:.2f} ({stats.min:.2f}-{stats.max:.2f})"


def fmt_value(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# running and timing children

class BenchError(RuntimeError):
    pass


@dataclass
class Run:
    variant: str
    cache: str  # cold | warm
    rep: int
    steps: Dict[str, float]
    total: float
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"variant": self.variant, "cache": self.cache, "rep": self.rep, "total": round(self.total, 3),
                "steps": {k: round(v, 3) for k, v in self.steps.items()}, "extra": self.extra}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def base_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: no local mirror, no find-links
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"  # a network round trip that is not part of the steps
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # tfsetup's probe sets this; the baselines get the same
    return env


def run_timed(argv: Sequence[str], env: Dict[str, str], capture: bool = False) -> Tuple[float, str]:
    """Wall time of one child; its stdout when asked. A failure stops the benchmark with the tail."""
    started = time.perf_counter()
    proc = subprocess.run(list(argv), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace", timeout=STEP_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 and not (capture and proc.returncode == 1 and proc.stdout.strip()):
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BenchError(f"`{' '.join(argv[:6])} ...` exited {proc.returncode}:\n{tail}")
    return elapsed, proc.stdout if capture else ""


def remove_tree(path: Path) -> None:
    """uv's cache holds read-only files; make them writable rather than fail half-way."""
    def on_error(func: Callable[..., Any], name: str, _exc: Any) -> None:
        os.chmod(name, 0o700)
        func(name)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=on_error)


def env_python(env: Path) -> str:
    return str(env / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


# ---------------------------------------------------------------------------------------------
# what is benchmarked

@dataclass
class Setup:
    workdir: Path
    python: str  # the real interpreter the envs are built from
    python_minor: str  # "3.11"
    recipe: str
    lock: Path
    distribution: str  # tensorflow-cpu
    tf_version: str  # 2.21.0
    uv: str
    tfsetup: List[str]  # how to start the tfsetup under test
    pip_wheelhouse: Optional[Path] = None  # set when pip's own cache does not work here

    def cache(self, variant: str) -> Path:
        return self.workdir / "cache" / variant

    def state(self) -> Path:
        return self.workdir / "cache" / "tfsetup-state"

    def env_dir(self, variant: str) -> Path:
        return self.workdir / "envs" / variant


def import_tf(setup: Setup, env_dir: Path, env: Dict[str, str]) -> float:
    return run_timed([env_python(env_dir), "-c", "import tensorflow"], env)[0]


def pip_env(setup: Setup) -> Dict[str, str]:
    env = base_env()
    env["PIP_CACHE_DIR"] = str(setup.cache("pip"))
    return env


def run_pip(setup: Setup, wheelhouse: Optional[Path] = None) -> Tuple[Dict[str, float], Dict[str, Any]]:
    env = pip_env(setup)
    target = setup.env_dir("pip")
    steps = {"venv": run_timed([setup.python, "-m", "venv", str(target)], env)[0]}
    source = ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse else []
    steps["install"] = run_timed([env_python(target), "-m", "pip", "install", "--quiet", *source,
                                  f"{setup.distribution}=={setup.tf_version}"], env)[0]
    steps["import"] = import_tf(setup, target, env)
    return steps, {"source": "wheelhouse" if wheelhouse else "index"}


def pip_cache_holds_wheels(setup: Setup) -> bool:
    """pip's HTTP cache stores a download only when the response says it may be cached. Behind a
    proxy that strips Cache-Control, nothing is stored and every "warm" pip run downloads again."""
    return any(p.is_file() and p.stat().st_size > 1_000_000 for p in setup.cache("pip").rglob("*"))


def make_pip_wheelhouse(setup: Setup) -> Path:
    """Stand-in for a working pip cache: the same wheels, downloaded once (not timed)."""
    wheelhouse = setup.workdir / "cache" / "pip-wheelhouse"
    remove_tree(wheelhouse)
    run_timed([env_python(setup.env_dir("pip")), "-m", "pip", "download", "--quiet", "--dest", str(wheelhouse),
               f"{setup.distribution}=={setup.tf_version}"], pip_env(setup))
    return wheelhouse


def run_uv(setup: Setup) -> Tuple[Dict[str, float], Dict[str, Any]]:
    env = base_env()
    env["UV_CACHE_DIR"] = str(setup.cache("uv"))
    env["UV_NO_CONFIG"] = "1"  # tfsetup passes --no-config; the baseline reads no config either
    target = setup.env_dir("uv")
    steps = {"venv": run_timed([setup.uv, "venv", "--quiet", "--python", setup.python, str(target)], env)[0]}
    steps["install"] = run_timed([setup.uv, "pip", "install", "--quiet", "--python", env_python(target),
                                  "-r", str(setup.lock)], env)[0]
    steps["import"] = import_tf(setup, target, env)
    return steps, {}


def tfsetup_env(setup: Setup) -> Dict[str, str]:
    env = base_env()
    env["UV_CACHE_DIR"] = str(setup.cache("tfsetup"))
    env["TFSETUP_STATE_DIR"] = str(setup.state())
    return env


def run_tfsetup(setup: Setup) -> Tuple[Dict[str, float], Dict[str, Any]]:
    argv = setup.tfsetup + ["install", str(setup.env_dir("tfsetup")), "--recipe", setup.recipe,
                            "--python", setup.python_minor, "--json", "--yes"]
    wall, out = run_timed(argv, tfsetup_env(setup), capture=True)
    doc = json.loads(out)
    if not doc.get("ok"):
        raise BenchError(f"tfsetup install failed: {doc.get('error')}")
    steps = {k: float(v) for k, v in doc["timings"].items()}
    # Start-up, detection, planning and interpreter probing happen before the first stage.
    steps["other"] = max(0.0, wall - sum(steps.values()))
    checks = {c["id"]: c for c in (doc.get("verification") or {}).get("checks", [])}
    extra = {"python": doc["plan"]["python"]["executable"],
             "tf_import_s": (checks.get("tf-import") or {}).get("data", {}).get("import_seconds")}
    if os.path.realpath(extra["python"]) != os.path.realpath(setup.python):
        log(f"warning: tfsetup chose {extra['python']}, the baselines use {setup.python}")
    return steps, extra


RUNNERS: Dict[str, Callable[[Setup], Tuple[Dict[str, float], Dict[str, Any]]]] = {
    "pip": run_pip, "uv": run_uv, "tfsetup": run_tfsetup}


def one_run(setup: Setup, variant: str, cache: str, rep: int) -> Run:
    remove_tree(setup.env_dir(variant))  # every run builds a fresh env; removal is not timed
    if cache == "cold":
        remove_tree(setup.cache(variant))
        if variant == "tfsetup":
            remove_tree(setup.state())  # no interpreter probe cache either
    setup.cache(variant).mkdir(parents=True, exist_ok=True)
    setup.env_dir(variant).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if variant == "pip" and cache == "warm" and setup.pip_wheelhouse is not None:
        steps, extra = run_pip(setup, setup.pip_wheelhouse)
    else:
        steps, extra = RUNNERS[variant](setup)
    total = time.perf_counter() - started
    log(f"{variant:8} {cache} #{rep}: {total:6.1f}s  " + "  ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    return Run(variant, cache, rep, steps, total, extra)


def bench_installs(setup: Setup, variants: Sequence[str], cold_reps: int, reps: int) -> List[Run]:
    runs: List[Run] = []
    for rep in range(1, cold_reps + 1):
        for variant in variants:  # interleaved: load spikes spread over all variants
            runs.append(one_run(setup, variant, "cold", rep))
    if cold_reps == 0 and reps:
        for variant in variants:
            log(f"{variant:8} priming the cache (not timed)")
            one_run(setup, variant, "cold", 0)
    if "pip" in variants and reps and not pip_cache_holds_wheels(setup):
        log("pip's cache stayed empty (responses here carry no Cache-Control); warm pip installs "
            "from a wheelhouse of the same files instead (downloaded now, not timed)")
        setup.pip_wheelhouse = make_pip_wheelhouse(setup)
    for rep in range(1, reps + 1):
        for variant in variants:
            runs.append(one_run(setup, variant, "warm", rep))
    return runs


def bench_latency(setup: Setup, reps: int) -> Dict[str, List[float]]:
    """Each command once untimed (writes tfsetup's .pyc and the probe cache, as any second use
    would have them), then `reps` timed runs against the tfsetup-made env."""
    env = tfsetup_env(setup)
    target = setup.env_dir("tfsetup")
    if not Path(env_python(target)).exists():
        log("latency needs a tfsetup env: installing one (not timed)")
        setup.cache("tfsetup").mkdir(parents=True, exist_ok=True)
        run_tfsetup(setup)
    commands = {
        "detect": setup.tfsetup + ["detect", "--json"],
        "plan": setup.tfsetup + ["plan", "--recipe", setup.recipe, "--python", setup.python_minor, "--json"],
        "doctor": setup.tfsetup + ["doctor", str(target), "--json"],
        "verify": setup.tfsetup + ["verify", str(target), "--json"],
        "import": [env_python(target), "-c", "import tensorflow"],  # the floor under verify
    }
    no_cache = dict(env, TFSETUP_NO_CACHE="1")
    times: Dict[str, List[float]] = {}
    for name, argv in list(commands.items()) + [("detect (no probe cache)", commands["detect"])]:
        child_env = no_cache if "no probe cache" in name else env
        run_timed(argv, child_env, capture=True)
        times[name] = [run_timed(argv, child_env, capture=True)[0] for _ in range(reps)]
        log(f"latency {name:24} {fmt_stats(summarize(times[name]))} s")
    return times


# ---------------------------------------------------------------------------------------------
# results

def machine_info() -> Dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        if sys.platform == "darwin":
            cpu = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                 text=True).stdout.strip()
    return {"machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(),
            "os": platform.platform(), "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def loadavg() -> Optional[List[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def install_only(run: Run) -> float:
    """Venv + install, without the import/verification: what the design's 41 s vs 1.5 s compared."""
    return run.steps.get("venv", 0.0) + run.steps.get("install", 0.0)


def total_stats(runs: Sequence[Run], variant: str, cache: str,
                measure: Callable[[Run], float] = lambda r: r.total) -> Optional[Stats]:
    return summarize([measure(r) for r in runs if r.variant == variant and r.cache == cache])


def step_stats(runs: Sequence[Run], variant: str, cache: str) -> Dict[str, Stats]:
    chosen = [r for r in runs if r.variant == variant and r.cache == cache]
    names: List[str] = []
    for r in chosen:
        names += [n for n in r.steps if n not in names]
    return {n: s for n in names if (s := summarize([r.steps[n] for r in chosen if n in r.steps]))}


def paired_ratios(runs: Sequence[Run], top: str, bottom: str, cache: str,
                  measure: Callable[[Run], float] = lambda r: r.total) -> List[float]:
    """Per-round ratios: runs of one round ran back to back, so they saw similar load."""
    by_rep = {(r.variant, r.rep): measure(r) for r in runs if r.cache == cache}
    return [by_rep[(top, rep)] / by_rep[(bottom, rep)] for (v, rep) in sorted(by_rep)
            if v == top and by_rep.get((bottom, rep))]


def compute_ratios(runs: Sequence[Run], latency: Dict[str, List[float]]) -> Dict[str, Dict[str, Any]]:
    def med(variant: str, cache: str, measure: Callable[[Run], float]) -> Optional[float]:
        stats = total_stats(runs, variant, cache, measure)
        return stats.median if stats else None

    def lat(name: str) -> Optional[float]:
        stats = summarize(latency.get(name, []))
        return stats.median if stats else None

    total: Callable[[Run], float] = lambda r: r.total
    values: Dict[str, Dict[str, Any]] = {}
    for key, (top, bottom, cache, measure) in RATIOS.items():
        fn = install_only if measure == "install_only" else total
        paired = summarize(paired_ratios(runs, top, bottom, cache, fn))
        values[key] = {"value": ratio(med(top, cache, fn), med(bottom, cache, fn)),
                       "paired": paired.to_json() if paired else None}
    for name in ("detect", "plan", "doctor"):
        values[f"{name}_s"] = {"value": lat(name)}
    verify, imp = lat("verify"), lat("import")
    values["verify_minus_import_s"] = {"value": None if verify is None or imp is None else verify - imp}
    return values


def evaluate_targets(ratios: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = []
    for key, text, limit, kind in TARGETS:
        value = ratios.get(key, {}).get("value")
        rows.append({"id": key, "target": text, "limit": f"{'<=' if kind == 'max' else '>='} {limit:g}",
                     "value": None if value is None else round(value, 3),
                     "status": target_status(value, limit, kind)})
    return rows


def render(report: Dict[str, Any], runs: Sequence[Run], latency: Dict[str, List[float]]) -> str:
    m = report["machine"]
    out = [f"machine: {m['machine']}, {m['cpu']}, {m['cores']} cores, {m['os']}",
           f"date: {m['date']}; load average at start {report['loadavg_start']}, at end {report['loadavg_end']}",
           f"python for the envs: {report['setup']['python']}; lock: {report['setup']['lock']}",
           f"tfsetup {report['setup']['tfsetup_version']}, uv {report['setup']['uv_version']}; "
           "seconds, median (min-max) of n runs", ""]
    labels = {"pip": "pip (Apple's steps)", "uv": "raw uv", "tfsetup": "tfsetup install"}
    rows = []
    for variant in VARIANTS:
        for cache in ("cold", "warm"):
            stats = total_stats(runs, variant, cache)
            if stats is None:
                continue
            steps = step_stats(runs, variant, cache)
            detail = ", ".join(f"{k} {v.median:.1f}" for k, v in steps.items())
            rows.append([labels[variant], cache, str(stats.n), fmt_stats(stats), detail])
    if rows:
        out += [markdown_table(["variant", "cache", "n", "time to a working env (s)", "steps (median s)"], rows), ""]
    if latency:
        lat_rows = [[f"`{name}`" if name != "import" else "`import tensorflow` (2nd, same env)",
                     str(len(v)), fmt_stats(summarize(v))] for name, v in latency.items()]
        out += [markdown_table(["command", "n", "latency (s)"], lat_rows), ""]
    ratios = report["ratios"]
    ratio_rows = []
    for key in RATIOS:
        item = ratios[key]
        paired = item.get("paired")
        spread = f"{paired['min']:.2f}-{paired['max']:.2f}" if paired else "-"
        ratio_rows.append([key, fmt_value(item["value"]), spread])
    out += [markdown_table(["ratio of medians", "value", "per-round range"], ratio_rows), ""]
    target_rows = [[t["target"], t["limit"], fmt_value(t["value"]), t["status"]] for t in report["targets"]]
    out += [markdown_table(["target", "limit", "measured", "status"], target_rows), ""]
    out += ["notes: " + " ".join(report["notes"])]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# set-up

def interpreter_facts(python: str) -> Tuple[str, str]:
    """The real executable behind a name (a pyenv shim is a shell script) and its X.Y."""
    out = subprocess.run([python, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0].strip(), out[1].strip()


def default_python() -> str:
    return shutil.which("python3.11") or sys.executable


def make_setup(args: argparse.Namespace, workdir: Path) -> Setup:
    from uv import find_uv_bin  # the uv installed beside the tfsetup under test

    from tfsetup.recipes import load_recipes

    python, minor = interpreter_facts(args.python)
    recipe = load_recipes().by_id(args.recipe)
    if recipe is None:
        raise BenchError(f"no recipe {args.recipe!r} in tfsetup's table")
    lock = recipe.locks.get(minor)
    if lock is None:
        raise BenchError(f"recipe {recipe.id} has no lock for Python {minor}")
    version = lock.pins.get(recipe.distribution, recipe.tensorflow)
    return Setup(workdir=workdir, python=python, python_minor=minor, recipe=recipe.id, lock=Path(lock.path),
                 distribution=recipe.distribution, tf_version=version, uv=find_uv_bin(),
                 tfsetup=[sys.executable, "-m", "tfsetup"])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time pip (Apple's steps), raw uv and `tfsetup install` side by side, cold and warm, "
                    "and the latency of tfsetup's quick commands. Progress on stderr, results on stdout.")
    parser.add_argument("--python", default=default_python(),
                        help="interpreter the envs are built from (default: python3.11 if present, "
                             "else this Python)")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, help=f"recipe whose lock is used (default {DEFAULT_RECIPE})")
    parser.add_argument("--reps", type=int, default=3, help="warm runs per variant (default 3)")
    parser.add_argument("--cold-reps", type=int, default=None,
                        help="cold runs per variant, each from an empty cache (default: --reps)")
    parser.add_argument("--latency-reps", type=int, default=5, help="timed runs per latency command (default 5)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated subset of pip,uv,tfsetup,latency (default: all)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where caches and envs go (default: a temporary directory, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (always kept when --workdir is given)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    parser.add_argument("--json-out", type=Path, default=None, metavar="FILE",
                        help="also write the JSON document to FILE")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    args.only = only
    if args.cold_reps is None:
        args.cold_reps = args.reps
    if args.reps < 0 or args.cold_reps < 0 or args.latency_reps < 1:
        parser.error("repetition counts must not be negative (and --latency-reps at least 1)")
    return args


def tool_version(argv: Sequence[str]) -> str:
    """`uv 0.13.9 (x86_64-...)` -> `0.13.9`; `tfsetup 0.1.0` -> `0.1.0`."""
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    words = proc.stdout.split()
    return words[1] if proc.returncode == 0 and len(words) > 1 else "?"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tfsetup-bench-"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started_load = loadavg()
    log(f"workdir {workdir}; load average {started_load}")
    try:
        setup = make_setup(args, workdir)
        variants = [v for v in VARIANTS if v in args.only]
        runs = bench_installs(setup, variants, args.cold_reps, args.reps) if variants else []
        latency = bench_latency(setup, args.latency_reps) if "latency" in args.only else {}
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        if args.workdir is None and not args.keep:
            remove_tree(workdir)
    notes = [
        "Each variant has its own cache dir; cold = empty cache (and empty tfsetup state dir),",
        "warm = the same cache after an earlier run. PYTHONDONTWRITEBYTECODE is unset for every child,",
        "so a baseline's first import writes .pyc as on a normal machine. pip.conf and index/find-links",
        "variables are ignored: all variants download from PyPI. tfsetup install includes its quick",
        "verification (import, versions, CPU ops, one train step). Latency commands ran once untimed first.",
    ]
    if setup.pip_wheelhouse is not None:
        notes += ["pip's HTTP cache stayed empty on this network (the responses carry no Cache-Control),",
                  "so warm pip runs install the same wheels from a local wheelhouse (`--no-index",
                  "--find-links`): what a working pip cache would give, without any download."]
    ratios = compute_ratios(runs, latency)
    report: Dict[str, Any] = {
        "machine": machine_info(), "loadavg_start": started_load, "loadavg_end": loadavg(),
        "setup": {"python": setup.python, "python_minor": setup.python_minor, "recipe": setup.recipe,
                  "lock": str(setup.lock), "distribution": setup.distribution, "tensorflow": setup.tf_version,
                  "uv": setup.uv, "uv_version": tool_version([setup.uv, "--version"]),
                  "tfsetup_version": tool_version(setup.tfsetup + ["--version"]),
                  "reps": args.reps, "cold_reps": args.cold_reps, "latency_reps": args.latency_reps,
                  "only": args.only, "pip_warm_source": "wheelhouse" if setup.pip_wheelhouse else "pip cache"},
        "summary": {f"{v}/{c}": {"total": s.to_json(), "steps": {k: x.to_json() for k, x in step_stats(runs, v, c).items()}}
                    for v in VARIANTS for c in ("cold", "warm") if (s := total_stats(runs, v, c))},
        "latency": {k: summarize(v).to_json() for k, v in latency.items() if v},
        "ratios": ratios, "targets": evaluate_targets(ratios),
        "runs": [r.to_json() for r in runs], "notes": notes,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, runs, latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
