"""Agent-local types: services as ``/v1/agent/services`` shows them."""

from __future__ import annotations

from msgspec import field

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.catalog import (
    ConnectProxyConfig,
    Locality,
    NodeService,
    ServiceAddress,
    ServiceConnect,
    ServicePort,
    Weights,
)


class AgentService(Record):
    """A service registered with the local agent (``api.AgentService``)."""

    ID: str = ""
    Service: str = ""
    Tags: list[str] = []
    Meta: dict[str, str] = {}
    Port: Int = 0
    Address: str = ""
    Weights: Weights = field(default_factory=Weights)
    EnableTagOverride: bool = False
    Datacenter: str = ""
    Kind: str | UnsetType = UNSET
    SocketPath: str | UnsetType = UNSET
    TaggedAddresses: dict[str, ServiceAddress] | UnsetType = UNSET
    Locality: Locality | UnsetType = UNSET
    Ports: list[ServicePort] | UnsetType = UNSET
    Proxy: ConnectProxyConfig | UnsetType = UNSET
    Connect: ServiceConnect | UnsetType = UNSET
    PeerName: str | UnsetType = UNSET
    ContentHash: str | UnsetType = UNSET
    CreateIndex: Uint64 | UnsetType = UNSET
    ModifyIndex: Uint64 | UnsetType = UNSET

    @classmethod
    def from_node_service(cls, service: NodeService, datacenter: str) -> AgentService:
        """The agent's view of a catalog service entry."""
        return cls(
            ID=service.ID, Service=service.Service, Tags=list(service.Tags or ()),
            Meta=dict(service.Meta or {}), Port=service.Port, Address=service.Address,
            Weights=service.Weights or Weights(), EnableTagOverride=service.EnableTagOverride,
            Datacenter=datacenter, Kind=service.Kind, SocketPath=service.SocketPath,
            TaggedAddresses=service.TaggedAddresses, Locality=service.Locality,
            Ports=service.Ports,
            Proxy=service.Proxy if service.Kind else UNSET,
            Connect=service.Connect if service.Connect != ServiceConnect() else UNSET,
            PeerName=service.PeerName,
        )


class AgentMember(Record):
    """A gossip pool member as ``/v1/agent/members`` and ``/v1/agent/self`` show it."""

    Name: str = ""
    Addr: str = ""
    Port: Int = 0
    Tags: dict[str, str] = field(default_factory=dict)
    Status: Int = 0
    ProtocolMin: Int = 0
    ProtocolMax: Int = 0
    ProtocolCur: Int = 0
    DelegateMin: Int = 0
    DelegateMax: Int = 0
    DelegateCur: Int = 0
