"""The committed proof of the CUDA lock (issue 22 item 4) against the lock it claims to prove: fast, no
download. The proof itself is made by `scripts/prove_recipes.py --cuda` over ~3 GB of nvidia wheels, and
re-made only on request (tests/e2e/test_prove_recipes_cuda.py, TFSETUP_TEST_CUDA_PROOF=1)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Set

from tfsetup.recipes import load_recipes, normalize_name

ROOT = Path(__file__).resolve().parents[2]
PROOFS = ROOT / "recipes" / "proofs"
CUDA_PROOFS = sorted(PROOFS.glob("linux-*-cuda-*/py*.json"))
# What TF's CUDA build needs from the nvidia wheels: each must ship ELF files the model resolved against.
CUDA_WHEELS = ("nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12", "nvidia-cudnn-cu12", "nvidia-cufft-cu12",
               "nvidia-cusparse-cu12", "nvidia-cusolver-cu12", "nvidia-nccl-cu12")


def lock_hashes(text: str) -> Dict[str, Set[str]]:
    out: Dict[str, Set[str]] = {}
    name = ""
    for line in text.splitlines():
        line = line.strip().rstrip("\\").strip()
        if "==" in line and not line.startswith(("#", "--")):
            name = normalize_name(line.split("==")[0])
            out[name] = set()
        elif line.startswith("--hash=sha256:"):
            out[name].add(line.split(":", 1)[1])
    return out


def test_the_default_cuda_recipe_has_a_committed_proof():
    defaults = [r for r in load_recipes(None).recipes if r.accelerator == "cuda" and r.default]
    assert defaults
    for default in defaults:
        assert any(p.parent.name == default.id for p in CUDA_PROOFS), \
            f"no proof of {default.id}: run scripts/prove_recipes.py --cuda --recipe {default.id} --python 3.12"


def test_each_cuda_proof_is_of_the_current_lock_and_its_wheels_are_the_locks():
    recipes = {r.id: r for r in load_recipes(None).recipes}
    assert CUDA_PROOFS
    for path in CUDA_PROOFS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        recipe = recipes[doc["recipe"]]
        lock = recipe.locks[doc["python"]]
        assert doc["lock_sha256"] == lock.digest, f"{path}: proof of another lock (rerun prove_recipes.py --cuda)"
        allowed = lock_hashes(Path(lock.path).read_text(encoding="utf-8"))
        for name, wheel in doc["wheels"].items():
            claimed = {wheel["sha256"]} if "sha256" in wheel else set(wheel["sha256_one_of"])
            assert claimed and claimed <= allowed[name], f"{path}: {name} is not the lock's wheel"
            assert wheel["version"] == lock.pins[name], f"{path}: {name} {wheel['version']} is not the lock's pin"


def test_each_cuda_proof_loads_on_min_glibc_with_every_cuda_library_from_the_wheels():
    for path in CUDA_PROOFS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        recipe = next(r for r in load_recipes(None).recipes if r.id == doc["recipe"])
        assert (doc["platform"], doc["glibc"], doc["verdict"], doc["problems"]) == \
            (recipe.platform, recipe.min_glibc, "loads", []), path
        highest = tuple(int(x) for x in doc["highest_glibc"]["glibc"].split("."))
        assert highest <= tuple(int(x) for x in recipe.min_glibc.split(".")), path
        for name in CUDA_WHEELS:
            assert doc["wheels"][name]["elf_files"] > 0, f"{path}: {name} proved no ELF file"
        assert doc["checked"]["files"] > 100 and doc["checked"]["dependencies"] > 500, path
