"""inputs.py: every input file is read bounded (size cap, no binary, no deep nesting, never blocking on a
FIFO), and each failure is one BadInput (exit 2) naming the file, with the fix."""
from __future__ import annotations

import io
import os

import pytest

from tfsetup import inputs
from tfsetup.errors import EXIT_BAD_INPUT, BadInput


def refused(call, says: str) -> BadInput:
    with pytest.raises(BadInput) as caught:
        call()
    assert caught.value.exit_code == EXIT_BAD_INPUT and caught.value.fix
    assert says in caught.value.message, caught.value.message
    return caught.value


def test_text_json_and_toml_are_read_and_parsed(tmp_path):
    (tmp_path / "a.json").write_text('{"x": [1, 2]}')
    (tmp_path / "a.toml").write_text('python = "3.12"\n')
    assert inputs.read_text(tmp_path / "a.json") == '{"x": [1, 2]}'
    assert inputs.load_json(tmp_path / "a.json") == {"x": [1, 2]}
    assert inputs.loads_toml(inputs.read_text(tmp_path / "a.toml"), "config") == {"python": "3.12"}


def test_missing_file_and_directory_are_named(tmp_path):
    error = refused(lambda: inputs.read_text(tmp_path / "nope.json", "host file"), f"cannot read host file {tmp_path}")
    assert error.fix == "check that the file exists and that you can read it"
    error = refused(lambda: inputs.read_text(tmp_path, "lock"), f"lock {tmp_path} is a directory")
    assert error.fix == "give the path of a file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_without_a_writer_reads_empty_and_is_refused_where_a_regular_file_is_needed(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert inputs.read_bytes(fifo) == b""  # never blocks in open() nor in read()
    error = refused(lambda: inputs.read_bytes(fifo, "lock", regular=True), "is not a regular file")
    assert error.fix == f"replace {fifo} with the real file"


def test_a_file_over_the_limit_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 << 20))
    assert len(inputs.read_bytes(big, limit=2 << 20)) == 2 << 20
    refused(lambda: inputs.read_bytes(big, limit=(1 << 20)), "is larger than 1 MiB: not a tfsetup input")
    refused(lambda: inputs.read_stream(io.BytesIO(b"x" * 11), "stdin", limit=10), "stdin is larger than")


def test_binary_and_non_utf8_data_are_refused():
    refused(lambda: inputs.decode(b"ab\0cd", "file x"), "file x is binary data")
    error = refused(lambda: inputs.decode(b"caf\xe9", "file x"), "file x is not UTF-8 text")
    assert error.fix == "save the file as UTF-8"
    assert inputs.decode("café".encode(), "file x") == "café"


def test_malformed_and_too_deep_documents_are_refused():
    refused(lambda: inputs.loads_json("{not json", "host file h"), "host file h is not valid JSON")
    refused(lambda: inputs.loads_json("[" * 100_000 + "]" * 100_000, "h"), "nested too deeply")
    refused(lambda: inputs.loads_json("[" * 70 + "]" * 70, "h"), "nested too deeply")
    assert inputs.loads_json("[" * 60 + "]" * 60, "h") is not None
    error = refused(lambda: inputs.loads_toml("python = ", "config c"), "config c is not valid TOML")
    assert error.fix == "correct the line it names"
    refused(lambda: inputs.loads_toml("a = " + "[" * 70 + "]" * 70, "c"), "nested too deeply")


def test_too_deep_counts_dicts_and_lists_without_recursing():
    doc: object = 1
    for _ in range(10):
        doc = {"k": [doc]}
    assert inputs.too_deep(doc, limit=19) and not inputs.too_deep(doc, limit=20)
    assert not inputs.too_deep("scalar", limit=0)


def test_present_sees_dangling_links(tmp_path):
    link = tmp_path / "link"
    assert not inputs.present(link)
    link.symlink_to(tmp_path / "nowhere")
    assert inputs.present(link) and not link.exists()
