"""Catalog types: nodes, services, health checks and their request shapes."""

from __future__ import annotations

from typing import Any

from msgspec import field

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType

# Health check statuses.
HEALTH_PASSING = "passing"
HEALTH_WARNING = "warning"
HEALTH_CRITICAL = "critical"
HEALTH_MAINT = "maintenance"
HEALTH_ANY = "any"
HEALTH_STATES = (HEALTH_PASSING, HEALTH_WARNING, HEALTH_CRITICAL, HEALTH_MAINT)

SERF_CHECK_ID = "serfHealth"
SERF_CHECK_NAME = "Serf Health Status"
SERF_CHECK_ALIVE_OUTPUT = "Agent alive and reachable"


class Weights(Record):
    """Service weights used for DNS SRV answers."""

    Passing: Int = 1
    Warning: Int = 1


class ServiceAddress(Record):
    """One tagged address of a service."""

    Address: str = ""
    Port: Int = 0


class Locality(Record):
    """Where a service instance runs (cloud region and zone)."""

    Region: str | UnsetType = UNSET
    Zone: str | UnsetType = UNSET


class ServicePort(Record):
    """One named port of a multi-port service."""

    Name: str = ""
    Port: Int = 0
    Default: bool = False


class Upstream(Record):
    """A proxy upstream: what the local app reaches through the proxy (omitempty fields UNSET)."""

    DestinationType: str | UnsetType = UNSET
    DestinationNamespace: str | UnsetType = UNSET
    DestinationPartition: str | UnsetType = UNSET
    DestinationPeer: str | UnsetType = UNSET
    DestinationName: str = ""
    Datacenter: str = ""
    LocalBindAddress: str | UnsetType = UNSET
    LocalBindPort: Int | UnsetType = UNSET
    LocalBindSocketPath: str | UnsetType = UNSET
    LocalBindSocketMode: str | UnsetType = UNSET
    Config: dict[str, Any] | UnsetType = UNSET
    MeshGateway: dict[str, Any] = {}
    CentrallyConfigured: bool | UnsetType = UNSET


class ConnectProxyConfig(Record):
    """Proxy settings of a connect-proxy service (Go's omitempty fields are UNSET)."""

    DestinationServiceName: str | UnsetType = UNSET
    DestinationServiceID: str | UnsetType = UNSET
    LocalServiceAddress: str | UnsetType = UNSET
    LocalServicePort: Int | UnsetType = UNSET
    LocalServiceSocketPath: str | UnsetType = UNSET
    Mode: str = ""
    TransparentProxy: dict[str, Any] | UnsetType = UNSET
    Config: dict[str, Any] | UnsetType = UNSET
    Upstreams: list[Upstream] | UnsetType = UNSET
    MeshGateway: dict[str, Any] = {}
    Expose: dict[str, Any] = {}
    AccessLogs: dict[str, Any] | UnsetType = UNSET


class PeeringServiceMeta(Record):
    """How to reach an imported mesh service through its cluster's mesh gateways
    (Consul's PeeringServiceMeta): the SNI and SPIFFE IDs to expect, and its protocol."""

    SNI: list[str] | None = None
    SpiffeID: list[str] | None = None
    Protocol: str = ""


class ServiceConnect(Record):
    """Connect settings of a service (PeerMeta only on a peer's synthetic proxies)."""

    Native: bool | UnsetType = UNSET
    SidecarService: dict[str, Any] | UnsetType = UNSET
    PeerMeta: PeeringServiceMeta | UnsetType = UNSET


