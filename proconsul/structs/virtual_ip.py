"""Service virtual IPs for transparent proxying (Consul's ServiceVirtualIP, FreeVirtualIP
and AssignServiceManualVIPs types; raft message type 43 UpdateVirtualIP).

A Connect-enabled service gets one IP from 240.0.0.0/4, kept as its offset from
240.0.0.0 (Consul stores the offset too), plus any manual VIPs an operator assigns.
"""

from __future__ import annotations

import ipaddress

from proconsul.structs.base import Record, Uint64
from proconsul.structs.gateway_services import ServiceName

# The tagged address a Connect instance carries its service's virtual IP under.
TAGGED_ADDRESS_VIRTUAL_IP = "consul-virtual"
# The first virtual IP; offsets count from here (offset 1 is 240.0.0.1).
VIRTUAL_IP_BASE = 240 << 24
# Offsets run below 15.255.255.254: the counter reaching it means the range is spent.
VIRTUAL_IP_MAX_OFFSET = (15 << 24) | (255 << 16) | (255 << 8) | 254
ERR_VIRTUAL_IPS_EXHAUSTED = "cannot allocate any more unique service virtual IPs"


class PeeredServiceName(Record):
    """A service name and the cluster peer it was imported from ("" = local)."""

    ServiceName: ServiceName
    Peer: str = ""


class ServiceVirtualIP(Record):
    """A service's automatic virtual IP (as an offset) and its manual VIPs; also the
    body of an UpdateVirtualIP raft command (its ``ManualIPs`` replace the service's)."""

    Service: PeeredServiceName
    IP: Uint64 = 0
    ManualIPs: list[str] | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class FreeVirtualIP(Record):
    """A freed offset to hand out again, or (``IsCounter``) the highest offset handed out."""

    IP: Uint64 = 0
    IsCounter: bool = False


class AssignServiceManualVIPsRequest(Record):
    """Internal.AssignManualServiceVIPs: set ``ManualVIPs`` on ``Service``, taking
    them from any other service that had them."""

    Service: str = ""
    ManualVIPs: list[str] | None = None
    Datacenter: str = ""
    Token: str = ""


class AssignServiceManualVIPsResponse(Record):
    """Whether the service has a virtual IP entry, and the services the IPs left."""

    Found: bool = False
    UnassignedFrom: list[PeeredServiceName] | None = None


def offset_address(offset: int) -> str:
    """The dotted address of a virtual IP offset (1 -> "240.0.0.1")."""
    return str(ipaddress.IPv4Address(VIRTUAL_IP_BASE + offset))


def manual_vips_problem(ips: list[str]) -> str:
    """Consul's complaint about a list of manual VIPs ("" when all are fine): each must
    parse as IPv4 (an IPv4-mapped IPv6 address passes, as Go's To4 lets it), and the
    message quotes what Go parsed (``<nil>`` when nothing)."""
    for ip in ips:
        try:
            parsed = ipaddress.ip_address(ip)
        except ValueError:
            return '"<nil>" is not a valid IPv4 address'
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
            return f'"{parsed.compressed}" is not a valid IPv4 address'
    return ""
