"""A connect proxy's configuration snapshot: everything its Envoy resources are built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proconsul.agent.proxycfg.transparent import DEFAULT_OUTBOUND_PORT
from proconsul.agent.proxycfg.watches import Datum
from proconsul.structs.catalog import NodeService, Upstream
from proconsul.structs.discovery_chain import CompiledDiscoveryChain
from proconsul.structs.service_kinds import TRANSPARENT


def upstream_id(upstream: Upstream) -> str:
    """Consul's upstream identifier: the name, with ``?dc=`` for another datacenter."""
    if upstream.DestinationType == "prepared_query":
        return f"prepared_query:{upstream.DestinationName}"
    if upstream.Datacenter:
        return f"{upstream.DestinationName}?dc={upstream.Datacenter}"
    return upstream.DestinationName


@dataclass
class UpstreamSnapshot:
    """One explicit upstream of the proxy, its compiled chain and its targets' endpoint datums."""

    id: str
    upstream: Upstream
    chain: CompiledDiscoveryChain | None = None
    endpoints: dict[str, Datum] = field(default_factory=dict)  # target ID -> health datum


class SnapshotIdentity:
    """Whom a snapshot's Envoy serves as and in which trust domain (its CA roots'); a
    gateway serves as its own service."""

    service: NodeService
    roots: Any

    @property
    def destination(self) -> str:
        return self.service.Service

    @property
    def trust_domain(self) -> str:
        return self.roots.TrustDomain if self.roots is not None else ""


@dataclass
class ConfigSnapshot(SnapshotIdentity):
    """What the xDS resources of one proxy are made of (Consul's ``proxycfg.ConfigSnapshot``)."""

    proxy_id: str
    service: NodeService  # the proxy's registration
    datacenter: str
    node_address: str
    default_allow: bool
    roots: Any = None  # IndexedCARoots
    leaf: Any = None  # IssuedCert with its PrivateKeyPEM
    intentions: Datum | None = None  # service-intentions entries (raw)
    own_chain: CompiledDiscoveryChain | None = None  # the destination's chain: its protocol
    upstreams: list[UpstreamSnapshot] = field(default_factory=list)
    proxy_defaults: dict[str, Any] = field(default_factory=dict)  # the global entry
    defaults_known: bool = False  # the proxy-defaults read has answered (entry or none)
    mesh: dict[str, Any] = field(default_factory=dict)  # the mesh entry: TLS, HTTP settings
    mesh_known: bool = False
    gateways: Datum | None = None  # {dc: mesh gateways}, watched for targets in other DCs
    mode: str = ""  # resolved Proxy.Mode: "transparent" gets the outbound listener
    outbound_port: int = DEFAULT_OUTBOUND_PORT
    mode_known: bool = True  # service-defaults (and in transparent mode the catalog) answered
    intention_upstreams: list[UpstreamSnapshot] = field(default_factory=list)  # implicit

    @property
    def destination(self) -> str:
        return self.service.Proxy.DestinationServiceName or ""

    @property
    def config(self) -> dict[str, Any]:
        """The proxy's ``Config``: proxy-defaults' ``Config`` under the registration's."""
        return {**(self.proxy_defaults.get("Config") or {}), **(self.service.Proxy.Config or {})}

    @property
    def transparent(self) -> bool:
        return self.mode == TRANSPARENT

    @property
    def mesh_destinations_only(self) -> bool:
        return bool((self.mesh.get("TransparentProxy") or {}).get("MeshDestinationsOnly"))

    @property
    def all_upstreams(self) -> list[UpstreamSnapshot]:
        """Explicit upstreams, then those a transparent proxy reaches by intentions."""
        return self.upstreams + self.intention_upstreams

    @property
    def protocol(self) -> str:
        """The destination service's protocol: service-defaults, proxy-defaults, else tcp."""
        explicit = self.config.get("protocol")
        if self.own_chain is not None and self.own_chain.Protocol:
            return str(self.own_chain.Protocol)
        return str(explicit or "tcp")

    def ready(self) -> bool:
        return (self.roots is not None and self.leaf is not None
                and self.intentions is not None and self.own_chain is not None
                and self.defaults_known and self.mesh_known and self.mode_known
                and all(u.chain is not None for u in self.all_upstreams))
