"""``pid_file``: the agent's process ID, written at start and removed at exit."""

from __future__ import annotations

import contextlib
import os

from proconsul.structs.errors import ConsulError


def write_pid_file(path: str) -> None:
    """Write this process's ID to ``path`` (replacing what is there)."""
    try:
        with open(path, "w") as out:
            out.write(str(os.getpid()))
    except OSError as err:
        raise ConsulError(f"Could not write pid file {path}: {err.strerror}") from None


def remove_pid_file(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
