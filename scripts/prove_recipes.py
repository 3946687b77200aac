#!/usr/bin/env python3
"""Prove every macOS recipe x Python lock loads, from its exact wheels, and file the proofs (and, with
--cuda, the Linux CUDA recipes' locks).

For each macOS recipe and each Python it has a lock for: fetch the lock's wheels (hash-checked, for the
recipe's platform, as a Mac at the recipe's min_os would pick them) with uv into a throwaway directory,
run `tfsetup prove`'s checks over them (every Mach-O's arch slice and minos, every dependency, every
binding, the Metal plug-in inside TensorFlow's process), and write recipes/proofs/<id>/py3.X.json:
the verdict and problems of what `import tensorflow` loads (macho/startup.py: TensorFlow's own loading
rules), the highest minos among those files (what min_os must cover), every binary loaded only on
demand with its minos and when it is loaded (notes, never the verdict), and for each Mach-O carrying
wheel its version, tag, sha256 (from the lock) and a digest of the Mach-O bytes that were proven.

    scripts/prove_recipes.py                 prove all and write the proofs
    scripts/prove_recipes.py --check         re-prove and compare with the committed proofs (exit 1 on a difference)
    scripts/prove_recipes.py --recipe ID --python 3.11   only these (repeatable)
    scripts/prove_recipes.py --prune --cache-dir DIR     a dedicated uv cache, TF wheels dropped after use
                                                         (each unpacked TF wheel is ~1 GB)
    scripts/prove_recipes.py --cuda --recipe linux-x86_64-cuda-tf2.21 --python 3.12
        the CUDA lock, through the ELF model (elfcheck/): TF's CUDA plug-ins and every libcu*/libcudnn* they
        need must resolve to the nvidia wheels' SONAMEs (libcuda.so.1 is the driver's), every GLIBC_ version
        within min_glibc. ~3 GB of nvidia wheels: not part of the default run or of CI; the committed proof
        is checked against the lock's hashes by tests/unit/test_prove_recipes_cuda.py.
    (new releases on PyPI: scripts/watch.py, the one release watch)

UV_CACHE_DIR is honoured (a warm cache makes a proof a few seconds). A proof is kept in tfsetup's
analysis cache by the lock's bytes, uv's version and the checker's code (proof_key): a second run of
unchanged code over unchanged locks fetches nothing; TFSETUP_NO_CACHE=1 proves everything again.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "installer"))

from packaging.version import Version  # noqa: E402

from tfsetup import bincache  # noqa: E402
from tfsetup.backends.base import PackageSource  # noqa: E402
from tfsetup.backends.uv import UvBackend  # noqa: E402
from tfsetup.errors import TfsetupError  # noqa: E402
from tfsetup.elfcheck.ld import iter_elf_files  # noqa: E402
from tfsetup.macho.dyld import iter_macho_files  # noqa: E402
from tfsetup.prove.result import ProveResult  # noqa: E402
from tfsetup.prove.fetch import fetch  # noqa: E402
from tfsetup.prove.loader import loader_for  # noqa: E402
from tfsetup.prove.macos import problem_json  # noqa: E402
from tfsetup.prove.proof import prove_dir  # noqa: E402
from tfsetup.prove import verdicts  # noqa: E402
from tfsetup.recipes import Recipe, RecipeTable, load_recipes, normalize_name  # noqa: E402

PROOFS = ROOT / "recipes" / "proofs"
SCHEMA = 2  # 2: the verdict is what `import tensorflow` loads; on_demand lists the other binaries


def proof_path(recipe_id: str, python: str) -> Path:
    return PROOFS / recipe_id / f"py{python}.json"


def proven_here(recipe: Recipe, cuda: bool) -> bool:
    """The recipes this script proves: every macOS one; with --cuda, the Linux CUDA ones instead."""
    return recipe.os == "linux" and recipe.accelerator == "cuda" if cuda else recipe.os == "macos"


def macos_pairs(table: RecipeTable, ids: Sequence[str] = (), pythons: Sequence[str] = (),
                cuda: bool = False) -> List[Tuple[Recipe, str]]:
    """(recipe, python) for every proven recipe's lock, grouped by TF wheel (so --prune drops each once)."""
    pairs = [(r, py) for r in table.recipes if proven_here(r, cuda) for py in sorted(r.locks, key=Version)
             if (not ids or r.id in ids) and (not pythons or py in pythons)]
    return sorted(pairs, key=lambda rp: (rp[0].distribution, rp[0].tf_version, rp[0].machine, Version(rp[1]), rp[0].id))


