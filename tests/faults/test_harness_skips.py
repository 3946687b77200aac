"""The fault matrix on other hosts: what cannot run is skipped with its reason (reported), never left
out of collection; what POSIX allows runs on macOS too."""
from __future__ import annotations

import re

from tests.faults.conftest import HERE, LINUX_ONLY, skip_reason


def test_linux_runs_everything():
    assert skip_reason("test_signals.py::test_interrupt_with_no_env_leaves_nothing[venv-SIGINT-to-job]",
                       "linux") is None
    assert all(skip_reason(nodeid, "linux") is None for nodeid in LINUX_ONLY)


def test_macos_runs_the_posix_tests_and_skips_linux_only_ones_with_a_reason():
    assert skip_reason("test_signals.py::test_ctrl_c_hammered_during_the_rollback_still_restores", "darwin") is None
    assert skip_reason("test_failed_verification.py::test_failed_verification_leaves_the_existing_env_exactly_"
                       "as_before", "darwin") is None
    for nodeid, why in LINUX_ONLY.items():
        assert skip_reason(nodeid, "darwin") == f"Linux only: {why}"


def test_windows_skips_the_harness_with_a_reason():
    reason = skip_reason("test_signals.py::test_ctrl_c_hammered_during_the_rollback_still_restores", "win32")
    assert reason and "POSIX" in reason


def test_every_linux_only_entry_names_a_real_test():
    for nodeid in LINUX_ONLY:
        module, _, rest = nodeid.partition("::")
        name = re.sub(r"\[.*$", "", rest)
        assert f"def {name}(" in (HERE / module).read_text(), nodeid
