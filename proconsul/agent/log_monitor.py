"""Live log streams for ``/v1/agent/monitor``: a logging handler fanning records out.

Each subscriber has its own level, format and bounded buffer; a full buffer
drops the line (and counts it) so logging never blocks. While someone watches
at a lower level than the agent logs at, the logger is lowered for them and
the other handlers keep the configured level.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time

LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "error": logging.ERROR}
BUFFER_LINES = 512

_BRACKETS = {logging.DEBUG: "[DEBUG]", logging.INFO: "[INFO] ", logging.WARNING: "[WARN] ",
             logging.ERROR: "[ERROR]", logging.CRITICAL: "[ERROR]"}
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
          logging.ERROR: "error", logging.CRITICAL: "error"}
_formatter = logging.Formatter()


def _level_floor(levelno: int) -> int:
    return max((lv for lv in _BRACKETS if lv <= levelno), default=logging.DEBUG)


def text_line(record: logging.LogRecord) -> str:
    """hclog's text format: ``2006-01-02T15:04:05.000Z0700 [INFO]  module: message``."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
    zone = time.strftime("%z", time.localtime(record.created))
    zone = "Z" if zone in ("+0000", "") else zone
    line = (f"{stamp}.{int(record.msecs):03d}{zone} {_BRACKETS[_level_floor(record.levelno)]} "
            f"{record.name}: {record.getMessage()}")
    if record.exc_info:
        line += "\n" + _formatter.formatException(record.exc_info)
    return line + "\n"


def json_line(record: logging.LogRecord) -> str:
    """hclog's JSON format: ``{"@level", "@message", "@module", "@timestamp"}``."""
    created = time.localtime(record.created)
    zone = time.strftime("%z", created)
    zone = "Z" if zone in ("+0000", "") else f"{zone[:3]}:{zone[3:]}"
    micros = int((record.created % 1) * 1_000_000)
    body = {"@level": _NAMES[_level_floor(record.levelno)], "@message": record.getMessage(),
            "@module": record.name,
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{micros:06d}{zone}"}
    if record.exc_info:
        body["error"] = _formatter.formatException(record.exc_info)
    return json.dumps(body) + "\n"


class Subscription:
    """One watcher's buffered lines; :meth:`get` returns None once closed."""

    def __init__(self, level: int, as_json: bool, size: int) -> None:
        self.level = level
        self.as_json = as_json
        self.dropped = 0
        self._size = size
        self._lines: collections.deque[str] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, line: str) -> None:
        if len(self._lines) >= self._size:
            self.dropped += 1
            return
        self._lines.append(line)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def get(self) -> str | None:
        while not self._lines:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._lines.popleft()


class LogMonitor(logging.Handler):
    """Attach to ``logger`` with :meth:`install`; hand out :class:`Subscription` s."""

    def __init__(self, logger: logging.Logger, buffer_lines: int = BUFFER_LINES) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logger
        self.buffer_lines = buffer_lines
        self._subs: list[Subscription] = []
        self._base_level = logger.level
        self._handler_levels: dict[logging.Handler, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def install(self) -> None:
        """Start receiving records (call from the event loop's thread)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._base_level = self.logger.getEffectiveLevel()
        for handler in self.logger.handlers:
            self._handler_levels[handler] = handler.level
            handler.setLevel(max(handler.level, self._base_level))
        self.logger.addHandler(self)

    def uninstall(self) -> None:
        self.close_subscriptions()
        self.logger.removeHandler(self)
        for handler, level in self._handler_levels.items():
            handler.setLevel(level)
        self._handler_levels.clear()
        self.logger.setLevel(self._base_level)

    def set_base_level(self, level: int) -> None:
        """The agent's own level changed (reload): the outputs follow it, watchers keep theirs."""
        self._base_level = level
        for handler in self._handler_levels:
            handler.setLevel(level)
        self._set_logger_level()

    def close_subscriptions(self) -> None:
        """End every stream (their :meth:`Subscription.get` returns None)."""
        for sub in self._subs:
            sub.close()
        self._subs.clear()
        self._set_logger_level()

    def subscribe(self, level: int, as_json: bool = False) -> Subscription:
        sub = Subscription(level, as_json, self.buffer_lines)
        self._subs.append(sub)
        self._set_logger_level()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            sub.close()
            self._set_logger_level()
            if sub.dropped:
                self.logger.warning("Dropped logs during monitor request: dropped_count=%d",
                                    sub.dropped)

    def _set_logger_level(self) -> None:
        self.logger.setLevel(min([self._base_level, *(s.level for s in self._subs)]))

    def emit(self, record: logging.LogRecord) -> None:
        lines: dict[bool, str] = {}
        for sub in list(self._subs):
            if record.levelno < sub.level:
                continue
            line = lines.get(sub.as_json)
            if line is None:
                line = lines[sub.as_json] = (json_line if sub.as_json else text_line)(record)
            if threading.get_ident() == self._loop_thread:
                sub.offer(line)
            elif self._loop is not None:
                self._loop.call_soon_threadsafe(sub.offer, line)