# ---------------------------------------------------------------------------------------------
# one proof

def lock_hashes(lock: Path) -> Dict[str, List[str]]:
    """name -> the sha256s the lock allows for it."""
    out: Dict[str, List[str]] = {}
    name = None
    for line in lock.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if "==" in text and not text.startswith("--hash"):
            name = normalize_name(text.split("==")[0].strip())
            out.setdefault(name, [])
        for part in text.split():
            if part.startswith("--hash=sha256:") and name:
                out[name].append(part[len("--hash=sha256:"):])
    return out


def owners(site: Path) -> Dict[str, Tuple[str, str, str]]:
    """Installed file (relative) -> (distribution, version, wheel tag), from each dist-info's RECORD."""
    out: Dict[str, Tuple[str, str, str]] = {}
    for info in sorted(site.glob("*.dist-info")):
        name, _, version = info.name[:-len(".dist-info")].partition("-")
        tag = ""
        wheel = info / "WHEEL"
        if wheel.is_file():
            tag = ",".join(ln.split(":", 1)[1].strip() for ln in wheel.read_text(errors="replace").splitlines()
                           if ln.startswith("Tag:"))
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text(errors="replace").splitlines():
                path = line.rsplit(",", 2)[0]
                out[os.path.normpath(path)] = (normalize_name(name), version, tag)
    return out


