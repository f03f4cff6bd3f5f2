"""Common machinery of the check runners: status callback, thresholds, interval loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from proconsul.lib.routine import supervise
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING, HEALTH_WARNING

log = logging.getLogger(__name__)

StatusUpdate = Callable[[str, str], None]
"""``update(status, output)``: called with every result a runner reports."""

Sleep = Callable[[float], Awaitable[None]]
"""How runners wait (``asyncio.sleep`` by default; tests may substitute)."""


class StatusHandler:
    """Consul's StatusHandler: SuccessBeforePassing / FailuresBeforeWarning/Critical.

    Counters start at their thresholds so the very first result is reported
    as is. Passing *and* warning results count as successes; a failure below
    the critical threshold but at/above the warning threshold is reported as
    warning; below both thresholds nothing is reported.
    """

    def __init__(self, update: StatusUpdate, *, success_before_passing: int = 0,
                 failures_before_warning: int = 0, failures_before_critical: int = 0,
                 check_id: str = "") -> None:
        self._update = update
        self._check_id = check_id
        self.success_before_passing = success_before_passing
        self.failures_before_warning = failures_before_warning
        self.failures_before_critical = failures_before_critical
        self.success_counter = success_before_passing
        self.failures_counter = failures_before_critical

    def update(self, status: str, output: str) -> None:
        if status in (HEALTH_PASSING, HEALTH_WARNING):
            self.success_counter += 1
            self.failures_counter = 0
            if self.success_counter >= self.success_before_passing:
                self._update(status, output)
                return
            log.warning("check %r passed but has not reached success threshold (%d/%d)",
                        self._check_id, self.success_counter, self.success_before_passing)
            return
        self.failures_counter += 1
        self.success_counter = 0
        if self.failures_counter >= self.failures_before_critical:
            self._update(status, output)
            return
        if self.failures_counter >= self.failures_before_warning:
            self._update(HEALTH_WARNING, output)
            return
        log.warning("check %r failed but has not reached warning/failure threshold (%d/%d/%d)",
                    self._check_id, self.failures_counter, self.failures_before_warning,
                    self.failures_before_critical)


class CheckRunner:
    """One running health check. ``start()``/``stop()`` run on the event loop.

    ``status``/``output`` are the last values this runner reported (initially
    the definition's ``Status``, default critical, and an empty output).
    """

    kind = ""

    def __init__(self, check_id: str, update: StatusUpdate, *,
                 initial_status: str = HEALTH_CRITICAL) -> None:
        self.check_id = check_id
        self._external_update = update
        self.status = initial_status
        self.output = ""
        self._task: asyncio.Task | None = None

    # Reports go through here so that status/output mirror what was sent.
    def _notify(self, status: str, output: str) -> None:
        self.status = status
        self.output = output
        try:
            self._external_update(status, output)
        except Exception:  # a broken listener must not kill the runner
            log.exception("check %r: status update callback failed", self.check_id)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._guarded_run(), name=f"check:{self.check_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close()

    async def _guarded_run(self) -> None:
        """The runner's loop, restarted with backoff (and counted) if it crashes."""
        await supervise(f"check {self.check_id!r}", self._run, label="check")

    async def _run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _close(self) -> None:
        """Release resources after the loop has stopped."""


class IntervalRunner(CheckRunner):
    """Probes every ``interval`` seconds after a random stagger in [0, interval).

    Subclasses implement :meth:`probe`, which reports through ``self.report``
    (the StatusHandler) or, for results Consul sends around the thresholds,
    ``self._notify``.
    """

    def __init__(self, check_id: str, update: StatusUpdate, *, interval: float,
                 timeout: float, handler_args: dict[str, int] | None = None,
                 initial_status: str = HEALTH_CRITICAL, sleep: Sleep | None = None,
                 rng: random.Random | None = None) -> None:
        super().__init__(check_id, update, initial_status=initial_status)
        self.interval = interval
        self.timeout = timeout
        self.handler = StatusHandler(self._notify, check_id=check_id, **(handler_args or {}))
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self.initial_delay: float | None = None

    def report(self, status: str, output: str) -> None:
        self.handler.update(status, output)

    async def _run(self) -> None:
        # lib.RandomStagger: uniformly random in [0, interval).
        self.initial_delay = self._rng.random() * self.interval
        await self._sleep(self.initial_delay)
        while True:
            try:
                await self.probe()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # never let one probe end the loop
                log.exception("check %r: probe failed", self.check_id)
                self.report(HEALTH_CRITICAL, str(err))
            await self._sleep(self.interval)

    async def probe(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class TLSAddressRunner(IntervalRunner):
    """An interval runner that dials ``address``, over TLS when given a context."""

    def __init__(self, check_id: str, update: Any, *, address: str,
                 ssl_context: ssl.SSLContext | None = None, server_name: str = "",
                 **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.address = address
        self.ssl_context = ssl_context
        self.server_name = server_name


class TailBuffer:
    """Consul's circbuf: keeps the last ``size`` bytes and counts all bytes written."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.total = 0
        self._data = bytearray()

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._data += chunk
        if len(self._data) > self.size:
            del self._data[: len(self._data) - self.size]

    def text(self) -> str:
        return bytes(self._data).decode("utf-8", errors="replace")

    def captured(self) -> str:
        """The buffer, prefixed with Consul's truncation marker if bytes were dropped."""
        text = self.text()
        if self.total > self.size:
            return f"Captured {len(self._data)} of {self.total} bytes\n...\n{text}"
        return text


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port`` as Go's net.SplitHostPort (port must be numeric)."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"address {address}: invalid port") from None
    return host, number
