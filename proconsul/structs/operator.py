"""Operator types: Raft configuration and autopilot."""

from __future__ import annotations

from proconsul.structs.base import Int, Record, Uint64
from proconsul.structs.query import QueryMeta
from proconsul.structs.requests import DCSpecificRequest
from proconsul.structs.service_kinds import (
    CONNECT_PROXY,
    INGRESS_GATEWAY,
    MESH_GATEWAY,
    TERMINATING_GATEWAY,
)


class AutopilotConfig(Record):
    """Autopilot settings (``/v1/operator/autopilot/configuration``); durations as Go strings."""

    CleanupDeadServers: bool = True
    LastContactThreshold: str = "200ms"
    MaxTrailingLogs: Uint64 = 250
    MinQuorum: Uint64 = 0
    ServerStabilizationTime: str = "10s"
    RedundancyZoneTag: str = ""
    DisableUpgradeMigration: bool = False
    UpgradeVersionTag: str = ""
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class AutopilotSetConfigRequest(Record):
    """The raft command (message type 9) that stores the autopilot configuration."""

    Config: AutopilotConfig
    CAS: bool = False
    Datacenter: str = ""
    Token: str = ""


class RaftServer(Record):
    """One server in ``/v1/operator/raft/configuration``."""

    ID: str
    Node: str
    Address: str
    Leader: bool
    ProtocolVersion: str = "3"
    Voter: bool = True


class RaftConfigurationResponse(Record):
    Servers: list[RaftServer]
    Index: Uint64


class ServerHealth(Record):
    """One server in ``/v1/operator/autopilot/health``."""

    ID: str
    Name: str
    Address: str
    SerfStatus: str
    Version: str
    Leader: bool
    LastContact: str
    LastTerm: Uint64
    LastIndex: Uint64
    Healthy: bool
    Voter: bool
    StableSince: str


class OperatorHealthReply(Record):
    Healthy: bool
    FailureTolerance: Int
    Servers: list[ServerHealth]


# The kinds counted in ConnectServiceInstances ("connect-native": typical services
# with Connect.Native), as Consul's /v1/operator/usage lists them.
CONNECT_USAGE_KINDS = ("connect-native", CONNECT_PROXY, INGRESS_GATEWAY, MESH_GATEWAY,
                       TERMINATING_GATEWAY)


class ServiceUsage(Record):
    """One datacenter's counts in ``/v1/operator/usage``."""

    Services: Int = 0
    ServiceInstances: Int = 0
    ConnectServiceInstances: dict[str, Int] = {}
    BillableServiceInstances: Int = 0
    Nodes: Int = 0


class OperatorUsageRequest(DCSpecificRequest):
    """Operator.Usage: this datacenter's usage, or every known datacenter's (Global)."""

    Global: bool = False


class Usage(QueryMeta):
    """Operator.Usage's reply, and the ``/v1/operator/usage`` body."""

    Usage: dict[str, ServiceUsage] = {}
    NotModified: bool = False
    Backend: Int = 0
    ResultsFilteredByACLs: bool = False
