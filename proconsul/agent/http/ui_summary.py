"""Pure summaries of catalog dumps for the web UI's endpoints (Consul's ui_endpoint.go shapes).

A service summary gathers a service's instances: the nodes they run on, their
tags, and its distinct checks by status (a connect proxy's checks count for the
service it fronts too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from msgspec import UNSET

from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_PASSING,
    HEALTH_WARNING,
    CheckServiceNode,
    HealthCheck,
)
from proconsul.structs.service_kinds import CONNECT_PROXY, INGRESS_GATEWAY, TRANSPARENT

EXTERNAL_SOURCE = "external-source"


def new_summary(name: str) -> dict[str, Any]:
    return {"Name": name, "Datacenter": "", "Tags": None, "Nodes": None,
            "ExternalSources": None, "InstanceCount": 0, "ChecksPassing": 0,
            "ChecksWarning": 0, "ChecksCritical": 0, "GatewayConfig": {},
            "TransparentProxy": False, "ConnectNative": False,
            "_checks": {}, "_tp": None, "_nodes": {}, "_tags": {}, "_sources": {}}


def summarize(rows: Iterable[CheckServiceNode]) -> tuple[dict[str, dict], set[str]]:
    """Summaries by service name, and the names that have a connect proxy."""
    out: dict[str, dict] = {}
    has_proxy: set[str] = set()

    def get(name: str) -> dict:
        found = out.get(name)
        if found is None:
            found = out[name] = new_summary(name)
        return found

    for row in rows:
        svc, node = row.Service, row.Node
        sum_ = out.get(svc.Service) or get(svc.Service)
        sum_["_nodes"][node.Node] = None  # dicts keep first-seen order and drop repeats
        if svc.Kind:
            sum_["Kind"] = svc.Kind
        sum_["Datacenter"] = node.Datacenter
        sum_["InstanceCount"] += 1
        if svc.Connect.Native is True:
            sum_["ConnectNative"] = True
        checks = sum_["_checks"]
        for check in row.Checks:
            checks[node.Node, check.CheckID] = check
        if svc.Kind == CONNECT_PROXY and svc.Proxy.DestinationServiceName:
            target = get(svc.Proxy.DestinationServiceName)  # type: ignore[arg-type]
            has_proxy.add(target["Name"])
            for check in row.Checks:
                target["_checks"][node.Node, check.CheckID] = check
            transparent = svc.Proxy.Mode == TRANSPARENT
            target["_tp"] = transparent if target["_tp"] is None else target["_tp"] and transparent
        if svc.Tags:
            sum_["_tags"].update(dict.fromkeys(svc.Tags))
        if svc.Meta and svc.Meta.get(EXTERNAL_SOURCE):
            sum_["_sources"][svc.Meta[EXTERNAL_SOURCE]] = None
    return out, has_proxy


def finish(summaries: dict[str, dict], exclude_sidecars: bool = False) -> list[dict]:
    """The summaries sorted by name with their check counts, internal fields dropped."""
    result = []
    for name in sorted(summaries):
        sum_ = summaries[name]
        checks: dict = sum_.pop("_checks")
        sum_["TransparentProxy"] = bool(sum_.pop("_tp"))
        sum_["Nodes"] = sorted(sum_.pop("_nodes")) or None
        sum_["Tags"] = sorted(sum_.pop("_tags")) or None
        sum_["ExternalSources"] = list(sum_.pop("_sources")) or None
        for check in checks.values():
            if check.Status == HEALTH_PASSING:
                sum_["ChecksPassing"] += 1
            elif check.Status == HEALTH_WARNING:
                sum_["ChecksWarning"] += 1
            elif check.Status == HEALTH_CRITICAL:
                sum_["ChecksCritical"] += 1
        if exclude_sidecars and sum_.get("Kind", "") not in ("", INGRESS_GATEWAY):
            continue
        result.append(sum_)
    return result


def service_listing(rows: list[CheckServiceNode], gateways: list) -> list[dict]:
    """``/v1/internal/ui/services``: a summary per service with its Connect links."""
    summaries, has_proxy = summarize(rows)
    linked: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for gw in gateways:
        linked.setdefault(gw.Service.Name, []).append(gw.Gateway.Name)
        counts[gw.Gateway.Name] = counts.get(gw.Gateway.Name, 0) + 1
    out = []
    for sum_ in finish(summaries):
        name = sum_["Name"]
        sum_["ConnectedWithProxy"] = name in has_proxy
        sum_["ConnectedWithGateway"] = sum_["InstanceCount"] > 0 and any(
            g in summaries for g in linked.get(name, ()))
        if counts.get(name):
            sum_["GatewayConfig"] = {"AssociatedServiceCount": counts[name]}
        out.append(sum_)
    return out


def imported_listing(rows: list[CheckServiceNode]) -> list[dict]:
    """The :func:`service_listing` entries of imported instances: a summary per peer
    and service, named by its ``PeerName`` (no gateway fronts an imported service)."""
    by_peer: dict[str, list[CheckServiceNode]] = {}
    for row in rows:
        by_peer.setdefault(row.Node.PeerName or "", []).append(row)
    out = []
    for peer, group in by_peer.items():
        summaries, has_proxy = summarize(group)
        for sum_ in finish(summaries):
            sum_["PeerName"] = peer
            sum_["ConnectedWithProxy"] = sum_["Name"] in has_proxy
            sum_["ConnectedWithGateway"] = False
            out.append(sum_)
    return out


def worst(checks: Iterable[HealthCheck]) -> str:
    """The unhealthiest status of ``checks`` (passing when there are none)."""
    status = HEALTH_PASSING
    for check in checks:
        if check.Status == HEALTH_CRITICAL:
            return HEALTH_CRITICAL
        if check.Status == HEALTH_WARNING:
            status = HEALTH_WARNING
    return status


def _health(name: str) -> dict[str, Any]:
    return {"Name": name, "Total": 0, "Passing": 0, "Warning": 0, "Critical": 0}


def _add(summary: dict[str, Any], status: str) -> None:
    summary["Total"] += 1
    key = {HEALTH_PASSING: "Passing", HEALTH_WARNING: "Warning",
           HEALTH_CRITICAL: "Critical"}.get(status)
    if key:
        summary[key] += 1


def catalog_overview(dump: list) -> dict[str, list[dict]]:
    """``/v1/internal/ui/catalog-overview``: nodes, service instances and checks counted
    by health (a node or instance counts as its unhealthiest check)."""
    nodes = _health("")
    services: dict[str, dict] = {}
    checks: dict[str, dict] = {}
    for info in dump:
        for check in info.Checks:
            _add(checks.setdefault(check.Name, _health(check.Name)), check.Status)
        _add(nodes, worst(c for c in info.Checks if not c.ServiceID))
        for svc in info.Services:
            own = [c for c in info.Checks if c.ServiceID == svc.ID]
            _add(services.setdefault(svc.Service, _health(svc.Service)), worst(own))
    return {"Nodes": [nodes] if dump else [],
            "Services": [services[k] for k in sorted(services)],
            "Checks": [checks[k] for k in sorted(checks)]}


def upstream_names(rows: Iterable[CheckServiceNode], service: str) -> list[str]:
    """The upstreams named by the proxies of ``service``."""
    names: list[str] = []
    for row in rows:
        proxy = row.Service.Proxy
        if row.Service.Kind == CONNECT_PROXY and proxy.DestinationServiceName == service \
                and proxy.Upstreams is not UNSET:
            for up in proxy.Upstreams or ():
                if up.DestinationName and up.DestinationName not in names:
                    names.append(up.DestinationName)
    return names


def downstream_names(rows: Iterable[CheckServiceNode], service: str) -> list[str]:
    """The services whose proxies name ``service`` as an upstream."""
    names: list[str] = []
    for row in rows:
        proxy = row.Service.Proxy
        if row.Service.Kind != CONNECT_PROXY or proxy.Upstreams is UNSET:
            continue
        if any(up.DestinationName == service for up in proxy.Upstreams or ()):
            name = proxy.DestinationServiceName or row.Service.Service
            if name not in names:
                names.append(name)  # type: ignore[arg-type]
    return names
