"""Per-connection authorization through the agent, remembered briefly.

The agent judges each client certificate by the intentions
(``/v1/agent/connect/authorize``, served from its cache). The proxy keeps an
answer for ``TTL`` seconds and shares one in-flight call among connections
that arrive together, so a burst of connections costs one request while a
changed intention still takes effect within a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

TTL = 1.0
MAX_ENTRIES = 4096

Verdict = tuple[bool, str]


class AuthzCache:
    """Verdicts by (target, client URI), each valid for ``ttl`` seconds."""

    def __init__(self, ask: Callable[[str, str, str], Awaitable[Verdict]], ttl: float = TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ask = ask
        self._ttl = ttl
        self._clock = clock
        self._verdicts: dict[tuple[str, str], tuple[float, Verdict]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[Verdict]] = {}

    def cached(self, target: str, client_uri: str) -> Verdict | None:
        entry = self._verdicts.get((target, client_uri))
        if entry is None or self._clock() >= entry[0]:
            return None
        return entry[1]

    async def authorize(self, target: str, client_uri: str, serial: str) -> Verdict:
        """The verdict for a client; AgentAPIError (not cached) if the agent cannot say."""
        key = (target, client_uri)
        verdict = self.cached(target, client_uri)
        if verdict is not None:
            return verdict
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            verdict = await self._ask(target, client_uri, serial)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._inflight[key]
        if len(self._verdicts) >= MAX_ENTRIES:
            self._verdicts.clear()
        self._verdicts[key] = (self._clock() + self._ttl, verdict)
        future.set_result(verdict)
        return verdict

    def clear(self) -> None:
        self._verdicts.clear()
