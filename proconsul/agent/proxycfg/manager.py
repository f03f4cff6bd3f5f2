"""The proxycfg manager: a :class:`ProxyState` per watched proxy, fed by shared watches.

An xDS stream asks for the proxy by its service ID; the state subscribes to
the datums its registration needs (roots, its leaf, intentions, its own and each
upstream's discovery chain, each chain target's connect endpoints; in
transparent mode also the catalog's services, and for each service intentions
let it reach the same as for an explicit upstream), re-plans when the
registration, a chain or what picks the upstreams changes, and wakes its streams
with the set of resource types that may have changed. Datums are shared through
:class:`SharedWatches`, so N proxies with the same upstream cost one watch.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from proconsul.agent.proxycfg import gateways, mesh_gateway, transparent
from proconsul.agent.proxycfg.snapshot import (
    ConfigSnapshot,
    UpstreamSnapshot,
    upstream_id,
)
from proconsul.agent.proxycfg.sources import Sources
from proconsul.agent.proxycfg.watches import Datum, SharedWatches
from proconsul.structs.catalog import NodeService, Upstream
from proconsul.structs.discovery_chain import (
    NODE_RESOLVER,
    CompiledDiscoveryChain,
    DiscoveryGraphNode,
    DiscoveryResolver,
    DiscoveryTarget,
)
from proconsul.structs.service_kinds import CONNECT_PROXY, MESH_GATEWAY, TRANSPARENT

CLUSTERS, ENDPOINTS, LISTENERS, ROUTES = "clusters", "endpoints", "listeners", "routes"
ALL = frozenset({CLUSTERS, ENDPOINTS, LISTENERS, ROUTES})
NO_ENTRY: dict = {}  # an absent config entry; one object, so memos keyed on it are shared
# What a change of each kind of datum can alter.
AFFECTS = {"roots": ALL, "leaf": frozenset({CLUSTERS, LISTENERS}),
           "intentions": frozenset({LISTENERS}), "chain": ALL, "proxy-defaults": ALL,
           "mesh": frozenset({CLUSTERS, LISTENERS}),
           "health": frozenset({ENDPOINTS}), "query": ALL,
           "ingress-entry": ALL, "gateway-services": ALL,
           "service-health": frozenset({CLUSTERS, ENDPOINTS}),  # hostnames: LOGICAL_DNS
           "mesh-gateways": ALL, "services": ALL, "resolvers": frozenset({CLUSTERS, ENDPOINTS}),
           "service-defaults": ALL, "typical-services": ALL}
# What a change alters besides, for a proxy in transparent mode: intentions choose its
# upstreams, and its upstreams' instances carry the addresses its outbound listener matches.
TRANSPARENT_AFFECTS = {"intentions": ALL, "health": frozenset({LISTENERS})}
# Datums that change what else a state watches (a transparent proxy's upstreams follow
# the intentions and the catalog's services).
REPLAN = frozenset({"chain", "ingress-entry", "gateway-services", "services", "proxy-defaults",
                    "service-defaults", "typical-services"})
# A mesh gateway has a cluster per local service with endpoints, and a listener chain per
# local server: their health changes more than endpoints.
MESH_GATEWAY_AFFECTS = {**AFFECTS, "health": frozenset({CLUSTERS, ENDPOINTS}),
                        "service-health": ALL}


class Watcher:
    """One xDS stream's view of a proxy state: what changed since it last looked."""

    __slots__ = ("dirty", "event")

    def __init__(self) -> None:
        self.dirty: set[str] = set(ALL)
        self.event = asyncio.Event()
        self.event.set()

    def take(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        self.event.clear()
        return dirty


@dataclass(frozen=True)
class Registration:
    """What proxycfg needs from the local state about a proxy service."""

    service: NodeService
    token: str


class ProxyState:
    """One proxy's watches and latest snapshot; see the module docstring."""

    def __init__(self, manager: Manager, proxy_id: str) -> None:
        self.manager = manager
        self.proxy_id = proxy_id
        self.registration: Registration | None = None
        self.snapshot: (ConfigSnapshot | gateways.GatewaySnapshot
                        | mesh_gateway.MeshGatewaySnapshot | None) = None
        self.watchers: set[Watcher] = set()
        self._keys: set[Hashable] = set()

    @property
    def ready(self) -> bool:
        return self.snapshot is not None and self.snapshot.ready()

    # ---- inputs ---------------------------------------------------------------

    def registration_changed(self, registration: Registration | None) -> None:
        old = self.registration
        if old is not None and registration is not None and \
                old.service is registration.service and old.token == registration.token:
            return
        self.registration = registration
        self._replan()
        self._mark(ALL)

    def datum_changed(self, key: Hashable) -> None:
        kind = key[0]
        snap = self.snapshot
        tproxy = isinstance(snap, ConfigSnapshot) and snap.transparent
        if kind in REPLAN or (tproxy and kind == "intentions"):
            self._replan()
        else:
            self._assemble()
        reg = self.registration
        mesh = reg is not None and reg.service.Kind == MESH_GATEWAY
        affects = (MESH_GATEWAY_AFFECTS if mesh else AFFECTS)[kind]
        self._mark(affects | TRANSPARENT_AFFECTS.get(kind, frozenset()) if tproxy else affects)

    def close(self) -> None:
        for key in self._keys:
            self.manager.watches.unsubscribe(key, self)
        self._keys = set()

    # ---- internals -------------------------------------------------------------

    def _mark(self, kinds: frozenset[str]) -> None:
        for watcher in self.watchers:
            watcher.dirty |= kinds
            watcher.event.set()

    def _datum(self, key: Hashable) -> Datum | None:
        datum = self.manager.watches.datums.get(key)
        return datum if datum is not None and datum.valid else None

    def _replan(self) -> None:
        """Subscribe to what the registration and the known chains need; drop the rest."""
        want = self._wanted_keys()
        watches, sources = self.manager.watches, self.manager.sources
        for key in self._keys - want:
            watches.unsubscribe(key, self)
        for key in want - self._keys:
            watches.subscribe(key, _fetch(sources, key), self)
        self._keys = want
        self._assemble()

    def _wanted_keys(self) -> set[Hashable]:
        reg = self.registration
        if reg is not None and reg.service.Kind == MESH_GATEWAY:
            return mesh_gateway.wanted_keys(reg.service, reg.token, self.manager.datacenter,
                                            self._datum)
        if reg is not None and reg.service.Kind in gateways.KINDS:
            return gateways.wanted_keys(reg.service, reg.token, self.manager.datacenter,
                                        self._datum)
        if reg is None or reg.service.Kind != CONNECT_PROXY:
            return set()
        token, dc = reg.token, self.manager.datacenter
        proxy = reg.service.Proxy
        dest = proxy.DestinationServiceName or ""
        keys: set[Hashable] = {("roots", token), ("intentions", token),
                               ("proxy-defaults", token), ("mesh", token),
                               ("service-defaults", dest, token),
                               ("leaf", dest, token), ("chain", dest, dc, token)}
        for upstream in proxy.Upstreams or ():
            if upstream.DestinationType == "prepared_query":
                keys.add(("query", upstream.DestinationName, upstream.Datacenter or dc, token))
                continue
            self._chain_keys(upstream.DestinationName, upstream.Datacenter or dc, token, keys)
        if self._mode(reg) == TRANSPARENT:
            keys.add(("typical-services", token))
            for name in self._intention_upstreams(reg) or ():
                self._chain_keys(name, dc, token, keys)
        return keys

    def _chain_keys(self, name: str, datacenter: str, token: str, keys: set[Hashable]) -> None:
        """The chain of an upstream and the health of its targets, once the chain is known."""
        key = ("chain", name, datacenter, token)
        keys.add(key)
        chain = self._datum(key)
        for target in (chain.value.Targets or {}).values() if chain and chain.value else ():
            keys.add(("health", target.Service, target.Datacenter, token))
            if target.Datacenter != self.manager.datacenter:  # mesh gateway local / remote
                keys.add(("mesh-gateways", token))

    def _entry(self, key: Hashable) -> dict | None:
        datum = self._datum(key)
        return None if datum is None else datum.value

    def _mode(self, reg: Registration) -> str:
        dest = reg.service.Proxy.DestinationServiceName or ""
        return transparent.mode(reg.service, self._entry(("service-defaults", dest, reg.token)),
                                self._entry(("proxy-defaults", reg.token)))

    def _intention_upstreams(self, reg: Registration) -> list[str] | None:
        """The services intentions let a transparent proxy's service reach that are not
        explicit upstreams in this datacenter; None until the catalog and intentions answer."""
        services = self._datum(("typical-services", reg.token))
        intentions = self._datum(("intentions", reg.token))
        if services is None or intentions is None:
            return None
        proxy, dc = reg.service.Proxy, self.manager.datacenter
        source, allow = proxy.DestinationServiceName or "", self.manager.default_allow
        explicit = {u.DestinationName for u in proxy.Upstreams or ()
                    if u.DestinationType != "prepared_query" and (u.Datacenter or dc) == dc}
        # memoized on the intentions (reset when they change) for the catalog's index: one
        # entry per source, replaced when the catalog moves
        memo_key = ("intention-upstreams", source, allow)
        hit = intentions.memo.get(memo_key)
        if hit is None or hit[0] != services.index:
            hit = intentions.memo[memo_key] = (services.index, transparent.allowed_upstreams(
                services.value, intentions.value, source, allow))
        return [name for name in hit[1] if name not in explicit]

    def _assemble(self) -> None:
        reg = self.registration
        if reg is not None and reg.service.Kind == MESH_GATEWAY:
            self.snapshot = mesh_gateway.assemble(self.proxy_id, reg.service, reg.token,
                                                  self.manager.datacenter,
                                                  self.manager.domain, self._datum)
            return
        if reg is not None and reg.service.Kind in gateways.KINDS:
            self.snapshot = gateways.assemble(self.proxy_id, reg.service, reg.token,
                                              self.manager.datacenter,
                                              self.manager.default_allow, self._datum)
            return
        if reg is None or reg.service.Kind != CONNECT_PROXY:
            self.snapshot = None
            return
        token, dc = reg.token, self.manager.datacenter
        proxy = reg.service.Proxy
        dest = proxy.DestinationServiceName or ""
        value = self._entry
        roots = value(("roots", token))
        upstreams = [self._query_upstream(upstream, roots, token)
                     if upstream.DestinationType == "prepared_query"
                     else self._upstream(upstream, token) for upstream in proxy.Upstreams or ()]
        mode = self._mode(reg)
        implicit = self._intention_upstreams(reg) if mode == TRANSPARENT else []
        mode_known = self._datum(("service-defaults", dest, token)) is not None and \
            implicit is not None
        service_defaults = value(("service-defaults", dest, token))
        self.snapshot = ConfigSnapshot(
            proxy_id=self.proxy_id, service=reg.service, datacenter=dc,
            node_address=self.manager.node_address, default_allow=self.manager.default_allow,
            roots=roots, leaf=value(("leaf", dest, token)),
            intentions=self._datum(("intentions", token)),
            own_chain=value(("chain", dest, dc, token)), upstreams=upstreams,
            proxy_defaults=value(("proxy-defaults", token)) or {},
            defaults_known=self._datum(("proxy-defaults", token)) is not None,
            mesh=value(("mesh", token)) or NO_ENTRY,
            mesh_known=self._datum(("mesh", token)) is not None,
            gateways=self._datum(("mesh-gateways", token)), mode=mode,
            outbound_port=transparent.outbound_port(reg.service, service_defaults,
                                                    value(("proxy-defaults", token))),
            mode_known=mode_known,
            intention_upstreams=[self._upstream(Upstream(DestinationName=name), token)
                                 for name in implicit or ()])

    def _upstream(self, upstream: Upstream, token: str) -> UpstreamSnapshot:
        """A service upstream: its chain and its targets' health datums, as far as known."""
        dc = upstream.Datacenter or self.manager.datacenter
        chain = self._entry(("chain", upstream.DestinationName, dc, token))
        snap = UpstreamSnapshot(upstream_id(upstream), upstream, chain)
        for tid, target in (chain.Targets or {}).items() if chain else ():
            datum = self._datum(("health", target.Service, target.Datacenter, token))
            if datum is not None:
                snap.endpoints[tid] = datum
        return snap

    def _query_upstream(self, upstream, roots, token: str) -> UpstreamSnapshot:
        """A prepared-query upstream as a one-target chain named ``<q>.default.<dc>.query.<td>``."""
        dc = upstream.Datacenter or self.manager.datacenter
        snap = UpstreamSnapshot(upstream_id(upstream), upstream)
        datum = self._datum(("query", upstream.DestinationName, dc, token))
        if datum is None or roots is None:
            return snap
        snap.chain = datum.derive(("chain", roots.TrustDomain), lambda reply: query_chain(
            upstream.DestinationName, reply.Service, dc, roots.TrustDomain))
        snap.endpoints[next(iter(snap.chain.Targets))] = datum
        return snap


def query_chain(query: str, service: str, dc: str, trust_domain: str) -> CompiledDiscoveryChain:
    tid = f"{query}.default.default.{dc}"
    node = DiscoveryGraphNode(Type=NODE_RESOLVER, Name=tid, Resolver=DiscoveryResolver(
        Target=tid))
    target = DiscoveryTarget(ID=tid, Service=service, Datacenter=dc, Namespace="default",
                             SNI=f"{query}.default.{dc}.query.{trust_domain}")
    return CompiledDiscoveryChain(ServiceName=query, Datacenter=dc, Protocol="tcp",
                                  StartNode=f"{NODE_RESOLVER}:{tid}",
                                  Nodes={f"{NODE_RESOLVER}:{tid}": node}, Targets={tid: target})


def _fetch(sources: Sources, key: tuple):
    kind, *args = key
    if kind == "roots":
        return functools.partial(sources.roots, args[0])
    if kind == "leaf":
        return functools.partial(sources.leaf_cert, *args)
    if kind == "intentions":
        return functools.partial(sources.intentions, args[0])
    if kind == "proxy-defaults":
        return functools.partial(sources.proxy_defaults, args[0])
    if kind == "mesh":
        return functools.partial(sources.mesh, args[0])
    if kind == "service-defaults":
        return functools.partial(sources.service_defaults, *args)
    if kind == "typical-services":
        return functools.partial(sources.typical_services, args[0])
    if kind == "ingress-entry":
        return functools.partial(sources.ingress_entry, *args)
    if kind == "gateway-services":
        return functools.partial(sources.gateway_services, *args)
    if kind == "service-health":
        return functools.partial(sources.service_health, *args)
    if kind == "query":
        return functools.partial(sources.prepared_query, *args)
    if kind == "chain":
        return functools.partial(sources.chain, *args)
    if kind == "mesh-gateways":
        return functools.partial(sources.mesh_gateways, *args)
    if kind == "services":
        return functools.partial(sources.services, *args)
    if kind == "resolvers":
        return functools.partial(sources.resolvers, *args)
    return functools.partial(sources.health, *args)


class Manager:
    """Proxy states by proxy ID, refcounted by the xDS streams that watch them."""

    def __init__(self, sources: Sources, registration: Callable[[str], Registration | None],
                 datacenter: str, node_address: str, default_allow: bool,
                 domain: str = "consul") -> None:
        self.sources = sources
        self.registration = registration
        self.datacenter = datacenter
        self.domain = domain.strip(".")  # of server names: server.<dc>.<domain>
        self.node_address = node_address
        self.default_allow = default_allow
        self.watches = SharedWatches()
        self.states: dict[str, ProxyState] = {}

    def watch(self, proxy_id: str) -> tuple[ProxyState, Watcher]:
        """The proxy's state (made on first use) and a new watcher of it."""
        state = self.states.get(proxy_id)
        if state is None:
            state = self.states[proxy_id] = ProxyState(self, proxy_id)
            state.registration_changed(self.registration(proxy_id))
        watcher = Watcher()
        state.watchers.add(watcher)
        return state, watcher

    def release(self, state: ProxyState, watcher: Watcher) -> None:
        state.watchers.discard(watcher)
        if not state.watchers and self.states.get(state.proxy_id) is state:
            del self.states[state.proxy_id]
            state.close()

    def local_changed(self) -> None:
        """The agent's local services changed: let each state look at its registration."""
        for proxy_id, state in list(self.states.items()):
            state.registration_changed(self.registration(proxy_id))

    async def stop(self) -> None:
        for state in list(self.states.values()):
            state.close()
        self.states.clear()
        await self.watches.stop()
