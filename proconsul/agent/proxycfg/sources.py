"""The agent-cache reads proxycfg watches: each returns ``(value, index)`` and blocks on the index."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec

from proconsul.agent.cache import (
    Cache,
    CacheControl,
    CatalogListServices,
    GatewayServices,
    HealthServices,
)
from proconsul.agent.cache.connect_ca import ConnectCALeaf, ConnectCARoots, LeafCertRequest
from proconsul.agent.cache.types import CacheType, PolledType
from proconsul.agent.proxycfg.transparent import TYPICAL_SERVICES
from proconsul.structs.config_entry_rpc import ConfigEntryQuery, DiscoveryChainRequest
from proconsul.structs.prepared_query import PreparedQueryExecuteRequest
from proconsul.structs.requests import DCSpecificRequest, ServiceSpecificRequest

INTENTIONS_KIND = "service-intentions"
QUERY_POLL = 10.0  # seconds between runs of a prepared-query upstream (no blocking reads)


class ConfigEntriesList(CacheType):
    name = "config-entries"
    rpc_method = "ConfigEntry.List"


class ConfigEntryGet(CacheType):
    name = "config-entry"
    rpc_method = "ConfigEntry.Get"


class CompiledDiscoveryChain(CacheType):
    name = "compiled-discovery-chain"
    rpc_method = "DiscoveryChain.Get"


class PreparedQueryPoll(PolledType):
    """A prepared query's answer as proxycfg polls it: its index moves when the service or
    the set of instances does (the servers shuffle them: their order is no change)."""

    name = "proxycfg-prepared-query"
    rpc_method = "PreparedQuery.Execute"

    def answer(self, reply: Any) -> Any:
        return reply.Service, sorted(msgspec.msgpack.encode(node) for node in reply.Nodes or ())


class FederationStateListMeshGateways(CacheType):
    """Every datacenter's mesh gateways, from the federation states (Consul's
    ``federation-state-list-mesh-gateways``)."""

    name = "federation-state-list-mesh-gateways"
    rpc_method = "FederationState.ListMeshGateways"


ROOTS, HEALTH, GATEWAY_SERVICES = ConnectCARoots(), HealthServices(), GatewayServices()
MESH_GATEWAYS, SERVICES = FederationStateListMeshGateways(), CatalogListServices()
ENTRIES, ENTRY, CHAIN = ConfigEntriesList(), ConfigEntryGet(), CompiledDiscoveryChain()
QUERY = PreparedQueryPoll()
ASK_AGAIN = CacheControl(must_revalidate=True)


@dataclass(frozen=True)
class Sources:
    """Fetches for each kind of datum, through one agent's cache."""

    cache: Cache
    leaf: ConnectCALeaf
    datacenter: str

    async def roots(self, token: str, index: int):
        r = await self.cache.get(ROOTS, DCSpecificRequest(
            Datacenter=self.datacenter, Token=token, MinQueryIndex=index))
        return r.value, r.index

    async def leaf_cert(self, service: str, token: str, index: int):
        r = await self.cache.get(self.leaf, LeafCertRequest(
            Datacenter=self.datacenter, Service=service, Token=token, MinQueryIndex=index))
        return r.value.cert, r.index

    async def intentions(self, token: str, index: int):
        r = await self.cache.get(ENTRIES, ConfigEntryQuery(
            Datacenter=self.datacenter, Kind=INTENTIONS_KIND, Token=token, MinQueryIndex=index))
        return r.value.Entries, r.index

    async def proxy_defaults(self, token: str, index: int):
        """The ``proxy-defaults`` entry ``global`` (a dict), or None."""
        return await self._entry("proxy-defaults", "global", token, index)

    async def mesh(self, token: str, index: int):
        """The ``mesh`` entry (a dict), or None."""
        return await self._entry("mesh", "mesh", token, index)

    async def service_defaults(self, name: str, token: str, index: int):
        """The ``service-defaults`` entry of ``name`` (a dict), or None."""
        return await self._entry("service-defaults", name, token, index)

    async def ingress_entry(self, name: str, token: str, index: int):
        """The ``ingress-gateway`` entry of the gateway ``name`` (a dict), or None."""
        return await self._entry("ingress-gateway", name, token, index)

    async def gateway_services(self, gateway: str, token: str, index: int):
        """The gateway-services rows of ``gateway`` (its linked or listed services)."""
        r = await self.cache.get(GATEWAY_SERVICES, ServiceSpecificRequest(
            Datacenter=self.datacenter, ServiceName=gateway, Token=token, MinQueryIndex=index))
        return r.value.Services or [], r.index

    async def _entry(self, kind: str, name: str, token: str, index: int):
        r = await self.cache.get(ENTRY, ConfigEntryQuery(
            Datacenter=self.datacenter, Kind=kind, Name=name, Token=token, MinQueryIndex=index))
        return r.value.Entry, r.index

    async def mesh_gateways(self, token: str, index: int):
        """``{datacenter: [CheckServiceNode]}``: the mesh gateways of every datacenter."""
        r = await self.cache.get(MESH_GATEWAYS, DCSpecificRequest(
            Datacenter=self.datacenter, Token=token, MinQueryIndex=index))
        return r.value.DatacenterNodes or {}, r.index

    async def services(self, token: str, index: int, filter_expr: str = ""):
        """The local catalog's service names (with their tags), those ``filter_expr``
        keeps if given."""
        r = await self.cache.get(SERVICES, DCSpecificRequest(
            Datacenter=self.datacenter, Filter=filter_expr, Token=token, MinQueryIndex=index))
        return r.value.Services or {}, r.index

    async def typical_services(self, token: str, index: int):
        """The names of the catalog's typical services (no proxies or gateways): the
        candidates of a transparent proxy's intention upstreams."""
        return await self.services(token, index, TYPICAL_SERVICES)

    async def resolvers(self, token: str, index: int):
        """Every ``service-resolver`` entry (dicts): a mesh gateway's subsets."""
        r = await self.cache.get(ENTRIES, ConfigEntryQuery(
            Datacenter=self.datacenter, Kind="service-resolver", Token=token,
            MinQueryIndex=index))
        return r.value.Entries, r.index

    async def chain(self, name: str, datacenter: str, token: str, index: int):
        r = await self.cache.get(CHAIN, DiscoveryChainRequest(
            Datacenter=self.datacenter, Name=name, EvaluateInDatacenter=datacenter,
            Token=token, MinQueryIndex=index))
        return r.value.Chain, r.index

    async def health(self, service: str, datacenter: str, token: str, index: int):
        r = await self.cache.get(HEALTH, ServiceSpecificRequest(
            Datacenter=datacenter, ServiceName=service, Connect=True, Token=token,
            MinQueryIndex=index))
        return r.value.Nodes, r.index

    async def service_health(self, service: str, datacenter: str, token: str, index: int):
        """The catalog instances of a (non-mesh) service, as a terminating gateway reaches them."""
        r = await self.cache.get(HEALTH, ServiceSpecificRequest(
            Datacenter=datacenter, ServiceName=service, Token=token, MinQueryIndex=index))
        return r.value.Nodes, r.index

    async def prepared_query(self, name: str, datacenter: str, token: str, index: int):
        """A prepared query's connect instances, asked again every QUERY_POLL seconds
        through the cache (queries have no blocking reads)."""
        if index:
            await asyncio.sleep(QUERY_POLL)
        r = await self.cache.get(QUERY, PreparedQueryExecuteRequest(
            Datacenter=datacenter, QueryIDOrName=name, Connect=True, Token=token), ASK_AGAIN)
        return r.value, r.index
