"""A progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

WIDTH = 30


class Progress:
    """Counts work done out of ``total`` (``None``: unknown, shown as a running count);
    ``unit`` formats the counts (bytes, say)."""

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None,
                 unit: Callable[[int], str] = str) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.label = label
        self.unit = unit
        self.count = 0
        self.enabled = (total is None or total > 0) and self.stream.isatty()

    def advance(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled:
            return
        if self.total is None:
            self.stream.write(f"\r{self.label} {self.unit(self.count)}")
        else:
            filled = min(WIDTH, WIDTH * self.count // self.total)
            self.stream.write(f"\r{self.label} [{'#' * filled}{' ' * (WIDTH - filled)}] "
                              f"{self.unit(self.count)}/{self.unit(self.total)}")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
