"""The release watch against the real index (issue 22: "the watch runs in CI's network tier"): whatever
has been released by the day this runs, what `scripts/watch.py` reports must agree with the recipes
table it read. Only dependency packages are asked (resolutions, no download): a new TensorFlow would be
proven from its ~1 GB wheels, which CI's disk does not budget for."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from packaging.version import Version

from tests.conftest import REPO, load_script
from tfsetup.recipes import load_recipes

pytestmark = [pytest.mark.network]

PACKAGES = ("ml-dtypes", "tf-keras")


def test_the_watch_reports_what_the_index_has_that_the_table_does_not_pin():
    watch = load_script("watch")
    table = load_recipes(None)
    argv = [sys.executable, str(REPO / "scripts" / "watch.py"), "--json"]
    for name in PACKAGES:
        argv += ["--only", name]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["since"] == watch.table_date(table)  # the newest lock's cut-off
    assert set(doc["newer"]) == set(PACKAGES)
    locks = {(r.id, python): lock for r in table.recipes for python, lock in r.locks.items()}
    fits = False
    for finding in doc["findings"]:
        name, version = finding["package"], Version(finding["version"])
        assert name in PACKAGES and finding["kind"] == "dependency"
        assert finding["version"] in doc["newer"][name]
        assert finding["checks"], finding
        for check in finding["checks"]:
            lock = locks[(check["recipe"], check["python"])]  # a real row x Python of the table
            assert Version(lock.pins[name]) < version, (check, lock.pins[name])  # a lock still behind it
            assert check["outcome"] in ("fits", "excluded"), check
            if check["outcome"] == "excluded":
                assert check["detail"].strip(), check  # uv's reason, word for word
            fits = fits or check["outcome"] == "fits"
    # exit 1 exactly when a release fits some row: a decision is waiting
    assert proc.returncode == (1 if fits else 0), (proc.returncode, fits)
