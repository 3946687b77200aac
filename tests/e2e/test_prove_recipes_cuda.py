"""Re-prove the CUDA lock from its real wheels and compare with the committed proof (issue 22 item 4).

Not run by default, nor in CI: the lock's nvidia wheels are ~3 GB to download and ~5 GB unpacked (CI once
ran out of disk). Run it with

    TFSETUP_TEST_CUDA_PROOF=1 scripts/test.sh tests/e2e/test_prove_recipes_cuda.py

The fast check of the committed proof against the lock's hashes is tests/unit/test_prove_recipes_cuda.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.network, pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("TFSETUP_TEST_CUDA_PROOF") != "1",
                                 reason="~3 GB of nvidia wheels: opt in with TFSETUP_TEST_CUDA_PROOF=1")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("proof", sorted((ROOT / "recipes" / "proofs").glob("linux-*-cuda-*/py*.json")),
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_the_committed_cuda_proof_is_what_the_wheels_prove_today(proof):
    doc = json.loads(proof.read_text(encoding="utf-8"))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "prove_recipes.py"), "--cuda", "--check",
                           "--recipe", doc["recipe"], "--python", doc["python"]],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{doc['recipe']} py{doc['python']}: same" in proc.stdout