def wheels_of(site: Path, hashes: Dict[str, List[str]], elf: bool = False) -> Dict[str, Dict[str, Any]]:
    """The binary carrying wheels (Mach-O, or ELF with `elf`): version, tag, sha256 (the lock's, when it
    allows one file) and a sha256 over the binaries proven (path and bytes)."""
    who = owners(site)
    files: Dict[str, List[str]] = {}
    for path in (iter_elf_files(site) if elf else iter_macho_files(site)):
        rel = os.path.relpath(path, site)
        files.setdefault(who.get(rel, ("(unowned)", "", ""))[0], []).append(rel)
    out: Dict[str, Dict[str, Any]] = {}
    for name, rels in sorted(files.items()):
        digest = hashlib.sha256()
        for rel in sorted(rels):
            digest.update(rel.encode() + b"\0")
            with open(site / rel, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(chunk)
        owner = who.get(rels[0], (name, "", ""))
        allowed = hashes.get(name, [])
        kind = "elf" if elf else "macho"
        entry: Dict[str, Any] = {"version": owner[1], "tag": owner[2], f"{kind}_files": len(rels),
                                 f"{kind}_sha256": digest.hexdigest()}
        if len(allowed) == 1:
            entry["sha256"] = allowed[0]
        else:
            entry["sha256_one_of"] = sorted(allowed)
        out[name] = entry
    return out


def proof_doc(recipe: Recipe, python: str, result: ProveResult, wheels: Dict[str, Dict[str, Any]],
              lock: Path) -> Dict[str, Any]:
    return {
        "schema": SCHEMA, "recipe": recipe.id, "python": python, "platform": recipe.platform,
        "arch": result.report.arch, "macos": result.judged, "status": recipe.status,
        "lock": recipe.lock_relpath(python), "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest(),
        "verdict": "loads" if result.loads else "does-not-load",
        "highest_minos": {"minos": result.highest[0], "file": result.highest[1]} if result.highest else None,
        "problems": [problem_json(p) for p in result.problems],
        "on_demand": [{"file": f, "minos": m, "when": w} for f, m, w in result.on_demand],
        "on_demand_problems": [dict(problem_json(p), when=p.when) for p in result.report.on_demand],
        "dyld": result.headline(),
        "checked": {"files": result.report.files_checked, "bindings": result.report.bindings_checked,
                    "dependencies": result.report.dependencies_checked},
        "wheels": wheels,
        "made_by": "scripts/prove_recipes.py (tfsetup prove's static dyld model)",
    }


def linux_proof_doc(recipe: Recipe, python: str, result: ProveResult, wheels: Dict[str, Dict[str, Any]],
                    lock: Path) -> Dict[str, Any]:
    """A Linux lock's proof: the ELF model's words (glibc, ld, DT_NEEDED) in the macOS proof's shape."""
    loader = result.loader
    return {
        "schema": SCHEMA, "recipe": recipe.id, "python": python, "platform": recipe.platform,
        "arch": result.report.machine, "glibc": result.judged, "status": recipe.status,
        "lock": recipe.lock_relpath(python), "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest(),
        "verdict": "loads" if result.loads else "does-not-load",
        "highest_glibc": {"glibc": result.highest[0], "file": result.highest[1]} if result.highest else None,
        "problems": [loader.problem_json(p) for p in result.problems],
        "ld": result.headline(),
        "checked": loader.checked_json(result.report),
        "wheels": wheels,
        "made_by": "scripts/prove_recipes.py --cuda (tfsetup prove's static ld.so model)",
    }


def proof_key(recipe: Recipe, python: str, backend: UvBackend) -> Optional[str]:
    """The key of a proof kept in tfsetup's analysis cache (prove/verdicts.py, whose trust rules it
    shares): a proof is a pure function of the lock's bytes (uv installs exactly its hash-checked
    wheels), the recipe's fields it names, where uv picks wheels for, uv's version, and the checker's
    code and this script's. None: caching off (TFSETUP_NO_CACHE=1)."""
    if bincache.cache_folder() is None:
        return None
    lock = Path(recipe.locks[python].path)
    linux = recipe.os == "linux"
    judged = recipe.min_glibc if linux else recipe.min_os
    uv_version = subprocess.run([backend.uv, "--version"], capture_output=True, text=True, check=False).stdout
    doc = {"format": "recipe proof 1", "recipe": [recipe.id, recipe.platform, recipe.os, recipe.status], "python": python,
           "judged": judged, "lock": [recipe.lock_relpath(python), hashlib.sha256(lock.read_bytes()).hexdigest()],
           "fetch": loader_for(recipe.platform).fetch_target(judged), "source": sorted(PackageSource().env().items()),
           "uv": uv_version.strip(), "checker": verdicts.checker_hash(),
           "script": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), "schema": SCHEMA}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def prove_kept(recipe: Recipe, python: str, table: RecipeTable, backend: UvBackend) -> Dict[str, Any]:
    """prove_one, or the proof kept for the same key (proof_key): a warm --check fetches nothing."""
    key = proof_key(recipe, python, backend)
    doc = bincache.load(key)
    if isinstance(doc, dict) and doc.get("schema") == SCHEMA:
        return doc
    doc = prove_one(recipe, python, table, backend)
    bincache.store(key, doc)
    return doc


