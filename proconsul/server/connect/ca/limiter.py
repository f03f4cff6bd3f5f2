"""CSR rate limiting as Consul's servers do it (``csr_max_per_second``,
``csr_max_concurrent``): a request waits at most half a second for its turn,
otherwise it fails with "Rate limit reached, try again later".

The per-second limit is a token bucket of burst 1 (Go's ``rate.Limiter``):
a request may reserve a token up to 500 ms ahead and sleeps until then; one
that would have to wait longer is refused without consuming anything. The
concurrency limit (used only when the per-second limit is 0) is a counter of
signings in progress. Both cores are pure; :class:`CSRLimiter` adds the
asyncio waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from proconsul.server.connect.ca.provider import RateLimited

__all__ = ["CSR_LIMIT_WAIT", "CSRConcurrencyLimit", "CSRLimiter", "CSRRateLimit"]

CSR_LIMIT_WAIT = 0.5  # seconds a CSR may wait for a token or a slot


class CSRRateLimit:
    """Token bucket, ``per_second`` tokens a second, burst 1, starting full."""

    def __init__(self, per_second: float, now: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.per_second = per_second
        self._tokens = 1.0
        self._last = now

    def reserve(self, now: float, max_wait: float = CSR_LIMIT_WAIT) -> float:
        """Seconds to wait before signing (0 = now); RateLimited if over ``max_wait``."""
        if now > self._last:
            self._tokens = min(1.0, self._tokens + (now - self._last) * self.per_second)
            self._last = now
        wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.per_second
        if wait > max_wait:
            raise RateLimited()
        self._tokens -= 1.0
        return wait


class CSRConcurrencyLimit:
    """At most ``size`` signings at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0

    def try_acquire(self) -> bool:
        if self.in_use >= self.size:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        if self.in_use <= 0:
            raise RuntimeError("release without acquire")
        self.in_use -= 1


class CSRLimiter:
    """The server's CSR limiter, reconfigured whenever the CA config's limits change.

    Use ``async with limiter.slot(): sign...``; it raises RateLimited."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rate: CSRRateLimit | None = None
        self._concurrency: CSRConcurrencyLimit | None = None
        self._freed = asyncio.Condition()

    def configure(self, per_second: float, max_concurrent: int) -> None:
        """Apply the CA config's limits; per-second wins when both are set, as in Consul."""
        if per_second > 0:
            if self._rate is None or self._rate.per_second != per_second:
                self._rate = CSRRateLimit(per_second, self._clock())
        else:
            self._rate = None
        if per_second <= 0 and max_concurrent > 0:
            if self._concurrency is None:
                self._concurrency = CSRConcurrencyLimit(max_concurrent)
            self._concurrency.size = max_concurrent
        else:
            self._concurrency = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait (≤ 0.5 s) for the right to sign one CSR."""
        if self._rate is not None:
            wait = self._rate.reserve(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            yield
            return
        limit = self._concurrency
        if limit is None:
            yield
            return
        if not limit.try_acquire():
            try:
                async with self._freed:
                    await asyncio.wait_for(self._freed.wait_for(limit.try_acquire),
                                           CSR_LIMIT_WAIT)
            except TimeoutError:
                raise RateLimited() from None
        try:
            yield
        finally:
            limit.release()
            async with self._freed:
                self._freed.notify()
