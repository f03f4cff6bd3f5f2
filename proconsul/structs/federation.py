"""The federation as one server sees it (``GET /v1/operator/federation``, beyond Consul)."""

from __future__ import annotations

from msgspec import field

from proconsul.structs.base import Record, Uint64


class FederationServer(Record):
    """One server of a datacenter, from the WAN pool."""

    Name: str = ""  # WAN member name, ``node.dc``
    Node: str = ""
    Address: str = ""  # its RPC address, host:port
    Status: str = ""  # WAN gossip: "alive" or "failed"
    Reachable: bool = False  # alive and not cut off for this server's WAN router


class ReplicationStatus(Record):
    """How far one replicated type (ACL policies, config entries, ...) lags the primary.

    Filled in once replication exists; the map that holds these is empty until then."""

    Running: bool = False
    LastIndex: Uint64 = 0
    LagSeconds: float = 0.0
    LastSuccess: str = ""  # RFC 3339, "" if never
    LastError: str = ""


class FederationDatacenter(Record):
    """One datacenter: its servers, its leader as seen over the WAN, distance, lag."""

    Datacenter: str = ""
    Local: bool = False
    RTTMillis: float | None = None  # median estimated RTT to its servers; None if unknown
    Leader: str = ""  # its leader's RPC address, asked over the WAN ("" if none/unreachable)
    KnownLeader: bool = False
    Servers: list[FederationServer] = field(default_factory=list)
    Replication: dict[str, ReplicationStatus] = field(default_factory=dict)
    LastError: str = ""  # why Leader could not be learned, "" when it was
    Gateway: str = ""  # the mesh gateway it is reached through (WAN federation), "" if direct


class FederationStatus(Record):
    """Every datacenter known to the answering server, nearest first."""

    Datacenter: str = ""  # the answering server's own
    Server: str = ""  # its WAN member name
    Datacenters: list[FederationDatacenter] = field(default_factory=list)
