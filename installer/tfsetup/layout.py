"""Width-aware drawing for people (render.py's helpers): a table when it fits the terminal, else one
record per block; prose wrapped at words; commands never wrapped.

Why: at 80 columns (the default macOS Terminal) rich squeezes a wide table by breaking cells
mid-word (`tenso│rflow│-cpu`), and a wrapped command is broken when copied. A table is drawn only
when every cell fits whole; a command is printed on a line of its own with soft wrap, so the
terminal may fold it on screen but a copy gives the whole command.
"""
from __future__ import annotations

import re
from typing import Any, Callable, List, Optional, Sequence

Row = Sequence[str]  # rich markup per cell

_CODE = re.compile(r"`([^`]+)`")


def _cell_len(markup: str) -> int:
    from rich.text import Text  # lazy: start-up time (rich: ~50 ms, measured; --json draws nothing)

    return max((Text.from_markup(line).cell_len for line in markup.split("\n")), default=0)


def natural_width(headers: Sequence[str], rows: Sequence[Row]) -> int:
    """The width of a rich table (default box, padding 1) whose cells are all drawn whole."""
    widths = [max([_cell_len(h)] + [_cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1


def print_records(con: Any, title: Optional[str], headers: Sequence[str], rows: Sequence[Row],
                  block: Callable[[Row], List[str]]) -> None:
    """A table when every cell fits whole at this width; else each row as a block: `block(row)` gives
    its lines (the first one a heading; the rest are indented and wrap at words)."""
    from rich.table import Table  # lazy: start-up time (rich: ~100 ms, measured; --json draws nothing)

    if natural_width(headers, rows) <= con.width:
        table = Table(title=title, title_justify="left")
        for header in headers:
            table.add_column(header, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        con.print(table)
        return
    if title:
        con.print(f"[italic]{title}[/]")
    for row in rows:
        lines = block(row)
        prose(con, lines[0], indent=0)
        for line in lines[1:]:
            prose(con, line, indent=2)


def prose(con: Any, markup: str, indent: int = 0) -> None:
    """Text wrapped at words to the width, every line indented by `indent`."""
    from rich.text import Text  # lazy: start-up time (rich: ~50 ms, measured; --json draws nothing)

    text = Text.from_markup(markup)
    text.rstrip()
    lines = [text] if con.soft_wrap else text.wrap(con, max(20, con.width - indent))  # piped: never folded
    for line in lines:
        line.rstrip()
        con.print(Text(" " * indent) + line, soft_wrap=True)


def command(con: Any, cmd: str, indent: int = 4) -> None:
    """A command to copy: alone on its line, never wrapped nor cropped (the terminal may fold it on
    screen; a copy still gives one line)."""
    from rich.text import Text  # lazy: start-up time (rich: ~50 ms, measured; --json draws nothing)

    con.print(Text(" " * indent + cmd), soft_wrap=True, overflow="ignore", crop=False, no_wrap=True)


def is_command(span: str) -> bool:
    """A code span worth its own line: more than one word (a command), not a short literal."""
    return " " in span.strip() and len(span) > 12


def print_with_commands(con: Any, label: str, text: str, indent: int = 2, escape_text: bool = True) -> None:
    """`label text`, with every command in backticks lifted onto a line of its own (see `command`)."""
    from rich.markup import escape  # lazy: start-up time (rich: ~60 ms, measured; --json draws nothing)

    pending = label
    pos = 0
    more = indent + 2  # what follows a lifted command, under the label's text
    for match in _CODE.finditer(text):
        if not is_command(match.group(1)):
            continue
        before = text[pos:match.start()].strip()
        if pos:  # what follows a lifted command: no dangling ", then ..."
            before = before.lstrip(",;: ")
        pending += (escape(before) if escape_text else before)
        if pending.strip():
            prose(con, pending, indent=indent if not pos else more)
        command(con, match.group(1), indent=indent + 4)
        pending = ""
        pos = match.end()
    rest = text[pos:].strip()
    if pos:
        rest = rest.lstrip(",;: ")
        rest = "" if rest == "." else rest
    tail = pending + (escape(rest) if escape_text else rest)
    if tail.strip():
        prose(con, tail, indent=indent if not pos else more)
