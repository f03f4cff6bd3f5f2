"""Single-node, in-memory consensus for ``-dev`` and for tests.

Every proposal commits at once: the node is always the leader of a cluster of
one, and nothing touches disk.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO

from proconsul.lib.metrics import registry as metrics
from proconsul.raft.config import Configuration, Server
from proconsul.raft.interface import ConsensusError, StateMachine
from proconsul.raft.messages import SnapshotMeta
from proconsul.raft.node import ServerView

log = logging.getLogger(__name__)


class InmemConsensus:
    """Implements :class:`~proconsul.raft.interface.Consensus` for one node in memory."""

    def __init__(self, fsm: StateMachine, address: str = "127.0.0.1:8300",
                 server_id: str = "dev") -> None:
        self._fsm = fsm
        self._address = address
        self._id = server_id
        self._index = 0
        self._observers: list[Callable[[bool], None]] = []

    def start(self) -> None:
        """Take leadership and tell the observers."""
        log.info("New leader elected: payload=%s", self._id)
        metrics.incr_counter("consul.raft.state.leader")
        for callback in self._observers:
            callback(True)

    async def apply(self, data: bytes, timeout: float | None = None) -> Any:
        return await self.submit(data, timeout)

    def submit(self, data: bytes, timeout: float | None = None) -> asyncio.Future[Any]:
        """Applied at once: the future is already done."""
        future = asyncio.get_running_loop().create_future()
        self._index += 1
        start = metrics.timer()
        future.set_result(self._fsm.apply(self._index, data))
        metrics.measure_since("consul.raft.fsm.apply", start)
        metrics.measure_since("consul.raft.commitTime", start)
        return future

    async def barrier(self, timeout: float | None = None) -> None:
        await asyncio.sleep(0)

    async def verify_leader(self) -> None:
        return None

    async def restore(self, write: Callable[[BinaryIO], None],
                      timeout: float | None = None) -> int:
        """Replace the state with the snapshot ``write(file)`` produces, at a fresh index
        (spooled through a temporary file in a worker thread; nothing changes if it raises)."""
        with tempfile.TemporaryFile() as spool:
            await asyncio.to_thread(write, spool)
            spool.seek(0)
            self._fsm.restore(spool)
        self._index += 1
        return self._index

    def applied_snapshot_meta(self) -> SnapshotMeta:
        configuration = Configuration((Server(self._id, self._address),))
        return SnapshotMeta(self._index, 1, configuration, 0, 0)

    def is_leader(self) -> bool:
        return True

    def leader_address(self) -> str | None:
        return self._address

    def peers(self) -> list[str]:
        return [self._address]

    def last_contact(self) -> float:
        return 0.0

    def last_index(self) -> int:
        return self._index

    async def remove_server(self, server_id: str, timeout: float | None = None) -> None:
        raise ConsensusError("an in-memory cluster of one cannot remove servers")

    def on_leadership_change(self, callback: Callable[[bool], None]) -> None:
        self._observers.append(callback)

    def stats(self) -> dict[str, str]:
        """hashicorp/raft's ``Stats()`` for a cluster of one that commits at once."""
        index = str(self._index)
        return {
            "applied_index": index, "commit_index": index, "fsm_pending": "0",
            "last_contact": "0", "last_log_index": index, "last_log_term": "1",
            "last_snapshot_index": "0", "last_snapshot_term": "0",
            "latest_configuration": f"[{{Suffrage:Voter ID:{self._id} Address:{self._address}}}]",
            "latest_configuration_index": "0", "num_peers": "0",
            "protocol_version": "3", "protocol_version_max": "3", "protocol_version_min": "0",
            "snapshot_version_max": "1", "snapshot_version_min": "0",
            "state": "Leader", "term": "1",
        }

    def term(self) -> int:
        return 1

    def servers(self) -> list[ServerView]:
        return [ServerView(self._id, self._address, True, 0.0, self._index)]

    async def add_voter(self, server_id: str, address: str) -> None:
        raise ConsensusError("a -dev server cannot add servers")

    async def add_nonvoter(self, server_id: str, address: str) -> None:
        raise ConsensusError("a -dev server cannot add servers")

    async def transfer_leadership(self, server_id: str | None = None) -> str:
        raise ConsensusError("cannot find peer")
