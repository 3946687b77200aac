"""validate.py: option values checked before any work; each bad one is a BadInput (exit 2) naming the
option, with the fix."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfsetup import validate
from tfsetup.errors import EXIT_BAD_INPUT, BadInput


def refused(call, says: str) -> BadInput:
    with pytest.raises(BadInput) as caught:
        call()
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert says in caught.value.message, caught.value.message
    return caught.value


def test_seconds_takes_positive_finite_numbers_up_to_the_cap():
    assert validate.seconds(600, "--timeout") == 600.0 and isinstance(validate.seconds(1, "--timeout"), float)
    assert validate.seconds(7 * 24 * 3600, "--timeout") == 7 * 24 * 3600
    for bad in (0, -1, float("nan"), float("inf"), 7 * 24 * 3600 + 1, "600"):
        error = refused(lambda: validate.seconds(bad, "--timeout"), "--timeout must be a positive number")
        assert error.fix == "give a positive number, e.g. --timeout 600"
    refused(lambda: validate.seconds(11, "--wait", most=10), "up to 10")


def test_text_refuses_undecodable_names_and_control_characters():
    assert validate.text("./my env", "PATH") == "./my env"
    error = refused(lambda: validate.text("env\udcff", "PATH"), "is not valid UTF-8")
    assert "rename it" in error.fix
    refused(lambda: validate.text("env\nname", "PATH"), "contains control characters")
    refused(lambda: validate.text("env\0", "PATH"), "contains control characters")


def test_env_path_refuses_empty_option_like_and_kernel_paths(tmp_path):
    validate.env_path(None)
    validate.env_path(tmp_path / "env")
    refused(lambda: validate.env_path(Path(" ")), "PATH is empty")
    error = refused(lambda: validate.env_path(tmp_path / "-env"), "starts with '-'")
    assert error.fix == "choose a name that does not start with '-'"
    for kernel in ("/proc", "/proc/self/env", "/sys/x", "/dev/shm/env"):
        refused(lambda: validate.env_path(Path(kernel), "--target"), "a kernel interface")
    validate.env_path(Path("/development/env"))  # only the trees themselves, not names that start alike


def test_env_path_follows_links_into_kernel_trees(tmp_path):
    (tmp_path / "link").symlink_to("/proc")
    refused(lambda: validate.env_path(tmp_path / "link" / "env"), "is under /proc")


def test_input_file_takes_stdin_and_refuses_option_like_names(tmp_path):
    validate.input_file(None, "--host-file")
    validate.input_file(Path("-"), "--host-file")
    validate.input_file(Path("/dev/stdin"), "--host-file")
    refused(lambda: validate.input_file(Path("  "), "--host-file"), "--host-file is empty")
    error = refused(lambda: validate.input_file(Path("-host.json"), "--host-file"), "starts with '-'")
    assert error.fix == f"give its full path: {os.path.abspath('-host.json')}"


def test_find_links_takes_urls_and_existing_directories_only(tmp_path):
    validate.find_links(["https://example.org/wheels", str(tmp_path)])
    error = refused(lambda: validate.find_links(["-wheels"]), "starts with '-'")
    assert error.fix == "write it as ./-wheels"
    error = refused(lambda: validate.find_links([str(tmp_path / "missing")]), "does not exist")
    assert "tfsetup wheelhouse DIR" in error.fix
