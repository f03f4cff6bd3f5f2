"""``auto_reload_config``: notice when a config source or TLS file changes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

Stamp = dict[str, tuple[int, int, int] | None]

POLL_INTERVAL = 1.0  # seconds between looks at the files


def stamp(paths: list[str]) -> Stamp:
    """(inode, size, mtime) of each file, and of each file in each directory given."""
    out: Stamp = {}
    for entry in paths:
        path = Path(entry)
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                st = os.stat(file)
                out[str(file)] = (st.st_ino, st.st_size, st.st_mtime_ns)
            except OSError:
                out[str(file)] = None
    return out


async def watch(paths: Callable[[], list[str]], on_change: Callable[[], Awaitable[None]],
                interval: float = POLL_INTERVAL) -> None:
    """Call ``on_change`` after each poll that finds the files of ``paths()`` changed."""
    last = stamp(paths())
    while True:
        await asyncio.sleep(interval)
        current = stamp(paths())
        if current != last:
            last = current
            await on_change()
