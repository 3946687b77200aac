"""prove/linux.py: the ELF loader's words (what ld.so prints, the fix, the JSON), and prove/fetch.py's
progress lines: pure, over elfcheck reports built here."""
from __future__ import annotations

import pytest

from tfsetup.elfcheck.ld import Problem, Report
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.prove.fetch import fetching, reading
from tfsetup.prove.linux import ElfLoader, check_glibc, ld_message
from tfsetup.prove.loader import loader_for
from tfsetup.prove.result import ProveResult

OLD = Problem("glibc-too-old", "tensorflow/libtensorflow_framework.so.2", needs="2.34", have="2.28", count=2,
              examples=["GLIBC_2.33", "GLIBC_2.34"])
MISSING = Problem("library-not-found", "tensorflow/libtf.so", library="libcudart.so.12")


def _result(*problems: Problem, glibc: str = "2.28") -> ProveResult:
    report = Report(root="/sp", machine="x86_64", glibc=glibc, problems=list(problems), files_checked=7,
                    dependencies_checked=40, highest_glibc=("2.34", OLD.file) if OLD in problems else None)
    return ProveResult(loader_for("linux-x86_64"), "linux-x86_64", "3.12", glibc, "--glibc",
                       {"tensorflow-cpu": "2.21.0"}, report, 1.0, "pins", highest=report.highest_glibc)


def test_the_linux_loader_is_picked_for_linux_and_speaks_ld():
    loader = loader_for("linux-aarch64")
    assert isinstance(loader, ElfLoader) and (loader.machine, loader.option, loader.message_key) == \
        ("aarch64", "glibc", "ld")


def test_ld_messages_are_what_the_loader_prints():
    assert ld_message(OLD) == "ImportError: libc.so.6: version `GLIBC_2.34' not found " \
                              "(required by tensorflow/libtensorflow_framework.so.2)"
    assert ld_message(MISSING).startswith("ImportError: libcudart.so.12: cannot open shared object file")
    wrong = Problem("wrong-arch", "numpy/core.so", needs="x86_64", have="aarch64")
    assert "wrong ELF class or machine (aarch64; needs x86_64)" in ld_message(wrong)


def test_a_glibc_too_old_result_names_the_needed_glibc_in_its_fix_and_json():
    result = _result(OLD)
    assert not result.loads and result.headline() == ld_message(OLD)
    assert result.fix is None  # set by prove_dir; the loader computes it:
    fix = result.loader.fix(result, None)
    assert fix is not None and "glibc 2.34 or newer" in fix and "at most 2.28" in fix
    doc = result.to_json()
    assert doc["glibc"] == "2.28" and doc["ld"] == result.headline()
    assert doc["highest_glibc"] == {"glibc": "2.34", "file": OLD.file}
    assert doc["checked"] == {"files": 7, "dependencies": 40}


def test_a_missing_library_fix_points_at_the_cuda_wheels_and_a_clean_result_has_none():
    fix = _result(MISSING).loader.fix(_result(MISSING), None)
    assert fix is not None and "libcudart.so.12" in fix and "and-cuda" in fix
    clean = _result()
    assert clean.loads and clean.loader.fix(clean, None) is None and clean.headline() is None


def test_glibc_option_is_checked():
    assert check_glibc("2.28") == "2.28" and check_glibc(None) is None
    for bad in ("2", "2.28.1", "x.y", "2.x"):
        with pytest.raises(TfsetupError) as caught:
            check_glibc(bad)
        assert caught.value.exit_code == EXIT_BAD_INPUT


def test_fetch_progress_counts_lock_pins_and_record_lines(tmp_path):
    lock = tmp_path / "py3.12.txt"
    lock.write_text("# header\nnumpy==2.1.0 \\\n    --hash=sha256:ab\ntensorflow-cpu[and-cuda]==2.21.0\n")
    assert fetching("linux-x86_64", "3.12", lock, ()) == \
        "fetching 2 wheels for linux-x86_64, Python 3.12 (the uv cache keeps them) ..."
    assert fetching("macos-arm64", "3.11", None, ["numpy==2.1.0"]).startswith("fetching 1 wheel for macos-arm64")
    dist = tmp_path / "site" / "numpy-2.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "RECORD").write_text("a,,\nb,,\nc,,\n")
    assert reading(tmp_path / "site") == "reading 3 files of 1 distribution ..."
