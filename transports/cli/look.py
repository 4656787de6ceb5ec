"""How the CLI's tables look: at a terminal, columns fitted to its width and statuses in colour; piped, or with
NO_COLOR set, plain aligned text without escape codes (bot.format's, what chats show too).

rich draws the coloured tables and is imported only then: piped output, the measured fast path of
`orch task list` (bench/cli_bench.py), never loads it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from orch.core.text import terminal_safe

# Where a person's eye should go first: what needs them (red), what is running (cyan), what ended well (green).
STATUS_STYLES = {"done": "green", "needs_review": "bold red", "in_progress": "cyan", "waiting": "yellow",
                 "blocked": "magenta", "routed": "blue", "cancelled": "dim"}


@dataclass(frozen=True)
class Table:
    """A table both ways: `plain` for pipes and NO_COLOR, headers and rows for a terminal."""

    plain: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    right: frozenset[int] = field(default_factory=frozenset)  # columns of numbers, aligned right
    status: int | None = None  # the column of task statuses, coloured


def colour_wanted() -> bool:
    """Colour only for a person at a terminal who has not asked for none (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def show_table(table: Table) -> None:
    """The table as the terminal wants it; its cells' control characters shown escaped, never obeyed."""
    if not sys.stdout.isatty() or not table.rows:
        print(terminal_safe(table.plain))
    elif not colour_wanted():
        width = shutil.get_terminal_size().columns
        print("\n".join(_cut(line, width) for line in terminal_safe(table.plain).splitlines()))
    else:
        _show_rich(table)


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[:max(width - 1, 0)] + "…"


def _show_rich(table: Table) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    console = Console(highlight=False)
    drawn = RichTable(box=None, pad_edge=False, header_style="bold")
    widths = [max(len(header), *(len(row[index]) for row in table.rows)) for index, header in enumerate(table.headers)]
    # The last column (a title, a path) gives way when the terminal is narrow: the others keep their width, and
    # two spaces stand between columns.
    rest = max(console.width - sum(widths[:-1]) - 2 * (len(widths) - 1), len(table.headers[-1]))
    for index, header in enumerate(table.headers):
        last = index == len(widths) - 1
        drawn.add_column(header, justify="right" if index in table.right else "left", no_wrap=True,
                         overflow="ellipsis", width=min(widths[index], rest) if last else widths[index])
    for row in table.rows:
        drawn.add_row(*(Text(terminal_safe(cell), style=STATUS_STYLES.get(cell, "") if index == table.status else "")
                        for index, cell in enumerate(row)))
    console.print(drawn)
