"""``proconsul connect envoy pipe-bootstrap PATH``: Consul's internal shim that hands
Envoy its bootstrap through a named pipe instead of a file on disk.

It reads the whole bootstrap from stdin, opens ``PATH`` write-only (for a FIFO that
blocks until Envoy opens it for reading), writes it, then unlinks ``PATH``. Should
Envoy never open the pipe, it removes ``PATH`` and exits 99 after 10 seconds, so
no such child lingers.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

GIVE_UP_AFTER = 10.0
USAGE = """Usage: proconsul connect envoy pipe-bootstrap PATH

  Should only be used internally by 'proconsul connect envoy': an internal shim
  for delivering Envoy bootstrap without writing to file system."""


def _go_error(op: str, path: str, err: OSError) -> str:
    """An OSError worded as Go's *PathError: ``open /p: no such file or directory``."""
    reason = (err.strerror or str(err)).lower()
    return f"{op} {path}: {reason}"


def _give_up(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
    os._exit(99)


def run(args: list[str]) -> int:
    if args and args[0] in ("-h", "-help", "--help"):
        print(USAGE)
        return 0
    if len(args) != 1:
        print("Expecting named pipe path as argument", file=sys.stderr)
        return 1
    path = args[0]
    timer = threading.Timer(GIVE_UP_AFTER, _give_up, (path,))
    timer.daemon = True
    timer.start()
    try:
        bootstrap = sys.stdin.buffer.read()
        try:
            # O_WRONLY, not O_RDWR: opening a FIFO for writing waits for its reader (Envoy);
            # read-write would make this process the reader of its own data.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as err:
            print(_go_error("open", path, err), file=sys.stderr)
            return 1
        try:
            view = memoryview(bootstrap)
            while view:
                view = view[os.write(fd, view):]
        except OSError as err:
            print(_go_error("write", path, err), file=sys.stderr)
            return 1
        finally:
            os.close(fd)
        print("Bootstrap sent, unlinking named pipe", file=sys.stderr)
        # Envoy holds the pipe open by now (the write needed a reader): the name can go.
        with contextlib.suppress(OSError):
            os.remove(path)
        return 0
    finally:
        timer.cancel()
