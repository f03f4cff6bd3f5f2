"""Service kinds: Consul's names for them (use these constants, not the strings) and its
validation of a service by its kind (NodeService.Validate / ValidateForAgent).

Each function returns the list of problems in Consul's order and words;
:func:`multi_error` renders them as go-multierror does, which is what Consul's
replies carry after their prefix (``Validation failed: ...``).
"""

from __future__ import annotations

from typing import Any

from proconsul.structs.catalog import NodeService

# Consul's service kinds (NodeService.Kind); a typical service has none ("").
CONNECT_PROXY = "connect-proxy"
MESH_GATEWAY = "mesh-gateway"
TERMINATING_GATEWAY = "terminating-gateway"
INGRESS_GATEWAY = "ingress-gateway"
API_GATEWAY = "api-gateway"
SERVICE_KINDS = ("", CONNECT_PROXY, MESH_GATEWAY, TERMINATING_GATEWAY, INGRESS_GATEWAY,
                 API_GATEWAY)
GATEWAY_KINDS = (MESH_GATEWAY, TERMINATING_GATEWAY, INGRESS_GATEWAY, API_GATEWAY)
PORTLESS_GATEWAYS = (INGRESS_GATEWAY, API_GATEWAY)
WILDCARD = "*"
# A connect-proxy's Proxy.Mode that routes its application's traffic by destination IP.
TRANSPARENT = "transparent"
# Service meta of a mesh gateway that also carries WAN federation (-expose-servers).
WAN_FEDERATION_META = "consul-wan-federation"

# Proxy fields a gateway must leave empty, in the order Consul checks them.
_GATEWAY_UNSET_PROXY_FIELDS = ("DestinationServiceName", "DestinationServiceID",
                               "LocalServiceAddress", "LocalServicePort",
                               "LocalServiceSocketPath", "Upstreams")


def validate_service(service: NodeService, sidecar: dict[str, Any] | None = None) -> list[str]:
    """Everything a catalog registration must satisfy (Consul's Validate)."""
    problems = []
    if service.Kind == CONNECT_PROXY and not service.Port and not service.SocketPath:
        problems.append(f"Port or SocketPath must be set for a {service.Kind}")
    return problems + validate_for_agent(service, sidecar)


def validate_for_agent(service: NodeService, sidecar: dict[str, Any] | None = None) -> list[str]:
    """The subset a local agent checks before filling in ports itself (ValidateForAgent).

    ``sidecar`` is the registration's ``Connect.SidecarService`` body, if any.
    """
    problems = []
    kind = service.Kind or ""
    proxy = service.Proxy
    if kind == CONNECT_PROXY:
        destination = proxy.DestinationServiceName or ""
        if not destination.strip():
            problems.append("Proxy.DestinationServiceName must be non-empty for Connect proxy "
                            "services")
        if destination == WILDCARD:
            problems.append("Proxy.DestinationServiceName must not be a wildcard for Connect "
                            "proxy services")
        if service.Connect.Native is True:
            problems.append("A Proxy cannot also be Connect Native, only typical services")
        problems += _upstream_problems(proxy.Upstreams or [])
    if kind in GATEWAY_KINDS:
        if not service.Port and kind not in PORTLESS_GATEWAYS:
            problems.append(f"Port must be non-zero for a {kind}")
        if sidecar is not None:
            problems.append(f"A {kind} cannot have a sidecar service defined")
        for name in _GATEWAY_UNSET_PROXY_FIELDS:
            if getattr(proxy, name):
                problems.append(f"The Proxy.{name} configuration is invalid for a {kind}")
    if sidecar is not None:
        if sidecar.get("ID"):
            problems.append("A SidecarService cannot specify an ID as this is managed by the "
                            "agent")
        nested = sidecar.get("Connect") or {}
        if isinstance(nested, dict) and nested.get("SidecarService") is not None:
            problems.append("A SidecarService cannot have a nested SidecarService")
    if service.Connect.Native is True and not service.Port and not service.SocketPath:
        problems.append("Port or SocketPath must be set for a Connect native service.")
    return problems


def _upstream_problems(upstreams: list) -> list[str]:
    """Duplicate upstreams, by destination and by local bind address, as Consul refuses."""
    problems = []
    seen_keys: set[str] = set()
    seen_binds: set[str] = set()
    for upstream in upstreams:
        key = _key_text(upstream)
        if key in seen_keys:
            problems.append(f"upstreams cannot contain duplicates of {key}")
            continue
        seen_keys.add(key)
        bind = _bind_text(upstream)
        if bind in seen_binds and upstream.CentrallyConfigured is not True:
            problems.append("upstreams cannot contain duplicates by local bind address and "
                            f'port or unix path; "{bind}" is specified twice')
            continue
        seen_binds.add(bind)
    return problems


def _key_text(upstream) -> str:
    """Consul's UpstreamKey as text: every destination field, Go-quoted."""
    fields = (("type", upstream.DestinationType), ("name", upstream.DestinationName),
              ("partition", upstream.DestinationPartition),
              ("namespace", upstream.DestinationNamespace),
              ("peer", upstream.DestinationPeer), ("datacenter", upstream.Datacenter))
    return "[" + ", ".join(f'{name}="{value or ""}"' for name, value in fields) + "]"


def _bind_text(upstream) -> str:
    if upstream.LocalBindSocketPath:
        return upstream.LocalBindSocketPath
    address = upstream.LocalBindAddress or "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{upstream.LocalBindPort or 0}"


def multi_error(problems: list[str]) -> str:
    """go-multierror's rendering: a count line, then one ``* problem`` per line."""
    count = len(problems)
    head = "1 error occurred:" if count == 1 else f"{count} errors occurred:"
    return head + "".join(f"\n\t* {p}" for p in problems) + "\n\n"
