"""Pruning of federation states whose datacenter left the WAN pool (the primary's
leader; Consul's leader_federation_state_ae.go pruneStaleFederationStates).

Consul sweeps once an hour; this also prunes when WAN membership changes, but then
only datacenters the router knew and no longer does, so that a leader whose WAN view
is still filling in removes nothing it never saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from proconsul.structs.federation_state import (
    FEDERATION_STATE_DELETE,
    FederationState,
    FederationStateRequest,
)
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 3600.0


def stale(states: Iterable[str], known: set[str], own: str) -> list[str]:
    """The datacenters of ``states`` that are neither ``own`` nor ``known``."""
    return [dc for dc in states if dc != own and dc not in known]


class FederationStatePruner:
    """Deletes the states of departed datacenters; :meth:`wan_changed` tells it what the
    WAN router knows now, and wakes it."""

    def __init__(self, server: Server, interval: float = SWEEP_INTERVAL) -> None:
        self.server = server
        self.interval = interval
        self._seen: set[str] = set()  # datacenters the WAN router has known
        self._changed = asyncio.Event()

    def wan_changed(self, datacenters: Iterable[str]) -> None:
        self._seen.update(datacenters)
        self._changed.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), self.interval)
                sweep = False
            except TimeoutError:
                sweep = True
            self._changed.clear()
            known = set(self.server.wan_router.datacenters())
            # a change judges only the datacenters seen in the WAN and now gone
            await self.prune(known if sweep else known | (self._stored() - self._seen))
            self._seen &= known

    def _stored(self) -> set[str]:
        return {s.Datacenter for s in self.server.store.federation_state_list(None)[1]}

    async def prune(self, known: set[str]) -> list[str]:
        """Delete the states of datacenters not in ``known``; returns them."""
        gone = stale(sorted(self._stored()), known, self.server.config.datacenter)
        for dc in gone:
            log.info("pruning stale federation state datacenter=%s", dc)
            await self.server.raft_apply(MessageType.FEDERATION_STATE, FederationStateRequest(
                Op=FEDERATION_STATE_DELETE, State=FederationState(Datacenter=dc)))
        return gone
