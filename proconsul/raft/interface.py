"""The boundary between consensus and the layers above it.

Upper layers (server, agent) propose commands through :class:`Consensus` and
never learn whether a real Raft cluster or the in-memory single node used by
``-dev`` sits behind it. Raft delivers committed commands to a
:class:`StateMachine`, which the fsm layer implements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from proconsul.raft.messages import Entry


class ConsensusError(Exception):
    """A proposal could not be committed; the message says why."""


class NotLeaderError(ConsensusError):
    """This node is not the leader; the caller should retry on the leader."""

    def __init__(self, leader_address: str | None = None) -> None:
        super().__init__("node is not the leader")
        self.leader_address = leader_address


class NoLeaderError(ConsensusError):
    """No leader is known right now (an election is in progress)."""

    def __init__(self) -> None:
        super().__init__("No cluster leader")


class StateMachineSnapshot(Protocol):
    """A point-in-time view of the state machine that can be streamed out."""

    def write(self, sink: BinaryIO) -> None:
        """Stream the snapshot into ``sink`` (may run in a worker thread)."""

    def release(self) -> None:
        """Drop any resources held for the snapshot."""


class StateMachine(Protocol):
    """What consensus drives: deterministic application of committed commands."""

    def apply(self, index: int, data: bytes) -> Any:
        """Apply the command committed at ``index``; return its response.

        A returned :class:`Exception` instance is the command's own error (for
        example a failed check-and-set); it is handed back to the proposer.
        """

    def apply_batch(self, entries: Sequence[Entry]) -> list[Any]:
        """Apply committed entries in order, as :meth:`apply` each command; one response
        per entry, None for entries that are not commands (no-ops, barriers,
        configurations)."""

    def snapshot(self) -> StateMachineSnapshot:
        """Capture the current state for streaming."""

    def restore(self, source: BinaryIO) -> None:
        """Replace the whole state with the snapshot read from ``source``."""


class Consensus(Protocol):
    """How the layers above propose commands and ask about leadership."""

    async def apply(self, data: bytes, timeout: float | None = None) -> Any:
        """Commit ``data`` and return the state machine's response to it."""

    def submit(self, data: bytes, timeout: float | None = None) -> asyncio.Future[Any]:
        """Propose ``data`` now (:class:`NoLeaderError`/:class:`NotLeaderError` at once if
        this node cannot); the future gets the state machine's response, or the error.
        :meth:`apply` without a coroutine, for callers that go on in a callback."""

    async def barrier(self, timeout: float | None = None) -> None:
        """Wait until every command committed before the call is applied."""

    async def verify_leader(self) -> None:
        """Confirm with a quorum that this node is still the leader."""

    async def restore(self, write: Callable[[BinaryIO], None],
                      timeout: float | None = None) -> int:
        """Leader only: replace the whole state by the snapshot ``write(file)`` produces
        (an operator's restore); returns the raft index it now sits at."""

    def is_leader(self) -> bool: ...

    def leader_address(self) -> str | None: ...

    def peers(self) -> list[str]:
        """Addresses of the voters in the current configuration."""

    def last_contact(self) -> float:
        """Seconds since the leader was last heard from (0 on the leader)."""

    def last_index(self) -> int: ...

    async def remove_server(self, server_id: str, timeout: float | None = None) -> None:
        """Leader only: commit a configuration without ``server_id``."""

    def on_leadership_change(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(is_leader)`` whenever this node gains or loses leadership."""


class ServerStatus(Protocol):
    """One server of the Raft configuration as the leader sees it."""

    id: str
    address: str
    voter: bool
    last_contact: float  # seconds since the leader last heard from it (0 for itself)
    last_index: int  # highest log index known to be stored on it


class Membership(Protocol):
    """Cluster membership, for autopilot and the operator API."""

    def servers(self) -> list[ServerStatus]:
        """Every server in the configuration; contact and index are the leader's view."""

    def term(self) -> int: ...

    def stats(self) -> dict[str, str]:
        """hashicorp/raft's ``Stats()`` (state, term, indexes, configuration) as strings."""
        ...

    async def add_voter(self, server_id: str, address: str) -> None: ...

    async def add_nonvoter(self, server_id: str, address: str) -> None: ...

    async def transfer_leadership(self, server_id: str | None = None) -> str: ...
