#!/usr/bin/env python3
"""Benchmark `tfsetup prove` and doctor's fast pass with the loader check (a measurement, not a test).

    scripts/bench_prove.py [--reps 5] [--json] [--recipes]

1. `tfsetup prove --platform macos-arm64 --python 3.11 tensorflow==2.19.1 tensorflow-metal==1.2.0`, wheels
   warm in the uv cache, their analyses and the verdict in tfsetup's (bincache.py, prove/verdicts.py; one
   untimed run first): target
   <= 1.0 s on an idle machine; the same with TFSETUP_NO_CACHE=1 (every binary read again) for comparison.
2. `tfsetup doctor --host-file tests/fixtures/hosts/m1-native-homebrew.json ENV --json` on a Mac-shaped env
   (a Linux venv holding those macOS wheels and numpy): target <= 1.5 s. Also the loader check alone, as
   doctor calls it (a verdict kept for the same files: prove/verdicts.py; target <= 0.2 s) and without a
   kept verdict (check_loads: every binding checked again from the cached analyses).
3. With --cold-reps N: the same prove cold, N times: a fresh TFSETUP_STATE_DIR each run (no kept tree, analysis or
   verdict), the wheels already in uv's cache (nothing downloaded): target <= 3.0 s.
4. With --recipes: `scripts/prove_recipes.py --check` over every committed proof, timed once: run a
   first --check before (minutes) so that its wheels and analyses are warm: target <= 60 s.

Wall times of the real command lines (startup included); median, min and max, with the load average
(`uptime`'s) before and after, since the machine may be shared. Uses UV_CACHE_DIR and TFSETUP_STATE_DIR
when set.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
M1 = ROOT / "tests" / "fixtures" / "hosts" / "m1-native-homebrew.json"
PINS = ("tensorflow==2.19.1", "tensorflow-metal==1.2.0")
TARGETS = {"prove (warm wheels, warm analyses)": 1.0, "doctor fast pass (Mac-shaped env)": 1.5,
           "loader check alone (in process)": 0.2, "prove_recipes.py --check (all proofs, warm)": 60.0,
           "prove cold (fresh state dir, wheels in uv's cache)": 3.0}


def tfsetup() -> List[str]:
    exe = Path(sys.executable).parent / "tfsetup"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tfsetup"]


def timed(argv: Sequence[str], ok: Sequence[int] = (0, 1), env: Optional[Dict[str, str]] = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=None if env is None else {**os.environ, **env})
    took = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}")
    return took


def uv() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


def mac_env(path: Path) -> Path:
    subprocess.run([uv(), "venv", "--quiet", "--python", "3.11", str(path)], check=True)
    subprocess.run([uv(), "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), "--python-platform",
                    "aarch64-apple-darwin", "--no-deps", *PINS, "numpy==2.1.3"], check=True)
    return path


def stats(values: Sequence[float]) -> Dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3),
            "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--recipes", action="store_true", help="also time prove_recipes.py --check (minutes)")
    parser.add_argument("--cold-reps", type=int, default=0, help="also time N cold proofs (a fresh state dir each)")
    parser.add_argument("--only-cold", action="store_true", help="time only the cold proofs")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "installer"))
    results: Dict[str, Any] = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count()}
    prove = [*tfsetup(), "prove", "--platform", "macos-arm64", "--python", "3.11", *PINS, "--json"]
    timed(prove)  # warm the uv cache and the analysis cache
    runs: Dict[str, List[float]] = {}
    if args.cold_reps:
        runs["prove cold (fresh state dir, wheels in uv's cache)"] = [cold(prove) for _ in range(args.cold_reps)]
    if args.only_cold:
        return report(results, runs, args.json)
    runs["prove (warm wheels, warm analyses)"] = [timed(prove) for _ in range(args.reps)]
    runs["prove (warm wheels, TFSETUP_NO_CACHE=1)"] = [timed(prove, env={"TFSETUP_NO_CACHE": "1"})
                                                      for _ in range(args.reps)]
    with tempfile.TemporaryDirectory(prefix="bench-prove-") as tmp:
        env = mac_env(Path(tmp) / "mac")
        doctor = [*tfsetup(), "doctor", "--host-file", str(M1), str(env), "--json"]
        timed(doctor)
        runs["doctor fast pass (Mac-shaped env)"] = [timed(doctor) for _ in range(args.reps)]
        from tfsetup.prove import macos

        site = env / "lib" / "python3.11" / "site-packages"
        from tfsetup import bincache

        # what doctor calls (a verdict kept by the tree's content when there is one: prove/verdicts.py), then
        # the check itself (the analyses cached, the verdict not); where the first is missing, an older tfsetup
        for name, check in (("loader check alone (in process)", getattr(macos, "loads_kept", None)),
                            ("loader check alone, no kept verdict (in process)", macos.check_loads)):
            if check is None:
                continue
            loader = []
            check(site, "arm64", "14.4.1", full=False)
            for _ in range(args.reps):
                bincache.forget()  # as a new process would: the entries on disk, nothing in memory
                start = time.perf_counter()
                check(site, "arm64", "14.4.1", full=False)
                loader.append(time.perf_counter() - start)
            runs[name] = loader
    if args.recipes:
        check = [sys.executable, str(ROOT / "scripts" / "prove_recipes.py"), "--check"]
        runs["prove_recipes.py --check (all proofs, warm)"] = [timed(check, ok=(0,))]
    return report(results, runs, args.json)


def cold(argv: Sequence[str]) -> float:
    """One proof with nothing in tfsetup's state: a fresh state dir (in TMPDIR: on uv's cache's filesystem,
    uv hard-links the tree as it does for a real state dir), removed after."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        return timed(argv, env={"TFSETUP_STATE_DIR": tmp})


def report(results: Dict[str, Any], runs: Dict[str, List[float]], as_json: bool) -> int:
    results["loadavg_after"] = os.getloadavg()
    results["runs"] = {name: stats(values) for name, values in runs.items()}
    if as_json:
        print(json.dumps(results, indent=2))
        return 0
    before, after = results["loadavg_before"], results["loadavg_after"]
    print(f"{results['cpus']} CPUs; load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
          f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
    for name, s in results["runs"].items():
        target = TARGETS.get(name)
        verdict = "" if target is None else (" ok" if s["median"] <= target else " OVER") + f" (target <= {target} s)"
        print(f"{name}: median {s['median']:.2f} s, min {s['min']:.2f}, max {s['max']:.2f}, n={s['n']}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
