"""A progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.label = label
        self.count = 0
        self.enabled = total > 0 and self.stream.isatty()

    def advance(self, n: int = 1) -> None:
        self.count += n
        if self.enabled:
            filled = WIDTH * self.count // self.total
            self.stream.write(f"\r{self.label} [{'#' * filled}{' ' * (WIDTH - filled)}] "
                              f"{self.count}/{self.total}")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
