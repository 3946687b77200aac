"""scripts/bench.py's pure helpers: statistics, ratios, target verdicts (no timing asserted)."""
from __future__ import annotations

import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


def test_summarize_median_min_max(bench):
    stats = bench.summarize([3.0, 1.0, 10.0])
    assert (stats.n, stats.median, stats.min, stats.max) == (3, 3.0, 1.0, 10.0)
    assert bench.summarize([2.0, 4.0]).median == 3.0
    assert bench.summarize([]) is None


def test_ratio_and_missing_values(bench):
    assert bench.ratio(6.0, 4.0) == 1.5
    assert bench.ratio(None, 4.0) is None
    assert bench.ratio(1.0, 0.0) is None


@pytest.mark.parametrize("value,limit,kind,expected", [
    (1.3, 1.3, "max", "met"), (1.31, 1.3, "max", "missed"),
    (5.0, 5.0, "min", "met"), (4.9, 5.0, "min", "missed"), (None, 1.0, "max", "n/a"),
])
def test_target_status(bench, value, limit, kind, expected):
    assert bench.target_status(value, limit, kind) == expected


def run(bench, variant, cache, rep, total, **steps):
    return bench.Run(variant, cache, rep, steps, total)


def test_ratios_of_medians_and_paired_rounds(bench):
    runs = [run(bench, "uv", "warm", 1, 10.0, venv=1.0, install=2.0, **{"import": 7.0}),
            run(bench, "tfsetup", "warm", 1, 12.0, venv=0.5, install=1.5, verify=10.0),
            run(bench, "pip", "warm", 1, 60.0, venv=5.0, install=45.0, **{"import": 10.0}),
            run(bench, "uv", "warm", 2, 20.0), run(bench, "tfsetup", "warm", 2, 22.0),
            run(bench, "pip", "warm", 2, 66.0)]
    ratios = bench.compute_ratios(runs, {"detect": [0.2, 0.1, 0.4], "verify": [6.0], "import": [4.5]})
    assert ratios["warm_tfsetup_vs_uv"]["value"] == pytest.approx(17.0 / 15.0)
    assert ratios["warm_tfsetup_vs_uv"]["paired"]["min"] == pytest.approx(1.1)
    assert ratios["warm_tfsetup_vs_uv"]["paired"]["max"] == pytest.approx(1.2)
    assert ratios["warm_pip_vs_tfsetup"]["value"] == pytest.approx(63.0 / 17.0)
    assert ratios["cold_tfsetup_vs_uv"]["value"] is None
    assert ratios["detect_s"]["value"] == 0.2
    assert ratios["plan_s"]["value"] is None
    assert ratios["verify_minus_import_s"]["value"] == pytest.approx(1.5)
    verdicts = {t["id"]: t["status"] for t in bench.evaluate_targets(ratios)}
    assert verdicts["warm_tfsetup_vs_uv"] == "met"
    assert verdicts["warm_pip_vs_tfsetup"] == "missed"
    assert verdicts["cold_tfsetup_vs_uv"] == "n/a"


def test_install_only_ratio_leaves_out_the_import(bench):
    runs = [run(bench, "pip", "warm", 1, 60.0, venv=5.0, install=45.0, **{"import": 10.0}),
            run(bench, "tfsetup", "warm", 1, 12.0, venv=0.5, install=1.5, verify=10.0)]
    ratios = bench.compute_ratios(runs, {})
    assert ratios["warm_pip_vs_tfsetup_install_only"]["value"] == pytest.approx(25.0)


def test_only_rejects_unknown_sections(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "uv,conda"])
    assert "unknown conda" in capsys.readouterr().err
    args = bench.parse_args(["--only", "uv,latency", "--reps", "2"])
    assert args.only == ["uv", "latency"] and args.cold_reps == 2


def test_markdown_table(bench):
    assert bench.markdown_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
