"""Aligned text output as Consul prints it: ``columnize`` tables and Go ``tabwriter`` blocks."""

from __future__ import annotations

DELIM = "\x1f"


def columnize(lines: list[str], delim: str = DELIM, glue: str = "  ") -> str:
    """ryanuber/columnize: cells split on ``delim``, trimmed, left-aligned; last cell unpadded."""
    rows = [[cell.strip() for cell in line.split(delim)] for line in lines]
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell))
    out = []
    for row in rows:
        out.append("".join(cell if i == len(row) - 1 else cell.ljust(widths[i]) + glue
                           for i, cell in enumerate(row)))
    return "\n".join(out)


def tabwrite(text: str, minwidth: int = 0, padding: int = 6) -> str:
    """Go's ``text/tabwriter`` with a space pad char and no flags.

    Tab-terminated cells are aligned within each block of consecutive lines
    that have that column; the last cell of a line is not aligned.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def emit(start: int, end: int) -> None:
        for line in lines[start:end]:
            out.append("".join(cell.ljust(widths[j]) if j < len(line) - 1 else cell
                               for j, cell in enumerate(line)))

    def fmt(start: int, end: int) -> None:
        column = len(widths)
        row = start
        while row < end:
            if column >= len(lines[row]) - 1:
                row += 1
                continue
            emit(start, row)
            block_start = row
            width = minwidth
            while row < end and column < len(lines[row]) - 1:
                width = max(width, len(lines[row][column]) + padding)
                row += 1
            widths.append(width)
            fmt(block_start, row)
            widths.pop()
            start = row
        emit(start, end)

    fmt(0, len(lines))
    return "\n".join(out)