class NodeService(Record):
    """A service instance on a node (the ``Service`` of health results)."""

    ID: str = ""
    Service: str = ""
    Tags: list[str] | None = None
    Address: str = ""
    Meta: dict[str, str] | None = None
    Port: Int = 0
    Weights: Weights | None = None
    EnableTagOverride: bool = False
    Proxy: ConnectProxyConfig = field(default_factory=ConnectProxyConfig)
    Connect: ServiceConnect = field(default_factory=ServiceConnect)
    Kind: str | UnsetType = UNSET
    TaggedAddresses: dict[str, ServiceAddress] | UnsetType = UNSET
    SocketPath: str | UnsetType = UNSET
    Locality: Locality | UnsetType = UNSET
    Ports: list[ServicePort] | UnsetType = UNSET
    PeerName: str | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class Node(Record):
    """A catalog node."""

    ID: str = ""
    Node: str = ""
    Address: str = ""
    Datacenter: str = ""
    TaggedAddresses: dict[str, str] | None = None
    Meta: dict[str, str] | None = None
    Partition: str | UnsetType = UNSET
    PeerName: str | UnsetType = UNSET
    Locality: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class ServiceNode(Record):
    """One row of ``/v1/catalog/service/:service``: node fields plus service fields."""

    ID: str = ""
    Node: str = ""
    Address: str = ""
    Datacenter: str = ""
    TaggedAddresses: dict[str, str] | None = None
    NodeMeta: dict[str, str] | None = None
    ServiceKind: str = ""
    ServiceID: str = ""
    ServiceName: str = ""
    ServiceTags: list[str] | None = None
    ServiceAddress: str = ""
    ServiceWeights: Weights = field(default_factory=Weights)
    ServiceMeta: dict[str, str] | None = None
    ServicePort: Int = 0
    ServiceEnableTagOverride: bool = False
    ServiceProxy: ConnectProxyConfig = field(default_factory=ConnectProxyConfig)
    ServiceConnect: ServiceConnect = field(default_factory=ServiceConnect)
    ServiceTaggedAddresses: dict[str, ServiceAddress] | UnsetType = UNSET
    ServiceSocketPath: str | UnsetType = UNSET
    ServiceLocality: Locality | UnsetType = UNSET
    ServicePorts: list[ServicePort] | UnsetType = UNSET
    PeerName: str | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class HealthCheckDefinition(Record):
    """How a catalog check is run; every field is omitempty, durations are Go strings."""

    HTTP: str | UnsetType = UNSET
    TLSServerName: str | UnsetType = UNSET
    TLSSkipVerify: bool | UnsetType = UNSET
    Header: dict[str, list[str]] | UnsetType = UNSET
    Method: str | UnsetType = UNSET
    Body: str | UnsetType = UNSET
    DisableRedirects: bool | UnsetType = UNSET
    TCP: str | UnsetType = UNSET
    TCPUseTLS: bool | UnsetType = UNSET
    UDP: str | UnsetType = UNSET
    H2PING: str | UnsetType = UNSET
    H2PingUseTLS: bool | UnsetType = UNSET
    GRPC: str | UnsetType = UNSET
    GRPCUseTLS: bool | UnsetType = UNSET
    OSService: str | UnsetType = UNSET
    Interval: str | UnsetType = UNSET
    Timeout: str | UnsetType = UNSET
    DeregisterCriticalServiceAfter: str | UnsetType = UNSET
    ScriptArgs: list[str] | UnsetType = UNSET
    DockerContainerID: str | UnsetType = UNSET
    Shell: str | UnsetType = UNSET


class HealthCheck(Record):
    """A health check as stored in the catalog."""

    Node: str = ""
    CheckID: str = ""
    Name: str = ""
    Status: str = ""
    Notes: str = ""
    Output: str = ""
    ServiceID: str = ""
    ServiceName: str = ""
    ServiceTags: list[str] = []
    Type: str = ""
    Interval: str = ""
    Timeout: str = ""
    ExposedPort: Int = 0
    Definition: HealthCheckDefinition = field(default_factory=HealthCheckDefinition)
    PeerName: str | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class CheckServiceNode(Record):
    """One row of ``/v1/health/service/:service``."""

    Node: Node
    Service: NodeService
    Checks: list[HealthCheck]

    def best_address(self, wan: bool) -> tuple[str, int]:
        """Where to reach this instance, Consul's ``BestAddress``: the service's ``wan``
        tagged address (asked for the WAN), else the service address, else the node's
        ``wan`` tagged address (asked for the WAN), else the node address; the port is
        the service's unless the ``wan`` tagged address taken has one."""
        service, node = self.Service, self.Node
        host, port = service.Address, service.Port
        tagged = service.TaggedAddresses if isinstance(service.TaggedAddresses, dict) else {}
        if wan and "wan" in tagged:
            host, port = tagged["wan"].Address, tagged["wan"].Port or port
        if not host:
            node_tagged = node.TaggedAddresses or {}
            host = node_tagged["wan"] if wan and "wan" in node_tagged \
                else node.Address
        return host, port


class NodeServices(Record):
    """``/v1/catalog/node/:node``: the node and a map of its services by ID."""

    Node: Node
    Services: dict[str, NodeService]


class NodeServiceList(Record):
    """``/v1/catalog/node-services/:node``: the node and a list of its services."""

    Node: Node
    Services: list[NodeService]


class RegisterRequest(Record):
    """Catalog.Register: upsert a node and optionally one service and checks."""

    Datacenter: str = ""
    ID: str = ""
    Node: str = ""
    Address: str = ""
    TaggedAddresses: dict[str, str] | None = None
    NodeMeta: dict[str, str] | None = None
    Service: NodeService | None = None
    Check: HealthCheck | None = None
    Checks: list[HealthCheck] | None = None
    SkipNodeUpdate: bool = False
    PeerName: str = ""
    Partition: str = ""
    Namespace: str = ""
    Locality: dict[str, str] | None = None
    Token: str = ""


class DeregisterRequest(Record):
    """Catalog.Deregister: remove a node, or one of its services or checks."""

    Datacenter: str = ""
    Node: str = ""
    ServiceID: str = ""
    CheckID: str = ""
    PeerName: str = ""
    Partition: str = ""
    Namespace: str = ""
    Token: str = ""
