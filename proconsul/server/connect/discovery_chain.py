"""The discovery chain compiler (Consul's agent/consul/discoverychain/compile.go), pure.

:func:`compile_chain` turns a service name and the config entries that can
shape its traffic — service-defaults, proxy-defaults, service-router,
service-splitter, service-resolver — into a :class:`CompiledDiscoveryChain`:
a router node (only for the chain's own service), splitter nodes (flattened
when one splits into another), resolver nodes (after redirects and the
default subset) and the targets they resolve to, with Consul's target IDs,
SNI names and error messages. The same function validates a proposed write:
a chain that does not compile must not be stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from msgspec import UNSET, structs

from proconsul.lib.duration import format_duration, parse_duration
from proconsul.structs.config_entries.base import ConfigEntryError
from proconsul.structs.config_entries.chain import (
    HTTPHeaderModifiers,
    ServiceResolverConfigEntry,
    ServiceResolverSubset,
    ServiceRoute,
    ServiceRouteDestination,
    ServiceRouteHTTPMatch,
    ServiceRouteMatch,
    ServiceRouterConfigEntry,
    ServiceSplit,
    ServiceSplitterConfigEntry,
    split_weight,
)
from proconsul.structs.config_entries.service import (
    MeshGatewayConfig,
    ProxyConfigEntry,
    ServiceConfigEntry,
    TransparentProxyConfig,
)
from proconsul.structs.discovery_chain import (
    NODE_RESOLVER,
    NODE_ROUTER,
    NODE_SPLITTER,
    CompiledDiscoveryChain,
    DiscoveryFailover,
    DiscoveryGraphNode,
    DiscoveryResolver,
    DiscoveryRoute,
    DiscoverySplit,
    DiscoveryTarget,
    chain_id,
    target_sni,
)

__all__ = [
    "CHAIN_KINDS",
    "ChainEntries",
    "ChainGraphError",
    "CompileRequest",
    "compile_chain",
    "validate_proposed",
]

DEFAULT = "default"
CHAIN_KINDS = ("service-defaults", "proxy-defaults", "service-router", "service-splitter",
               "service-resolver")
# What Consul compiles proposed writes in: the names do not change what is valid.
VALIDATION_DATACENTER = "dc1"
VALIDATION_TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"
DEFAULT_CONNECT_TIMEOUT_NS = 5_000_000_000
HTTP_LIKE = ("http", "http2", "grpc")


class ChainGraphError(ConfigEntryError):
    """The entries do not form a valid chain (Consul's ConfigEntryGraphError)."""


@dataclass
class ChainEntries:
    """The config entries a chain may consult, keyed by service name."""

    services: dict[str, ServiceConfigEntry] = field(default_factory=dict)
    routers: dict[str, ServiceRouterConfigEntry] = field(default_factory=dict)
    splitters: dict[str, ServiceSplitterConfigEntry] = field(default_factory=dict)
    resolvers: dict[str, ServiceResolverConfigEntry] = field(default_factory=dict)
    proxy_defaults: ProxyConfigEntry | None = None

    @classmethod
    def of(cls, entries) -> ChainEntries:
        """Sort a mixed list of entries into their tables (other kinds are ignored)."""
        out = cls()
        tables = {"service-defaults": out.services, "service-router": out.routers,
                  "service-splitter": out.splitters, "service-resolver": out.resolvers}
        for entry in entries:
            if entry.Kind == "proxy-defaults":
                out.proxy_defaults = entry
            elif entry.Kind in tables:
                tables[entry.Kind][entry.Name] = entry
        return out

    def is_chain_empty(self) -> bool:
        return not (self.routers or self.splitters or self.resolvers)


@dataclass
class CompileRequest:
    """What to compile and where: the service, its datacenter and trust domain, overrides."""

    service_name: str
    datacenter: str
    trust_domain: str
    entries: ChainEntries
    namespace: str = DEFAULT
    partition: str = DEFAULT
    override_protocol: str = ""
    override_connect_timeout_ns: int = 0
    override_mesh_gateway: str = ""
    auto_virtual_ips: list[str] | None = None
    manual_virtual_ips: list[str] | None = None


@dataclass
class _Target:
    service: str
    subset: str = ""
    namespace: str = ""
    partition: str = ""
    datacenter: str = ""
    peer: str = ""
    id: str = ""
    sni: str = ""
    name: str = ""
    connect_timeout_ns: int = 0
    external: bool = False
    mesh_gateway: str = ""
    dialed_directly: bool = False
    subset_def: ServiceResolverSubset | None = None


@dataclass
class _Opts:
    service: str = ""
    subset: str = ""
    namespace: str = ""
    partition: str = ""
    datacenter: str = ""
    peer: str = ""


def validate_proposed(existing, kind: str, name: str, proposed=None) -> None:
    """Refuse a write (``proposed``) or delete (None) of ``kind/name`` that breaks a chain.

    Every chain the stored entries define (plus ``name``'s own) is compiled with
    the change applied; the first failure is raised as ChainGraphError, as
    Consul's state store does before accepting a chain config entry."""
    if kind not in CHAIN_KINDS:
        return
    entries = [e for e in existing if (e.Kind, e.entry_name()) != (kind, name)]
    if proposed is not None:
        entries.append(proposed)
    table = ChainEntries.of(entries)
    services = {name} if kind != "proxy-defaults" else set()
    for group in (table.services, table.routers, table.splitters, table.resolvers):
        services.update(group)
    for service in sorted(services):
        compile_chain(CompileRequest(service, VALIDATION_DATACENTER, VALIDATION_TRUST_DOMAIN,
                                     table))


def compile_chain(req: CompileRequest) -> CompiledDiscoveryChain:
    """Compile ``req.service_name``'s chain; ChainGraphError with Consul's message if invalid."""
    for value, name in ((req.service_name, "serviceName"), (req.namespace, "evaluateInNamespace"),
                        (req.partition, "evaluateInPartition"),
                        (req.datacenter, "evaluateInDatacenter"),
                        (req.trust_domain, "evaluateInTrustDomain")):
        if not value:
            raise ChainGraphError(f"{name} is required")
    return _Compiler(req).compile()


class _Compiler:
    def __init__(self, req: CompileRequest) -> None:
        self.req = req
        self.entries = req.entries
        self.resolvers = dict(req.entries.resolvers)
        self.splitter_nodes: dict[str, DiscoveryGraphNode] = {}
        self.resolve_nodes: dict[str, DiscoveryGraphNode] = {}
        self.nodes: dict[str, DiscoveryGraphNode] = {}
        self.targets: dict[str, _Target] = {}
        self.retained: set[str] = set()
        self.protocol = ""
        self.uses_advanced = False
        self.disable_advanced = bool(req.override_protocol) and \
            req.override_protocol not in HTTP_LIKE
        self.customized: dict[str, object] = {}
        self.start_node = ""

    # -- helpers ------------------------------------------------------------------------

    def record_protocol(self, service: str) -> None:
        defaults = self.entries.services.get(service)
        if defaults is not None:
            protocol = defaults.Protocol
        elif self.entries.proxy_defaults is not None:
            protocol = self.entries.proxy_defaults.protocol()
        else:
            protocol = ""
        protocol = (protocol or "tcp").lower()
        if not self.protocol:
            self.protocol = protocol
        elif self.protocol != protocol:
            raise ChainGraphError(
                f'discovery chain "{self.req.service_name}" uses inconsistent protocols; '
                f'service "{service}" has "{protocol}" which is not "{self.protocol}"')

    def new_target(self, o: _Opts) -> _Target:
        if o.peer:
            o = _Opts(o.service, o.subset, o.namespace or DEFAULT, self.req.partition or DEFAULT,
                      "", o.peer)
        else:
            o = _Opts(o.service, o.subset, o.namespace or self.req.namespace,
                      o.partition or self.req.partition, o.datacenter or self.req.datacenter)
        tid = chain_id(o.service, o.subset, o.namespace, o.partition, o.datacenter, o.peer)
        if tid in self.targets:
            return self.targets[tid]
        t = _Target(o.service, o.subset, o.namespace, o.partition, o.datacenter, o.peer, tid)
        if not o.peer:
            t.sni = t.name = target_sni(o.service, o.subset, o.namespace, o.partition,
                                        o.datacenter, self.req.trust_domain)
        self.targets[tid] = t
        return t

    def rewrite_target(self, t: _Target, o: _Opts) -> _Target:
        merged = _Opts(t.service, t.subset, t.namespace, t.partition, t.datacenter, t.peer)
        if o.service and o.service != merged.service:
            merged.service = o.service
            merged.subset = ""
        if o.subset:
            merged.subset = o.subset
        if o.partition:
            merged.partition = o.partition
        if o.namespace or o.peer:
            merged.namespace = o.namespace
        if o.datacenter:
            merged.datacenter = o.datacenter
        merged.peer = o.peer
        return self.new_target(merged)

    def record_node(self, node: DiscoveryGraphNode) -> None:
        if node.Type == NODE_SPLITTER:
            self.splitter_nodes[node.Name] = node
        elif node.Type == NODE_RESOLVER:
            self.resolve_nodes[node.Resolver.Target] = node
        self.nodes[node.map_key()] = node

    # -- assembly -----------------------------------------------------------------------

    def compile(self) -> CompiledDiscoveryChain:
        name = self.req.service_name
        extensions = list((self.entries.proxy_defaults.EnvoyExtensions or [])
                          if self.entries.proxy_defaults else [])
        service_meta = UNSET
        defaults = self.entries.services.get(name)
        if defaults is not None:
            service_meta = defaults.Meta or UNSET
            extensions += defaults.EnvoyExtensions or []
        if not self.resolvers and self.entries.is_chain_empty():
            self.resolvers[name] = _default_resolver(name)
        self.assemble()
        self.detect_cycles()
        self.flatten_splitters()
        self.remove_unused()
        if self.protocol not in HTTP_LIKE and self.uses_advanced:
            raise ChainGraphError(
                f'discovery chain "{name}" uses a protocol "{self.protocol}" that does not '
                "permit advanced routing or splitting behavior")
        if self.req.override_protocol and self.req.override_protocol != self.protocol:
            self.protocol = self.req.override_protocol
            self.customized["protocol"] = self.req.override_protocol
        digest = UNSET
        if self.customized:
            text = repr(sorted(self.customized.items())).encode()
            digest = hashlib.sha256(text).hexdigest()[:8]
        targets = {tid: self.export_target(self.targets[tid])
                   for tid in sorted(self.targets) if tid in self.retained}
        return CompiledDiscoveryChain(
            ServiceName=name, Namespace=self.req.namespace, Partition=self.req.partition,
            Datacenter=self.req.datacenter, CustomizationHash=digest,
            Default=True if self.is_default_chain() else UNSET, Protocol=self.protocol,
            ServiceMeta=service_meta, EnvoyExtensions=extensions or UNSET,
            StartNode=self.start_node, Nodes=dict(sorted(self.nodes.items())), Targets=targets,
            AutoVirtualIPs=self.req.auto_virtual_ips,
            ManualVirtualIPs=self.req.manual_virtual_ips)

    def assemble(self) -> None:
        name = self.req.service_name
        router = self.entries.routers.get(name)
        if router is not None and self.disable_advanced:
            router = None
            self.customized["protocol"] = self.req.override_protocol
        if router is None:
            node = self.splitter_or_resolver(self.new_target(_Opts(service=name)))
            self.start_node = node.map_key()
            return
        node = DiscoveryGraphNode(Type=NODE_ROUTER, Name=f"{router.Name}.{DEFAULT}.{DEFAULT}",
                                  Routes=[])
        self.uses_advanced = True
        self.record_protocol(router.Name)
        for route in router.Routes or ():
            compiled = DiscoveryRoute(Definition=route)
            node.Routes.append(compiled)
            dest = route.Destination or None
            svc = (dest.Service if dest else "") or name
            ns = (dest.Namespace if dest else "") or DEFAULT
            ap = (dest.Partition if dest else "") or DEFAULT
            subset = (dest.ServiceSubset if dest else "") or ""
            if subset:
                nxt = self.resolver_node(self.new_target(_Opts(svc, subset, ns, ap)), False)
            else:
                nxt = self.splitter_or_resolver(self.new_target(_Opts(svc, "", ns, ap)))
            compiled.NextNode = nxt.map_key()
        catch_all = self.splitter_or_resolver(
            self.new_target(_Opts(router.Name, "", DEFAULT, DEFAULT)))
        node.Routes.append(DiscoveryRoute(
            Definition=ServiceRoute(
                Match=ServiceRouteMatch(HTTP=ServiceRouteHTTPMatch(PathPrefix="/")),
                Destination=ServiceRouteDestination(Service=router.Name, Namespace=DEFAULT,
                                                    Partition=DEFAULT)),
            NextNode=catch_all.map_key()))
        self.start_node = node.map_key()
        self.record_node(node)

    def splitter_or_resolver(self, target: _Target) -> DiscoveryGraphNode:
        node = self.splitter_node(target.service)
        return node if node is not None else self.resolver_node(target, False)

    def splitter_node(self, service: str) -> DiscoveryGraphNode | None:
        name = f"{service}.{DEFAULT}.{DEFAULT}"
        if name in self.splitter_nodes:
            return self.splitter_nodes[name]
        splitter = self.entries.splitters.get(service)
        if splitter is not None and self.disable_advanced:
            splitter = None
            self.customized["protocol"] = self.req.override_protocol
        if splitter is None:
            return None
        node = DiscoveryGraphNode(Type=NODE_SPLITTER, Name=name, Splits=[])
        self.record_node(node)
        has_lb = False
        for split in splitter.Splits or ():
            compiled = DiscoverySplit(Definition=split, Weight=split.Weight)
            node.Splits.append(compiled)
            svc = split.Service or service
            if svc != service and not split.ServiceSubset:
                nxt = self.splitter_node(svc)
                if nxt is not None:
                    compiled.NextNode = nxt.map_key()
                    continue
            resolved = self.resolver_node(
                self.new_target(_Opts(svc, split.ServiceSubset or "", DEFAULT, DEFAULT)), False)
            compiled.NextNode = resolved.map_key()
            lb = resolved.LoadBalancer or None
            if not has_lb and lb and (lb.Policy or "") in ("ring_hash", "maglev"):
                node.LoadBalancer = lb
                has_lb = True
        self.uses_advanced = True
        return node

    def resolver_node(self, target: _Target, for_failover: bool) -> DiscoveryGraphNode:
        history: list[str] = []
        while True:
            if target.id in self.resolve_nodes:
                return self.resolve_nodes[target.id]
            if not target.peer:
                self.record_protocol(target.service)
            resolver = self.resolvers.get(target.service)
            if resolver is None:
                resolver = self.resolvers[target.service] = _default_resolver(target.service)
            if target.id in history:
                history.append(target.id)
                raise ChainGraphError(
                    f"detected circular resolver redirect: [{' -> '.join(history)}]")
            history.append(target.id)
            redirect = resolver.Redirect or None
            if redirect and not redirect.SamenessGroup:
                moved = self.rewrite_target(target, _Opts(
                    redirect.Service or "", redirect.ServiceSubset or "", redirect.Namespace or "",
                    redirect.Partition or "", redirect.Datacenter or "", redirect.Peer or ""))
                if moved.id != target.id:
                    target = moved
                    continue
            if not target.subset and resolver.DefaultSubset:
                target = self.rewrite_target(target, _Opts(subset=resolver.DefaultSubset))
                continue
            break
        if target.subset and not resolver.subset_exists(target.subset):
            raise ChainGraphError(f'service "{target.service}" does not have a subset named '
                                  f'"{target.subset}"')
        timeout = _ns(resolver.ConnectTimeout)
        if timeout < 1:
            timeout = DEFAULT_CONNECT_TIMEOUT_NS
        override = self.req.override_connect_timeout_ns
        if override > 0 and timeout != override:
            timeout = override
            self.customized["connect_timeout"] = override
        target.connect_timeout_ns = timeout
        node = DiscoveryGraphNode(
            Type=NODE_RESOLVER, Name=target.id,
            Resolver=DiscoveryResolver(
                Default=True if resolver.is_default() else UNSET, Target=target.id,
                ConnectTimeout=format_duration(timeout),
                RequestTimeout=_ns(resolver.RequestTimeout) or UNSET),
            LoadBalancer=resolver.LoadBalancer or UNSET)
        target.subset_def = (resolver.Subsets or {}).get(target.subset)
        defaults = self.entries.services.get(target.service)
        if defaults is not None and defaults.ExternalSNI:
            target.sni = defaults.ExternalSNI
            target.external = True
        if target.external:
            for present, what in ((resolver.Redirect, "redirects"), (resolver.Subsets, "subsets"),
                                  (resolver.Failover, "failover")):
                if present:
                    raise ChainGraphError(f'service "{target.service}" has an external SNI set; '
                                          f"cannot define {what} for external services")
            target.mesh_gateway = ""
        else:
            self.apply_mesh_gateway(target, defaults)
        self.retained.add(target.id)
        if for_failover:
            return node
        self.record_node(node)
        self.add_failover(node, target, resolver)
        return node

    def apply_mesh_gateway(self, target: _Target, defaults: ServiceConfigEntry | None) -> None:
        if defaults is not None:
            target.mesh_gateway = defaults.MeshGateway.Mode or ""
            target.dialed_directly = bool(defaults.TransparentProxy.DialedDirectly)
        proxy = self.entries.proxy_defaults
        if proxy is not None:
            if not target.mesh_gateway:
                target.mesh_gateway = proxy.MeshGateway.Mode or ""
            if not target.dialed_directly:
                target.dialed_directly = bool(proxy.TransparentProxy.DialedDirectly)
        override = self.req.override_mesh_gateway
        if override and target.mesh_gateway != override:
            target.mesh_gateway = override
            self.customized["mesh_gateway"] = override

    def add_failover(self, node: DiscoveryGraphNode, target: _Target,
                     resolver: ServiceResolverConfigEntry) -> None:
        proxy = self.entries.proxy_defaults
        policy = (proxy.FailoverPolicy or None) if proxy is not None else None
        redirect = resolver.Redirect or None
        if redirect and redirect.SamenessGroup:
            raise ChainGraphError(f'sameness group missing for service "{target.service}"')
        failovers = resolver.Failover or {}
        failover = failovers.get(target.subset, failovers.get("*"))
        if failover is None:
            return
        if failover.Policy:
            policy = failover.Policy
        base = _Opts(failover.Service or "", failover.ServiceSubset or "",
                     failover.Namespace or "")
        if failover.Datacenters:
            options = [_Opts(base.service, base.subset, base.namespace, "", dc)
                       for dc in failover.Datacenters]
        elif failover.Targets:
            options = [_Opts(t.Service or "", t.ServiceSubset or "", t.Namespace or "",
                             t.Partition or "", t.Datacenter or "", t.Peer or "")
                       for t in failover.Targets]
        elif failover.SamenessGroup:
            raise ChainGraphError(f'sameness group missing for service "{target.service}"')
        else:
            options = [base]
        chosen = [t for t in (self.rewrite_target(target, o) for o in options)
                  if t.id != target.id]
        if not chosen:
            return
        ids = [self.resolver_node(t, True).Resolver.Target for t in chosen]
        node.Resolver.Failover = DiscoveryFailover(Targets=ids, Policy=policy or UNSET)

    # -- graph passes -------------------------------------------------------------------

    def detect_cycles(self) -> None:
        todo = [self.start_node]
        visited: set[str] = set()
        chain: list[str] = []
        while todo:
            current = todo.pop()
            if current == "_popvisit":
                if chain:
                    visited.discard(chain.pop())
                continue
            chain.append(current)
            if current in visited:
                raise ChainGraphError(f"detected circular reference: [{' -> '.join(chain)}]")
            visited.add(current)
            todo.append("_popvisit")
            node = self.nodes[current]
            if node.Type == NODE_ROUTER:
                todo.extend(r.NextNode for r in node.Routes)
            elif node.Type == NODE_SPLITTER:
                todo.extend(s.NextNode for s in node.Splits)

    def flatten_splitters(self) -> None:
        changed = True
        while changed:
            changed = False
            for node in self.nodes.values():
                if node.Type != NODE_SPLITTER:
                    continue
                fixed: list[DiscoverySplit] = []
                touched = False
                for split in node.Splits:
                    inner = self.nodes[split.NextNode]
                    if inner.Type != NODE_SPLITTER:
                        fixed.append(split)
                        continue
                    touched = True
                    for child in inner.Splits:
                        fixed.append(DiscoverySplit(
                            Definition=_merge_parent(child.Definition, split.Definition),
                            Weight=split_weight(split.Weight * child.Weight / 100),
                            NextNode=child.NextNode))
                if touched:
                    node.Splits = fixed
                    changed = True

    def remove_unused(self) -> None:
        todo = [self.start_node]
        seen: set[str] = set()
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            node = self.nodes[key]
            if node.Type == NODE_ROUTER:
                todo.extend(r.NextNode for r in node.Routes)
            elif node.Type == NODE_SPLITTER:
                todo.extend(s.NextNode for s in node.Splits)
        self.nodes = {k: v for k, v in self.nodes.items() if k in seen}

    def is_default_chain(self) -> bool:
        node = self.nodes.get(self.start_node)
        if node is None or node.Type != NODE_RESOLVER or not node.Resolver.Default:
            return False
        target = self.targets[node.Resolver.Target]
        return (target.service, target.namespace, target.partition) == (
            self.req.service_name, self.req.namespace, self.req.partition)

    def export_target(self, t: _Target) -> DiscoveryTarget:
        return DiscoveryTarget(
            ConnectTimeout=format_duration(t.connect_timeout_ns) if t.connect_timeout_ns else UNSET,
            ID=t.id, Service=t.service, ServiceSubset=t.subset or UNSET,
            Namespace=t.namespace or UNSET, Partition=t.partition or UNSET,
            Datacenter=t.datacenter or UNSET, Peer=t.peer or UNSET,
            MeshGateway=MeshGatewayConfig(Mode=t.mesh_gateway or UNSET),
            Subset=structs.replace(t.subset_def) if t.subset_def else ServiceResolverSubset(),
            TransparentProxy=TransparentProxyConfig(DialedDirectly=t.dialed_directly or UNSET),
            External=t.external or UNSET, SNI=t.sni or UNSET, Name=t.name or UNSET)


def _default_resolver(service: str) -> ServiceResolverConfigEntry:
    return ServiceResolverConfigEntry(Kind=ServiceResolverConfigEntry.KIND, Name=service)


def _ns(value) -> int:
    return parse_duration(value) if value else 0


def _merge_parent(child: ServiceSplit, parent: ServiceSplit) -> ServiceSplit:
    """The child split with the parent's header changes merged in (Consul's MergeParent):
    request headers from the parent unless the child sets them, response headers the
    other way round."""
    return structs.replace(
        child,
        RequestHeaders=_merge_headers(parent.RequestHeaders or None, child.RequestHeaders or None),
        ResponseHeaders=_merge_headers(child.ResponseHeaders or None,
                                       parent.ResponseHeaders or None))


def _merge_headers(base: HTTPHeaderModifiers | None,
                   override: HTTPHeaderModifiers | None) -> HTTPHeaderModifiers | object:
    if base is None and override is None:
        return UNSET
    if override is None:
        return base
    if base is None:
        return override
    add = {**(base.Add or {}), **(override.Add or {})}
    set_ = {**(base.Set or {}), **(override.Set or {})}
    remove = list(override.Remove or []) + [r for r in base.Remove or [] if
                                            r not in (override.Remove or [])]
    return HTTPHeaderModifiers(Add=add or UNSET, Set=set_ or UNSET, Remove=remove or UNSET)
