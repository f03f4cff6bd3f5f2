"""The web UI: its static app under ``ui_config.content_path`` (``/ui/``) and the
``/v1/internal/ui/*`` reads it makes (Consul's paths and shapes).

The internal reads are whole-catalog dumps from the servers (Internal.NodeDump,
NodeInfo, ServiceDump), ACL-filtered there, summarized here as Consul's agent does.
"""

from __future__ import annotations

from proconsul.agent.http import ui_metrics_proxy, ui_summary
from proconsul.agent.http.acl_gate import identity
from proconsul.agent.http.params import datacenter, peer, query_options
from proconsul.agent.http.reply import json_reply
from proconsul.agent.ui import UIAssets
from proconsul.lib import httpserver as web
from proconsul.server.connect.intentions import all_intentions, decide, target_matches
from proconsul.structs.config_entries import load as load_entry
from proconsul.structs.config_entry_rpc import ConfigEntryQuery
from proconsul.structs.errors import BadRequest
from proconsul.structs.intention import MATCH_DESTINATION
from proconsul.structs.node_dump import ServiceDumpRequest
from proconsul.structs.requests import (
    DCSpecificRequest,
    NodeSpecificRequest,
    ServiceSpecificRequest,
)
from proconsul.structs.service_kinds import CONNECT_PROXY, INGRESS_GATEWAY, TRANSPARENT

UI_DISABLED = ("Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the "
               "agent configuration and restart.")
TOPOLOGY_KINDS = ("", INGRESS_GATEWAY)


async def _service_dump(request: web.Request, peer_name: str = ""):
    req = query_options(request, ServiceDumpRequest(Datacenter=datacenter(request),
                                                    PeerName=peer_name))
    return await request.app["agent"].rpc("Internal.ServiceDump", req)


async def _entries(request: web.Request, kind: str) -> list:
    """Every config entry of ``kind``, read at once (only the dump blocks)."""
    req = query_options(request, ConfigEntryQuery(Datacenter=datacenter(request), Kind=kind))
    req.MinQueryIndex = 0
    reply = await request.app["agent"].rpc("ConfigEntry.List", req)
    return [load_entry(raw) for raw in reply.Entries]