def prove_one(recipe: Recipe, python: str, table: RecipeTable, backend: UvBackend) -> Dict[str, Any]:
    lock = Path(recipe.locks[python].path)
    started = time.perf_counter()
    linux = recipe.os == "linux"
    judged, word = (recipe.min_glibc, "min_glibc") if linux else (recipe.min_os, "min_os")
    with tempfile.TemporaryDirectory(prefix="tfsetup-proof-") as tmp:
        site = Path(tmp) / "site-packages"
        fetch(backend, site, python, loader_for(recipe.platform), PackageSource(), lock=lock, picked=judged)
        result = prove_dir(site, recipe.platform, python, judged, f"recipe {recipe.id} {word}",
                           f"lock {recipe.lock_relpath(python)}", table, started)
        if linux:
            return linux_proof_doc(recipe, python, result, wheels_of(site, lock_hashes(lock), elf=True), lock)
        return proof_doc(recipe, python, result, wheels_of(site, lock_hashes(lock)), lock)


def compare(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    return [f"{k}: committed {json.dumps(old.get(k))[:160]} != now {json.dumps(new.get(k))[:160]}"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def summary(doc: Dict[str, Any]) -> str:
    if "glibc" in doc:
        glibc = (doc.get("highest_glibc") or {}).get("glibc")
        kinds = sorted({p["kind"] for p in doc["problems"]})
        return f"{doc['verdict']}, highest GLIBC_{glibc}, min_glibc {doc['glibc']}" + \
            (f", {', '.join(kinds)}" if kinds else "")
    minos = (doc.get("highest_minos") or {}).get("minos")
    kinds = sorted({p["kind"] for p in doc["problems"]})
    later = sorted({f"{p['file'].split('/')[0]} {p['needs'] or p['kind']}" for p in doc.get("on_demand_problems", [])})
    return f"{doc['verdict']}, highest minos {minos}, min_os {doc['macos']}" + (f", {', '.join(kinds)}" if kinds else "") \
        + (f"; on demand: {', '.join(later)}" if later else "")


def prune(backend: UvBackend, names: Sequence[str]) -> None:
    subprocess.run(backend.cache_clean_argv(names), check=False, capture_output=True)


# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="re-prove and compare with the committed proofs")
    parser.add_argument("--recipe", action="append", default=[], help="only this recipe id (repeatable)")
    parser.add_argument("--python", action="append", default=[], help="only this Python minor (repeatable)")
    parser.add_argument("--cache-dir", help="uv cache directory (default: UV_CACHE_DIR or uv's own)")
    parser.add_argument("--prune", action="store_true", help="drop each TF wheel from the uv cache after its proofs")
    parser.add_argument("--cuda", action="store_true",
                        help="the Linux CUDA recipes instead (ELF model; ~3 GB of nvidia wheels)")
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ["UV_CACHE_DIR"] = os.path.abspath(args.cache_dir)
    table = load_recipes(None)
    backend = UvBackend()
    pairs = macos_pairs(table, args.recipe, args.python, args.cuda)
    if not pairs:
        print(f"no {'Linux CUDA' if args.cuda else 'macOS'} recipe matches", file=sys.stderr)
        return 2
    failed = 0
    for index, (recipe, python) in enumerate(pairs):
        started = time.perf_counter()
        try:
            doc = prove_kept(recipe, python, table, backend)
        except TfsetupError as exc:
            print(f"{recipe.id} py{python}: error: {exc.render()}", file=sys.stderr)
            failed += 1
            continue
        path = proof_path(recipe.id, python)
        took = f"{time.perf_counter() - started:.1f} s"
        if args.check:
            old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            diffs = compare(old, doc) if old else ["no committed proof"]
            print(f"{recipe.id} py{python}: {'same' if not diffs else 'DIFFERS'} ({summary(doc)}; {took})")
            for line in diffs:
                print(f"    {line}")
            failed += bool(diffs)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            print(f"{recipe.id} py{python}: {summary(doc)} ({took}) -> {path.relative_to(ROOT)}")
        following = pairs[index + 1] if index + 1 < len(pairs) else None
        if args.prune and (following is None or (following[0].distribution, following[0].tensorflow,
                                                 following[0].machine, following[1]) !=
                           (recipe.distribution, recipe.tensorflow, recipe.machine, python)):
            prune(backend, [recipe.distribution])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
