"""layout.py: drawing for people at any width: a table only when every cell fits whole, else one block
per row; prose wrapped at words; a command never wrapped or cropped, so a copy gives the whole command."""
from __future__ import annotations

import io
from typing import List

from rich.console import Console

from tfsetup import layout

HEADERS = ["recipe", "packages"]
ROWS = [["linux-x86_64-cpu-tf2.21", "tensorflow-cpu 2.21.0"], ["macos-arm64-metal-tf2.18", "tensorflow 2.18.1"]]
LONG_COMMAND = "tfsetup install ./a-rather-long-environment-path --recipe linux-x86_64-cuda-tf2.21 --yes"


def console(width: int, soft_wrap: bool = False) -> Console:
    return Console(file=io.StringIO(), width=width, soft_wrap=soft_wrap, color_system=None)


def drawn(con: Console) -> List[str]:
    return con.file.getvalue().splitlines()  # type: ignore[attr-defined]


def block(row) -> List[str]:
    return [row[0], f"packages: {row[1]}"]


def test_natural_width_is_every_cell_whole_plus_the_borders():
    assert layout.natural_width(["a", "bb"], [["ccc", "d"]]) == 3 + 2 + 3 * 2 + 1
    assert layout.natural_width(["h"], [["[bold]x[/]\nlonger"]]) == 6 + 3 + 1  # markup and lines don't count


def test_a_table_when_it_fits_else_one_block_per_row():
    wide = console(120)
    layout.print_records(wide, "recipes", HEADERS, ROWS, block)
    lines = drawn(wide)
    assert any("linux-x86_64-cpu-tf2.21" in line and "tensorflow-cpu 2.21.0" in line for line in lines)
    narrow = console(layout.natural_width(HEADERS, ROWS) - 1)
    layout.print_records(narrow, "recipes", HEADERS, ROWS, block)
    assert drawn(narrow) == ["recipes", "linux-x86_64-cpu-tf2.21", "  packages: tensorflow-cpu 2.21.0",
                             "macos-arm64-metal-tf2.18", "  packages: tensorflow 2.18.1"]


def test_prose_wraps_at_words_and_indents_every_line():
    con = console(30)
    layout.prose(con, "the quick brown fox jumps over the lazy dog twice", indent=4)
    lines = drawn(con)
    assert len(lines) > 1 and all(line.startswith("    ") and len(line) <= 30 for line in lines)
    assert " ".join(line.strip() for line in lines) == "the quick brown fox jumps over the lazy dog twice"
    piped = console(30, soft_wrap=True)
    layout.prose(piped, "the quick brown fox jumps over the lazy dog twice")
    assert drawn(piped) == ["the quick brown fox jumps over the lazy dog twice"]  # piped: never folded


def test_a_command_is_one_line_whatever_the_width():
    con = console(40)
    layout.command(con, LONG_COMMAND)
    assert drawn(con) == ["    " + LONG_COMMAND]


def test_is_command_is_a_code_span_of_several_words():
    assert layout.is_command("tfsetup doctor --fix .venv")
    assert not layout.is_command("numpy<2") and not layout.is_command("a b")


def test_commands_in_backticks_are_lifted_onto_their_own_lines():
    con = console(50)
    layout.print_with_commands(con, "fix: ", f"run `{LONG_COMMAND}`, then `tfsetup verify .venv`.")
    assert drawn(con) == ["  fix: run", "      " + LONG_COMMAND, "    then", "      tfsetup verify .venv"]
    short = console(80)
    layout.print_with_commands(short, "fix: ", "pin `numpy<2` [sic]")
    assert drawn(short) == ["  fix: pin `numpy<2` [sic]"]  # a short literal stays inline; text is escaped
