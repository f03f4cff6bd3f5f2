"""ConfigEntry.* (apply, get, list, list all, delete) and DiscoveryChain.Get.

Entries are normalized and validated here, as Consul's endpoint does; the
check that a write keeps every discovery chain compiling runs inside the
FSM write (see :mod:`proconsul.state.config_entries`), so all servers agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.lib.metrics import timed
from proconsul.server.acl_vet import entry_readable, require_entry
from proconsul.server.connect.discovery_chain import (
    CHAIN_KINDS,
    ChainEntries,
    CompileRequest,
    compile_chain,
)
from proconsul.structs.config_entries import ConfigEntryError, Entry, load, make_entry
from proconsul.structs.config_entries.intentions import ServiceIntentionsConfigEntry
from proconsul.structs.config_entry_rpc import (
    DELETE_OPS,
    OP_DELETE,
    OP_DELETE_CAS,
    OP_UPSERT,
    UPSERT_OPS,
    ConfigEntryDeleteResponse,
    ConfigEntryListAllRequest,
    ConfigEntryQuery,
    ConfigEntryRequest,
    ConfigEntryResponse,
    DiscoveryChainRequest,
    DiscoveryChainResponse,
    IndexedConfigEntries,
    entry_payload,
    prepare,
)
from proconsul.structs.connect_ids import signing_id_for_cluster
from proconsul.structs.errors import BadRequest
from proconsul.structs.exported_services import IndexedResolvedExportedServices
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server
    from proconsul.state.store import Store

# What ListAll returns when no kinds are asked for (Consul's kinds as of 1.8.0).
LIST_ALL_DEFAULT_KINDS = ("service-defaults", "proxy-defaults", "service-router",
                          "service-splitter", "service-resolver", "ingress-gateway",
                          "terminating-gateway")

# Before the Connect CA has its configuration (Connect off, or a leader not yet past
# CA set-up), chains are compiled in this trust domain (Consul answers "no cluster ca
# config setup").
PLACEHOLDER_TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"


def trust_domain(store: Store) -> str:
    """The CA's trust domain from the configuration in ``store``, else the placeholder."""
    config = store.ca_config
    if config is None or not config.ClusterID:
        return PLACEHOLDER_TRUST_DOMAIN
    return signing_id_for_cluster(config.ClusterID).host


def _check_kind(kind: str) -> None:
    try:
        make_entry(kind)
    except ConfigEntryError:
        raise BadRequest(f"invalid config entry kind: {kind}") from None


def _typed(req: ConfigEntryRequest) -> Entry:
    if not req.Entry:
        raise BadRequest("Missing config entry")
    return load(req.Entry)


class ConfigEntryEndpoint:
    """The ConfigEntry RPC service."""

    NAME = "ConfigEntry"
    METHODS = ("Apply", "Get", "List", "ListAll", "Delete", "GetResolvedExportedServices")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.config_entry.apply")
    async def Apply(self, req: ConfigEntryRequest) -> bool:
        entry = prepare(_typed(req), legacy=req.Legacy)
        require_entry(self.server.authz.resolve(req.Token), entry.Kind, entry.entry_name(),
                      write=True)
        op = req.Op if req.Op in UPSERT_OPS else OP_UPSERT
        command = ConfigEntryRequest(Op=op, Datacenter=req.Datacenter,
                                     Entry=entry_payload(entry), Legacy=req.Legacy)
        return bool(await self.server.raft_apply(MessageType.CONFIG_ENTRY, command))

    async def Get(self, req: ConfigEntryQuery) -> ConfigEntryResponse:
        _check_kind(req.Kind)
        require_entry(self.server.authz.resolve(req.Token), req.Kind, req.Name, write=False)
        return await self.server.read_into(
            req, ConfigEntryResponse(), "Entry",
            lambda ws: self.server.store.config_entry_get(ws, req.Kind, req.Name),
            lambda entry: entry_payload(entry) if entry is not None else None)

    async def GetResolvedExportedServices(self, req: ConfigEntryQuery
                                          ) -> IndexedResolvedExportedServices:
        """The exported services, wildcards expanded, and their consumers (mesh:read)."""
        self.server.authz.resolve(req.Token).require("mesh_read")
        return await self.server.read_into(req, IndexedResolvedExportedServices(), "Services",
                                           self.server.store.resolved_exported_services)

    async def List(self, req: ConfigEntryQuery) -> IndexedConfigEntries:
        if req.Kind:
            _check_kind(req.Kind)
        reply = IndexedConfigEntries(Kind=req.Kind)
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, reply, "Entries",
            lambda ws: self.server.store.config_entries_list(ws, req.Kind),
            lambda entries: [entry_payload(e) for e in entries],
            lambda entries, meta: ident.keep(
                entries, lambda e: entry_readable(ident, e["Kind"], e.get("Name", "")), meta))

    async def ListAll(self, req: ConfigEntryListAllRequest) -> IndexedConfigEntries:
        kinds = set(req.Kinds or LIST_ALL_DEFAULT_KINDS)
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedConfigEntries(), "Entries",
            lambda ws: self.server.store.config_entries_list(ws),
            lambda entries: [entry_payload(e) for e in entries if e.Kind in kinds],
            lambda entries, meta: ident.keep(
                entries, lambda e: entry_readable(ident, e["Kind"], e.get("Name", "")), meta))

    @timed("consul.config_entry.delete")
    async def Delete(self, req: ConfigEntryRequest) -> ConfigEntryDeleteResponse:
        entry = _typed(req)
        require_entry(self.server.authz.resolve(req.Token), entry.Kind, entry.entry_name(),
                      write=True)
        if isinstance(entry, ServiceIntentionsConfigEntry):
            entry.normalize(legacy=req.Legacy)
        else:
            entry.normalize()
        op = req.Op if req.Op in DELETE_OPS else OP_DELETE
        command = ConfigEntryRequest(Op=op, Datacenter=req.Datacenter,
                                     Entry=entry_payload(entry))
        result = await self.server.raft_apply(MessageType.CONFIG_ENTRY, command)
        return ConfigEntryDeleteResponse(Deleted=bool(result) if op == OP_DELETE_CAS else True)


class DiscoveryChainEndpoint:
    """The DiscoveryChain RPC service: compile a service's chain from the stored entries."""

    NAME = "DiscoveryChain"
    METHODS = ("Get",)

    def __init__(self, server: Server) -> None:
        self.server = server

    async def Get(self, req: DiscoveryChainRequest) -> DiscoveryChainResponse:
        if not req.Name:
            raise BadRequest("Must provide service name")
        self.server.authz.resolve(req.Token).require("service_read", req.Name)
        server = self.server
        compile_req = CompileRequest(
            service_name=req.Name,
            datacenter=req.EvaluateInDatacenter or server.config.datacenter,
            trust_domain=trust_domain(server.store), entries=ChainEntries(),
            override_protocol=req.OverrideProtocol,
            override_connect_timeout_ns=req.OverrideConnectTimeout,
            override_mesh_gateway=req.OverrideMeshGateway.Mode)

        def read(ws):
            index, entries = server.store.config_entries_list(ws)
            compile_req.entries = ChainEntries.of(e for e in entries if e.Kind in CHAIN_KINDS)
            return index, compile_chain(compile_req)

        return await server.read_into(req, DiscoveryChainResponse(), "Chain", read)

