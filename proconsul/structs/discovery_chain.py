"""The compiled discovery chain (Consul's agent/structs/discovery_chain.go).

``/v1/discovery-chain/:service`` returns ``{"Chain": CompiledDiscoveryChain}``.
Durations are shown as Go does: ``ConnectTimeout`` as a duration string,
the resolver's ``RequestTimeout`` as nanoseconds (Consul marshals only the
former specially).
"""

from __future__ import annotations

from typing import Any

import msgspec

from proconsul.structs.base import UNSET, Int, Record, UnsetType
from proconsul.structs.config_entries.chain import (
    LoadBalancer,
    ServiceResolverFailoverPolicy,
    ServiceResolverSubset,
    ServiceRoute,
    ServiceSplit,
)
from proconsul.structs.config_entries.service import MeshGatewayConfig, TransparentProxyConfig

__all__ = [
    "CompiledDiscoveryChain",
    "DiscoveryFailover",
    "DiscoveryGraphNode",
    "DiscoveryResolver",
    "DiscoveryRoute",
    "DiscoverySplit",
    "DiscoveryTarget",
    "NODE_RESOLVER",
    "NODE_ROUTER",
    "NODE_SPLITTER",
    "chain_id",
    "target_sni",
]

NODE_ROUTER = "router"
NODE_SPLITTER = "splitter"
NODE_RESOLVER = "resolver"


def chain_id(service: str, subset: str, namespace: str, partition: str, datacenter: str,
             peer: str = "") -> str:
    """A target's ID: ``[<subset>.]<service>.<ns>.<partition>.<dc>`` (peers: ``.external.``)."""
    if peer:
        return f"{service}.{namespace}.{partition}.external.{peer}"
    if subset:
        return f"{subset}.{service}.{namespace}.{partition}.{datacenter}"
    return f"{service}.{namespace}.{partition}.{datacenter}"


def target_sni(service: str, subset: str, namespace: str, partition: str, datacenter: str,
               trust_domain: str) -> str:
    """Consul's ServiceSNI: ``[<subset>.]<svc>.<ns>.<dc>.internal.<td>`` in the default
    partition, ``[<subset>.]<svc>.<ns>.<ap>.<dc>.internal-v1.<td>`` otherwise."""
    namespace = namespace or "default"
    partition = partition or "default"
    parts = [subset] if subset else []
    if partition == "default":
        parts += [service, namespace, datacenter, "internal", trust_domain]
    else:
        parts += [service, namespace, partition, datacenter, "internal-v1", trust_domain]
    return ".".join(parts)


class DiscoveryFailover(Record):
    Targets: list[str] | UnsetType = UNSET
    Policy: ServiceResolverFailoverPolicy | UnsetType = UNSET
    Regions: list[str] | UnsetType = UNSET


class DiscoveryResolver(Record):
    """The compiled form of a resolver: its target, timeouts and failover."""

    ConnectTimeout: str | UnsetType = UNSET
    Default: bool | UnsetType = UNSET
    RequestTimeout: Int | UnsetType = UNSET
    Target: str | UnsetType = UNSET
    Failover: DiscoveryFailover | UnsetType = UNSET


class DiscoveryRoute(Record):
    Definition: ServiceRoute | UnsetType = UNSET
    NextNode: str | UnsetType = UNSET


class DiscoverySplit(Record):
    Definition: ServiceSplit | UnsetType = UNSET
    Weight: float | UnsetType = UNSET
    NextNode: str | UnsetType = UNSET


class DiscoveryGraphNode(Record):
    """A router, splitter or resolver node; its key in Nodes is ``<Type>:<Name>``."""

    Type: str = ""
    Name: str = ""
    Routes: list[DiscoveryRoute] | UnsetType = UNSET
    Splits: list[DiscoverySplit] | UnsetType = UNSET
    Resolver: DiscoveryResolver | UnsetType = UNSET
    LoadBalancer: LoadBalancer | UnsetType = UNSET

    def map_key(self) -> str:
        return f"{self.Type}:{self.Name}"


class DiscoveryTarget(Record):
    """One set of instances to discover: service, subset, namespace, partition, DC or peer."""

    ConnectTimeout: str | UnsetType = UNSET
    ID: str | UnsetType = UNSET
    Service: str | UnsetType = UNSET
    ServiceSubset: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET
    Datacenter: str | UnsetType = UNSET
    Peer: str | UnsetType = UNSET
    Locality: dict[str, Any] | UnsetType = UNSET
    MeshGateway: MeshGatewayConfig = msgspec.field(default_factory=MeshGatewayConfig)
    Subset: ServiceResolverSubset = msgspec.field(default_factory=ServiceResolverSubset)
    TransparentProxy: TransparentProxyConfig = msgspec.field(
        default_factory=TransparentProxyConfig)
    External: bool | UnsetType = UNSET
    SNI: str | UnsetType = UNSET
    Name: str | UnsetType = UNSET
    PrioritizeByLocality: dict[str, Any] | UnsetType = UNSET


class CompiledDiscoveryChain(Record):
    """A service's discovery chain: the graph from StartNode down to Targets."""

    ServiceName: str = ""
    Namespace: str = ""
    Partition: str = ""
    Datacenter: str = ""
    CustomizationHash: str | UnsetType = UNSET
    Default: bool | UnsetType = UNSET
    Protocol: str | UnsetType = UNSET
    ServiceMeta: dict[str, str] | UnsetType = UNSET
    EnvoyExtensions: list[dict[str, Any]] | UnsetType = UNSET
    StartNode: str | UnsetType = UNSET
    Nodes: dict[str, DiscoveryGraphNode] | UnsetType = UNSET
    Targets: dict[str, DiscoveryTarget] | UnsetType = UNSET
    AutoVirtualIPs: list[str] | None = None
    ManualVirtualIPs: list[str] | None = None
