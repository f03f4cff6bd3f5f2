"""The replication loop, generic over the replicated type (Consul's replication.go).

Each round is a blocking list query against the primary from the last replicated
index (saved through :class:`Progress` so that a new leader resumes from it); the answer is diffed against this datacenter's copy (:mod:`.diff`) and
the changes applied through this datacenter's raft.  Rounds are rate limited
(``replication_rate`` per second, bursts of ``burst``), errors back off
(doubling up to ``BACKOFF_MAX``), and the status is kept for
``/v1/acl/replication`` and ``/v1/operator/federation``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from proconsul.lib.metrics import registry as metrics
from proconsul.rpc.errors import RPCConnectionError, RPCDialError, RPCError, RPCTimeout
from proconsul.server.replication.diff import Changes, Remote, diff
from proconsul.structs.errors import ConsulError

log = logging.getLogger(__name__)

BACKOFF_MIN = 0.25
BACKOFF_MAX = 8.0
FAILURES = (ConsulError, RPCError, RPCConnectionError, RPCDialError, RPCTimeout, TimeoutError)


class ReplicatedType(Protocol):
    """One kind of object a secondary copies from the primary."""

    name: str  # the ReplicationType shown in status ("config-entries", "policies" ...)

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        """The primary's objects once its index passes ``index`` (a blocking query)."""

    def local(self) -> dict[Hashable, Any]:
        """This datacenter's copy, content comparable with :attr:`Remote.content`."""

    async def upsert(self, keys: list[Hashable]) -> None:
        """Write the primary's objects of ``keys`` (from the last fetch) here."""

    async def delete(self, keys: list[Hashable]) -> None:
        """Remove ``keys`` here."""


def _rfc3339(epoch: float) -> str:
    if not epoch:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ReplicationState:
    """What a replicator reports (the fields of Consul's ACL replication status)."""

    enabled: bool = False
    running: bool = False
    source_datacenter: str = ""
    replication_type: str = ""
    replicated_index: int = 0
    last_success: float = 0.0
    last_error: float = 0.0
    last_error_message: str = ""
    rounds: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"Enabled": self.enabled, "Running": self.running,
                "SourceDatacenter": self.source_datacenter,
                "ReplicationType": self.replication_type,
                "ReplicatedIndex": self.replicated_index,
                "LastSuccess": _rfc3339(self.last_success),
                "LastError": _rfc3339(self.last_error),
                "LastErrorMessage": self.last_error_message}


class RateLimiter:
    """A token bucket: ``rate`` acquisitions a second, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(burst, 1)
        self._tokens = float(self.burst)
        self._at = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self.rate)
            self._tokens, self._at = 1.0, time.monotonic()
        self._tokens -= 1


class Progress(Protocol):
    """Where the last replicated index of each type is kept between leaders."""

    def load(self, name: str) -> int:
        """The saved index of type ``name`` (0 if none)."""

    async def save(self, name: str, index: int) -> None:
        """Keep ``index`` as type ``name``'s last replicated index."""


class Replicator:
    """Copies one :class:`ReplicatedType` from ``primary`` while this server leads."""

    def __init__(self, kind: ReplicatedType, primary: str, rate: float, burst: int,
                 progress: Progress | None = None) -> None:
        self.kind = kind
        self.primary = primary
        self.rate, self.burst = rate, burst
        self.progress = progress
        self.state = ReplicationState(enabled=True, source_datacenter=primary,
                                      replication_type=kind.name)

    async def run(self) -> None:
        """Replicate until cancelled (leadership lost); a new run resumes from the saved
        index (0 without one) and re-applies only what differs."""
        limiter = RateLimiter(self.rate, self.burst)
        state = self.state
        saved = self.progress.load(self.kind.name) if self.progress is not None else 0
        state.running, state.replicated_index, failures = True, saved, 0
        try:
            while True:
                await limiter.wait()
                try:
                    await self.round()
                except FAILURES as err:
                    failures += 1
                    state.last_error = time.time()
                    state.last_error_message = str(err)
                    log.warning("%s replication from %s failed: %s", self.kind.name,
                                self.primary, err)
                    await asyncio.sleep(min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (failures - 1)))
                else:
                    failures = 0
        finally:
            state.running = False

    async def round(self) -> Changes:
        """One blocking fetch, diff and apply; returns what was changed."""
        state = self.state
        index, remote = await self.kind.fetch(self.primary, state.replicated_index)
        last = state.replicated_index if index >= state.replicated_index else 0
        changes = diff(self.kind.local(), remote, last)
        if changes.deletes:
            await self.kind.delete(changes.deletes)
        if changes.upserts:
            await self.kind.upsert(changes.upserts)
        if self.progress is not None and index != state.replicated_index:
            await self.progress.save(self.kind.name, index)
        state.replicated_index = index
        state.last_success = time.time()
        state.rounds += 1
        labels = {"type": self.kind.name}
        metrics.incr_counter("consul.proconsul.replication.rounds", labels=labels)
        metrics.incr_counter("consul.proconsul.replication.upserts", len(changes.upserts),
                             labels=labels)
        metrics.incr_counter("consul.proconsul.replication.deletes", len(changes.deletes),
                             labels=labels)
        return changes