async def ui_nodes(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("Internal.NodeDump", req)
    return json_reply(request, reply.Dump + reply.ImportedDump, meta=reply)


async def ui_node(request: web.Request) -> web.Response:
    name = request.match_info.get("node", "")
    if not name:
        raise BadRequest("Missing node name")
    req = query_options(request, NodeSpecificRequest(Datacenter=datacenter(request), Node=name,
                                                     PeerName=peer(request)))
    reply = await request.app["agent"].rpc("Internal.NodeInfo", req)
    if not reply.Dump:
        return web.Response(status=404)
    return json_reply(request, reply.Dump[0], meta=reply)


async def ui_services(request: web.Request) -> web.Response:
    """Local services and every peer's imported ones (``?peer``: that peer's only)."""
    reply = await _service_dump(request, peer(request))
    listing = ui_summary.service_listing(reply.Nodes, reply.Gateways) + \
        ui_summary.imported_listing(reply.ImportedNodes)
    listing.sort(key=lambda s: (s["Name"], s.get("PeerName", "")))
    return json_reply(request, listing, meta=reply)


async def ui_exported_services(request: web.Request) -> web.Response:
    """The services exported to ``?peer``: a bare summary (name, datacenter) each."""
    dc = datacenter(request)
    req = query_options(request, DCSpecificRequest(Datacenter=dc, PeerName=peer(request)))
    reply = await request.app["agent"].rpc("Internal.ExportedServicesForPeer", req)
    listing = ui_summary.finish({name: ui_summary.new_summary(name) for name in reply.Services})
    for summary in listing:
        summary["Datacenter"] = dc
    return json_reply(request, listing, meta=reply)


async def ui_catalog_overview(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("Internal.NodeDump", req)
    return json_reply(request, ui_summary.catalog_overview(reply.Dump))


async def ui_gateway_services_nodes(request: web.Request) -> web.Response:
    gateway = request.match_info.get("gateway", "")
    if not gateway:
        raise BadRequest("Missing gateway name")
    (await identity(request)).require("service_read", gateway)  # as Consul: 403, not filtered
    reply = await _service_dump(request)
    linked = {g.Service.Name for g in reply.Gateways if g.Gateway.Name == gateway}
    summaries, _ = ui_summary.summarize(r for r in reply.Nodes if r.Service.Service in linked)
    return json_reply(request, ui_summary.finish(summaries), meta=reply)


async def ui_service_topology(request: web.Request) -> web.Response:
    service = request.match_info.get("service", "")
    if not service:
        raise BadRequest("Missing service name")
    if "kind" not in request.query:
        raise BadRequest("Missing service kind")
    kind = request.query["kind"]
    if kind not in TOPOLOGY_KINDS:
        raise BadRequest(f'Unsupported service kind "{kind}"')
    ident = await identity(request)
    ident.require("service_read", service)
    reply = await _service_dump(request)
    intentions = all_intentions(await _entries(request, "service-intentions"))
    defaults = {e.Name: e for e in await _entries(request, "service-defaults")}
    default_allow = not ident.enforcing or ident.allowed("intention_default_allow")
    rows = reply.Nodes

    def side(names: list[str], outbound: bool) -> list[dict]:
        summaries, _ = ui_summary.summarize(r for r in rows if r.Service.Service in names)
        out = []
        for sum_ in ui_summary.finish(summaries, exclude_sidecars=True):
            src, dst = (service, sum_["Name"]) if outbound else (sum_["Name"], service)
            _, decision = decide(intentions, src, dst, default_allow)
            sum_["Source"] = "proxy-registration"
            sum_["Intention"] = decision
            out.append(sum_)
        return out

    protocol = getattr(defaults.get(service), "Protocol", "") or "tcp"
    # every sidecar of the service in transparent mode, as Consul's ServiceTopology says
    modes = [r.Service.Proxy.Mode for r in rows if r.Service.Kind == CONNECT_PROXY
             and r.Service.Proxy.DestinationServiceName == service]
    topology = {"Protocol": protocol,
                "TransparentProxy": bool(modes) and all(m == TRANSPARENT for m in modes),
                "Upstreams": side(ui_summary.upstream_names(rows, service), True),
                "Downstreams": side(ui_summary.downstream_names(rows, service), False),
                "FilteredByACLs": reply.ResultsFilteredByACLs}
    return json_reply(request, topology, meta=reply)


async def ui_gateway_intentions(request: web.Request) -> web.Response:
    """The intentions whose destination is a service the gateway fronts (by name or
    ``*``), grouped by service in precedence order, each once (Consul's
    Internal.GatewayIntentions). Needs ``service:read`` on the gateway (403); the
    intentions are filtered as ``/v1/connect/intentions`` is."""
    gateway = request.match_info.get("gateway", "")
    if not gateway:
        raise BadRequest("Missing gateway name")
    req = query_options(request, ServiceSpecificRequest(Datacenter=datacenter(request),
                                                        ServiceName=gateway))
    reply = await request.app["agent"].rpc("Catalog.GatewayServices", req)
    intentions = all_intentions(await _entries(request, "service-intentions"))
    seen: set[int] = set()
    out = []
    for linked in reply.Services or ():
        for i, ixn in enumerate(intentions):
            if i not in seen and target_matches(ixn, MATCH_DESTINATION, linked.Service.Name):
                seen.add(i)
                out.append(ixn)
    return json_reply(request, out, meta=reply)


def add_routes(router: web.Router) -> None:
    base = "/v1/internal/ui"
    router.add_get(f"{base}/nodes", ui_nodes)
    router.add_get(base + "/node/{node:.*}", ui_node)
    router.add_get(f"{base}/services", ui_services)
    router.add_get(f"{base}/catalog-overview", ui_catalog_overview)
    router.add_get(base + "/gateway-services-nodes/{gateway:.*}", ui_gateway_services_nodes)
    router.add_get(base + "/service-topology/{service:.*}", ui_service_topology)
    router.add_get(base + "/exported-services", ui_exported_services)
    router.add_get(base + "/gateway-intentions/{gateway:.*}", ui_gateway_intentions)
    router.add_get(base + "/metrics-proxy/{path:.*}", ui_metrics_proxy.proxy)


class StaticUI:
    """Serves the app (``/ui/...``) and the ``/`` redirect to it, per ``ui_config``."""

    def __init__(self, assets: UIAssets | None) -> None:
        self.assets = assets

    async def index(self, request: web.Request) -> web.Response:
        if self.assets is None:
            return web.Response(text=UI_DISABLED)
        return web.Response(status=301, headers={"Location": self.assets.content_path})

    async def slash(self, request: web.Request) -> web.Response:
        assert self.assets is not None
        return web.Response(status=301, headers={"Location": self.assets.content_path})

    async def serve(self, request: web.Request) -> web.Response:
        assert self.assets is not None
        rest = request.path[len(self.assets.content_path):]
        found = self.assets.lookup(rest)
        if found is None:
            return web.Response(status=404, text="404 page not found")
        body, content_type, cache = found
        return web.Response(body=body, content_type=content_type,
                            headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    def add_routes(self, router: web.Router) -> None:
        router.add_get("/", self.index)
        if self.assets is None:
            return
        path = self.assets.content_path
        if path.rstrip("/"):
            router.add_get(path.rstrip("/"), self.slash)
        router.add_get(path + "{path:.*}", self.serve)
