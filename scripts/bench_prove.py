#!/usr/bin/env python3
"""Benchmark `tfsetup prove` and doctor's fast pass with the loader check (a measurement, not a test).

    scripts/bench_prove.py [--reps 5] [--json]

1. `tfsetup prove --platform macos-arm64 --python 3.11 tensorflow==2.19.1 tensorflow-metal==1.2.0`, wheels
   warm in the uv cache (one untimed run first): target <= 10 s.
2. `tfsetup doctor --host-file tests/fixtures/hosts/m1-native-homebrew.json ENV --json` on a Mac-shaped env
   (a Linux venv holding those macOS wheels and numpy): target <= 1.5 s. Also the loader check alone.

Wall times of the real command lines (startup included); median, min and max, with the load average,
since the machine may be shared. Uses UV_CACHE_DIR when set.
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
from typing import Any, Dict, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
M1 = ROOT / "tests" / "fixtures" / "hosts" / "m1-native-homebrew.json"
PINS = ("tensorflow==2.19.1", "tensorflow-metal==1.2.0")
TARGETS = {"prove (warm wheels)": 10.0, "doctor fast pass (Mac-shaped env)": 1.5}


def tfsetup() -> List[str]:
    exe = Path(sys.executable).parent / "tfsetup"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tfsetup"]


def timed(argv: Sequence[str], ok: Sequence[int] = (0, 1)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, text=True)
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
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "installer"))
    results: Dict[str, Any] = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count()}
    prove = [*tfsetup(), "prove", "--platform", "macos-arm64", "--python", "3.11", *PINS, "--json"]
    timed(prove)  # warm the uv cache
    runs: Dict[str, List[float]] = {"prove (warm wheels)": [timed(prove) for _ in range(args.reps)]}
    with tempfile.TemporaryDirectory(prefix="bench-prove-") as tmp:
        env = mac_env(Path(tmp) / "mac")
        doctor = [*tfsetup(), "doctor", "--host-file", str(M1), str(env), "--json"]
        timed(doctor)
        runs["doctor fast pass (Mac-shaped env)"] = [timed(doctor) for _ in range(args.reps)]
        from tfsetup.prove import check_loads

        site = env / "lib" / "python3.11" / "site-packages"
        loader = []
        for _ in range(args.reps):
            start = time.perf_counter()
            check_loads(site, "arm64", "14.4.1", full=False)
            loader.append(time.perf_counter() - start)
        runs["loader check alone (in process)"] = loader
    results["loadavg_after"] = os.getloadavg()
    results["runs"] = {name: stats(values) for name, values in runs.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{results['cpus']} CPUs; load average before {results['loadavg_before'][0]:.2f}, "
          f"after {results['loadavg_after'][0]:.2f}")
    for name, s in results["runs"].items():
        target = TARGETS.get(name)
        verdict = "" if target is None else (" ok" if s["median"] <= target else " OVER") + f" (target <= {target} s)"
        print(f"{name}: median {s['median']:.2f} s, min {s['min']:.2f}, max {s['max']:.2f}, n={s['n']}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
