"""Cluster membership (who votes) and the timing and size knobs of a Raft node.

Servers follow Raft protocol 3: each has a stable ID and an address that may
change. Membership changes travel through the log as configuration entries
and take effect on a server as soon as the entry is appended, as in
hashicorp/raft.
"""

from __future__ import annotations

import enum
import functools

import msgspec


class Suffrage(enum.IntEnum):
    """Whether a server's vote counts (values match hashicorp/raft)."""

    VOTER = 0
    NONVOTER = 1
    STAGING = 2


class Server(
    msgspec.Struct, frozen=True, rename={"suffrage": "Suffrage", "id": "ID", "address": "Address"}
):
    """One member of the cluster."""

    id: str
    address: str
    suffrage: Suffrage = Suffrage.VOTER


class Configuration(msgspec.Struct, frozen=True, dict=True, rename={"servers": "Servers"}):
    """The set of servers; encoded into configuration log entries and snapshots.

    Immutable, so derived facts are computed once (``dict=True`` gives the
    instance a ``__dict__`` for :func:`functools.cached_property`).
    """

    servers: tuple[Server, ...] = ()

    def get(self, server_id: str) -> Server | None:
        for server in self.servers:
            if server.id == server_id:
                return server
        return None

    def voters(self) -> tuple[str, ...]:
        return self.voter_ids

    @functools.cached_property
    def voter_ids(self) -> tuple[str, ...]:
        """The voters' IDs; after the first read a plain attribute (no call), for the
        commit and lease checks Raft makes on every turn."""
        return tuple(s.id for s in self.servers if s.suffrage == Suffrage.VOTER)

    def is_voter(self, server_id: str) -> bool:
        return server_id in self.voter_ids

    def ids(self) -> list[str]:
        return [s.id for s in self.servers]

    def with_server(self, server: Server) -> Configuration:
        """Add ``server``, or replace the server with the same ID in place."""
        if self.get(server.id) is None:
            return Configuration((*self.servers, server))
        return Configuration(tuple(server if s.id == server.id else s for s in self.servers))

    def without(self, server_id: str) -> Configuration:
        return Configuration(tuple(s for s in self.servers if s.id != server_id))

    def encode(self) -> bytes:
        return msgspec.msgpack.encode(self)

    @staticmethod
    def decode(data: bytes) -> Configuration:
        return msgspec.msgpack.decode(data, type=Configuration)


# A leader's heartbeat period: a quarter of autopilot's default LastContactThreshold.
HEARTBEAT_INTERVAL = 0.05


def quorum_size(voters: int) -> int:
    return voters // 2 + 1


class RaftConfig(msgspec.Struct, frozen=True):
    """Timing (seconds) and size limits of one node.

    ``heartbeat_timeout``: a follower that hears nothing from a leader for a
    random time in [t, 2t) starts an election. ``election_timeout``: a
    candidate that has not won within a random time in [t, 2t) starts over.
    ``leader_lease_timeout``: a leader that has not heard from a quorum of
    voters for this long steps down (check-quorum). Heartbeats go out every
    ``heartbeat_interval``. An append unanswered for ``append_retry_after`` is
    taken as lost and the follower is probed again.
    """

    heartbeat_timeout: float = 1.0
    election_timeout: float = 1.0
    leader_lease_timeout: float = 0.5
    heartbeat_interval: float = 0.1
    append_retry_after: float = 0.3
    max_append_entries: int = 64
    max_inflight_appends: int = 16
    trailing_logs: int = 10240
    snapshot_chunk_size: int = 1 << 20
    pre_vote: bool = True
    check_quorum: bool = True

    @staticmethod
    def with_multiplier(raft_multiplier: int = 5, **overrides: object) -> RaftConfig:
        """Consul's timing: hashicorp/raft base timeouts times ``raft_multiplier``.

        Heartbeats do not scale: they go out every :data:`HEARTBEAT_INTERVAL`, so a
        healthy follower's last contact stays well under autopilot's default
        ``LastContactThreshold`` of 200 ms at any multiplier.
        """
        m = float(raft_multiplier)
        base = RaftConfig(
            heartbeat_timeout=1.0 * m,
            election_timeout=1.0 * m,
            leader_lease_timeout=0.5 * m,
            heartbeat_interval=min(HEARTBEAT_INTERVAL, 0.1 * m),
            append_retry_after=0.3 * m,
        )
        return msgspec.structs.replace(base, **overrides)
