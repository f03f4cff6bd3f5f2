"""Where the agent's log lines go: stdout, a rotating file, syslog; text or JSON.

Consul's ``logging.Setup``: lines in hclog's text or JSON shape go to stdout (where
Consul's agent writes them, and where tools wait for "New leader elected") and,
with ``log_file``, to a file rotated by size and age (the current file keeps its
name; a rotated one gets ``-<unix nanoseconds>`` before its extension, and only
the newest ``log_rotate_max_files`` rotated files are kept), and with
``enable_syslog`` to the local syslog socket.
"""

from __future__ import annotations

import glob
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from proconsul.agent.log_monitor import json_line, text_line
from proconsul.lib.duration import parse_duration
from proconsul.structs.errors import ConsulError

DEFAULT_ROTATE_DURATION = 24 * 3600.0
DEFAULT_FILE_NAME = "consul.log"
SYSLOG_SOCKETS = ("/dev/log", "/var/run/syslog")
SYSLOG_IDENT = "consul: "


class LogFile:
    """A log file that rotates by size and age, as Consul's ``logging.LogFile``.

    ``path`` names the current file; a path ending in ``/`` (or an existing
    directory) means ``consul.log`` inside it. Before each write the file is
    rotated when it holds ``max_bytes`` (> 0) or is ``duration`` seconds old.
    ``max_files`` > 0 keeps that many rotated files, 0 keeps all, < 0 none.
    Unlike Consul, an existing file is appended to, not truncated: a restart
    keeps the lines that led up to it.
    """

    def __init__(self, path: str, max_bytes: int = 0,
                 duration: float = DEFAULT_ROTATE_DURATION, max_files: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        if path.endswith("/") or os.path.isdir(path):
            path = os.path.join(path, DEFAULT_FILE_NAME)
        self.path = path
        self.max_bytes = max_bytes
        self.duration = duration
        self.max_files = max_files
        self._clock = clock
        stem, ext = os.path.splitext(path)
        self._prefix, self._suffix = stem + "-", ext or ".log"
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._created = 0.0
        self._written = 0
        self._stamp = 0
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o640)
        self._file = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")
        self._created = self._clock()
        self._written = os.fstat(fd).st_size

    def rotated_files(self) -> list[str]:
        """The rotated files, oldest first (their names sort by time); only names this
        class makes (``<stem>-<digits><ext>``), so no other file is ever pruned."""
        pattern = glob.escape(self._prefix) + "*" + glob.escape(self._suffix)
        return sorted(path for path in glob.glob(pattern)
                      if path[len(self._prefix):-len(self._suffix)].isdigit())

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        # Names sort by time; two rotations within one clock tick must not share a name.
        self._stamp = max(time.time_ns(), self._stamp + 1)
        os.rename(self.path, f"{self._prefix}{self._stamp}{self._suffix}")
        if self.max_files:
            rotated = self.rotated_files()
            for old in rotated[:len(rotated) - max(self.max_files, 0)]:
                os.remove(old)
        self._open()

    def write(self, text: str) -> None:
        """Append ``text``, rotating first if due; OSError if the disk says no."""
        with self._lock:
            if self._file is None:  # a rotation failed half-way: carry on in the same file
                self._open()
            elif (self.max_bytes > 0 and self._written >= self.max_bytes) or \
                    self._clock() - self._created >= self.duration:
                self._rotate()
            assert self._file is not None
            self._written += len(text.encode("utf-8", "backslashreplace"))
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class HclogFormatter(logging.Formatter):
    """hclog's line shapes: text, or one JSON object per line."""

    def __init__(self, as_json: bool = False) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        line = (json_line if self.as_json else text_line)(record).rstrip("\n")
        if not line.isascii():  # lone surrogates (undecodable bytes) would fail any output
            line = line.encode("utf-8", "backslashreplace").decode("utf-8")
        return line


class LogFileHandler(logging.Handler):
    """Hands formatted records to a :class:`LogFile`."""

    def __init__(self, log_file: LogFile) -> None:
        super().__init__()
        self.log_file = log_file
        self._failing = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log_file.write(self.format(record) + "\n")
            self._failing = False
        except OSError as err:  # a full disk must not stop the agent: say so once
            if not self._failing:
                self._failing = True
                print(f"cannot write log file {self.log_file.path}: {err.strerror or err}",
                      file=sys.stderr, flush=True)

    def close(self) -> None:
        self.log_file.close()
        super().close()


def syslog_handler(facility: str) -> logging.Handler:
    """A handler to the local syslog socket; ConsulError in one line if there is none."""
    code = logging.handlers.SysLogHandler.facility_names.get((facility or "LOCAL0").lower())
    if code is None:
        raise ConsulError(f"Syslog setup failed: unknown syslog_facility {facility!r}")
    address = next((path for path in SYSLOG_SOCKETS if os.path.exists(path)), None)
    if address is None:
        raise ConsulError("Syslog setup failed: no syslog socket "
                          f"({' or '.join(SYSLOG_SOCKETS)})")
    try:
        handler = logging.handlers.SysLogHandler(address, facility=code)
    except OSError as err:
        raise ConsulError(f"Syslog setup failed: {address}: {err.strerror or err}") from None
    handler.ident = SYSLOG_IDENT
    return handler


def log_handlers(tree: dict[str, Any], stream: TextIO | None = None) -> list[logging.Handler]:
    """The handlers a config tree asks for (stdout always); ConsulError if one cannot be set up."""
    as_json = bool(tree.get("log_json", False))
    syslog = syslog_handler(tree.get("syslog_facility", "LOCAL0")) \
        if tree.get("enable_syslog") else None
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    if tree.get("log_file"):
        duration = tree.get("log_rotate_duration")
        seconds = parse_duration(duration) / 1e9 if duration else DEFAULT_ROTATE_DURATION
        try:
            log_file = LogFile(tree["log_file"], int(tree.get("log_rotate_bytes", 0)),
                               seconds or DEFAULT_ROTATE_DURATION,
                               int(tree.get("log_rotate_max_files", 0)))
        except OSError as err:
            raise ConsulError(f"Failed to setup logging: {tree['log_file']}: "
                              f"{err.strerror or err}") from None
        handlers.append(LogFileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(HclogFormatter(as_json))
    if syslog is not None:
        syslog.setFormatter(HclogFormatter(False))
        handlers.append(syslog)
    return handlers


def setup_logging(tree: dict[str, Any], level: int, stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with those ``tree`` asks for, at ``level``."""
    handlers = log_handlers(tree, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
