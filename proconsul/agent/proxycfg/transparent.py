"""Transparent proxy mode: how a sidecar's mode resolves and which upstreams intentions allow.

A proxy in transparent mode gets, besides its explicit upstreams, one implicit
upstream per service its own service may reach by intentions (Consul's
``intention-upstreams`` watch): every typical service of the catalog but its own
and ``consul``, whose intention decision for this source is allow (an L7 intention
counts as allow: the destination's proxy applies it per request), honouring the
default policy when no intention matches.
"""

from __future__ import annotations

from typing import Any

from proconsul.server.connect.intentions import all_intentions, decide
from proconsul.structs.catalog import NodeService
from proconsul.structs.config_entries import load

DEFAULT_OUTBOUND_PORT = 15001
CONSUL_SERVICE = "consul"
TYPICAL_SERVICES = 'ServiceKind == ""'  # the catalog filter of intention-upstream candidates


def mode(service: NodeService, service_defaults: dict[str, Any] | None,
         proxy_defaults: dict[str, Any] | None) -> str:
    """The proxy's mode: its registration's, else its service's service-defaults',
    else proxy-defaults' (Consul merges the entries into the registration so)."""
    for source in (service.Proxy.Mode, (service_defaults or {}).get("Mode"),
                   (proxy_defaults or {}).get("Mode")):
        if source:
            return str(source)
    return ""


def outbound_port(service: NodeService, service_defaults: dict[str, Any] | None,
                  proxy_defaults: dict[str, Any] | None) -> int:
    """``TransparentProxy.OutboundListenerPort`` by the same precedence, else 15001."""
    for config in (service.Proxy.TransparentProxy, (service_defaults or {}).get(
            "TransparentProxy"), (proxy_defaults or {}).get("TransparentProxy")):
        if isinstance(config, dict) and config.get("OutboundListenerPort"):
            return int(config["OutboundListenerPort"])
    return DEFAULT_OUTBOUND_PORT


def allowed_upstreams(services: dict[str, Any] | None, entries: list[dict[str, Any]] | None,
                      source: str, default_allow: bool) -> list[str]:
    """The names of the services ``source`` may dial by intentions, sorted."""
    intentions = all_intentions(load(raw) for raw in entries or ())
    for ixn in intentions:
        ixn.update_precedence()
    out = []
    for name in sorted(services or ()):
        if name in (source, CONSUL_SERVICE):
            continue
        _, summary = decide(intentions, source, name, default_allow)
        if summary.Allowed or summary.HasPermissions:
            out.append(name)
    return out
