"""TTL checks (Consul's CheckTTL): the application reports; silence turns critical."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from proconsul.agent.checks.base import CheckRunner, Sleep
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING, HEALTH_WARNING

log = logging.getLogger(__name__)

TTL_EXPIRED = "TTL expired"


class TTLRunner(CheckRunner):
    """No probing: :meth:`update` (or pass_/warn/fail) sets the status and re-arms the TTL.

    If no update arrives within ``ttl`` seconds of ``start()`` or of the last
    update, the check goes critical with "TTL expired" (plus the last output).
    It does not fire again until the next update re-arms it. TTL updates do
    not go through the Success/Failures thresholds, as in Consul.
    """

    kind = "ttl"

    def __init__(self, check_id: str, update: Any, *, ttl: float, output_max_size: int,
                 sleep: Sleep | None = None, **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.ttl = ttl
        self.output_max_size = output_max_size
        self._sleep: Sleep = sleep or asyncio.sleep
        self._last_output = ""
        self._started = False

    async def start(self) -> None:
        self._started = True
        self._arm()

    async def stop(self) -> None:
        self._started = False
        await super().stop()

    def _arm(self) -> None:
        if not self._started:
            return
        old, self._task = self._task, None
        if old is not None and not old.done():
            old.cancel()
        self._task = asyncio.get_running_loop().create_task(
            self._guarded_run(), name=f"check-ttl:{self.check_id}")

    async def _run(self) -> None:
        await self._sleep(self.ttl)
        log.warning("check %r missed TTL, is now critical", self.check_id)
        self._notify(HEALTH_CRITICAL, self.expired_output())

    def expired_output(self) -> str:
        if not self._last_output:
            return TTL_EXPIRED
        return f"{TTL_EXPIRED} (last output before timeout follows): {self._last_output}"

    def update(self, status: str, output: str = "") -> str:
        """Set the status, re-arm the TTL; returns the (possibly truncated) output."""
        total = len(output)
        if total > self.output_max_size:
            output = (f"{output[:self.output_max_size]} ... "
                      f"(captured {self.output_max_size} of {total} bytes)")
        self._notify(status, output)
        self._last_output = output
        self._arm()
        return output

    def pass_(self, output: str = "") -> str:
        return self.update(HEALTH_PASSING, output)

    def warn(self, output: str = "") -> str:
        return self.update(HEALTH_WARNING, output)

    def fail(self, output: str = "") -> str:
        return self.update(HEALTH_CRITICAL, output)
