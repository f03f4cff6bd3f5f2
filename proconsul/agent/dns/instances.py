"""What Consul reads from catalog entries: health, SRV weights, addresses, node meta."""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from operator import attrgetter

from proconsul.agent.dns import records as rr
from proconsul.agent.dns.records import Name, Record
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_MAINT,
    HEALTH_PASSING,
    HEALTH_WARNING,
    CheckServiceNode,
    Node,
)

_STATUS = attrgetter("Status")
_V4_TYPES = frozenset((rr.SRV, rr.A, rr.ANY, rr.NS, rr.TXT))  # questions an IPv4 address answers
_V6_TYPES = frozenset((rr.SRV, rr.AAAA, rr.ANY, rr.NS, rr.TXT))
NODE_MAINT_CHECK = "_node_maintenance"
SERVICE_MAINT_PREFIX = "_service_maintenance:"

# translateAddressAccept's flags: which kinds of address a question can use.
ACCEPT_DOMAIN, ACCEPT_IPV4, ACCEPT_IPV6 = 1, 2, 4
ACCEPT_ANY = ACCEPT_DOMAIN | ACCEPT_IPV4 | ACCEPT_IPV6


def healthy(nodes: list[CheckServiceNode], only_passing: bool) -> list[CheckServiceNode]:
    """Instances without a critical check (with ``only_passing``: with only passing checks)."""
    if only_passing:
        return [n for n in nodes if all(map(HEALTH_PASSING.__eq__, map(_STATUS, n.Checks)))]
    return [n for n in nodes if HEALTH_CRITICAL not in map(_STATUS, n.Checks)]


def aggregated_status(node: CheckServiceNode) -> str:
    """The api package's ``AggregatedStatus`` of the node checks and this service's checks."""
    warning = critical = maintenance = False
    for check in node.Checks:
        if check.ServiceName not in ("", node.Service.Service):
            continue
        if check.CheckID == NODE_MAINT_CHECK or check.CheckID.startswith(SERVICE_MAINT_PREFIX):
            maintenance = True
            continue
        if check.Status == HEALTH_PASSING:
            continue
        if check.Status == HEALTH_WARNING:
            warning = True
        elif check.Status == HEALTH_CRITICAL:
            critical = True
        else:
            return ""
    if maintenance:
        return HEALTH_MAINT
    if critical:
        return HEALTH_CRITICAL
    if warning:
        return HEALTH_WARNING
    return HEALTH_PASSING


def srv_weight(node: CheckServiceNode) -> int:
    """The SRV weight: Weights.Passing or .Warning by health, 0 in maintenance."""
    weights = node.Service.Weights
    passing, warning = (weights.Passing, weights.Warning) if weights is not None else (1, 1)
    status = aggregated_status(node)
    if status == HEALTH_WARNING:
        return warning
    if status == HEALTH_PASSING:
        return passing
    if status in (HEALTH_MAINT, HEALTH_CRITICAL):
        return 0
    return 1


def accept_for(qtype: int) -> int:
    if qtype == rr.A:
        return ACCEPT_DOMAIN | ACCEPT_IPV4
    if qtype == rr.AAAA:
        return ACCEPT_DOMAIN | ACCEPT_IPV6
    return ACCEPT_ANY


def translate(accept: int, default: str, v4: str, v6: str) -> str:
    """Pick the address a question can use: a tagged ``lan_ipv6``/``lan_ipv4``, else the default."""
    if accept & ACCEPT_IPV6 and v6:
        return v6
    if accept & ACCEPT_IPV4 and v4:
        return v4
    return default


def address_record(qtype: int, ip, name: Name, ttl: int) -> Record | None:
    """``makeARecord``: an A or AAAA for ``ip`` if the question type allows it."""
    allowed = _V4_TYPES if isinstance(ip, IPv4Address) else _V6_TYPES
    return rr.address(name, ip, ttl) if qtype in allowed else None


def rfc1464(key: str, value: str) -> str:
    """``key=value`` with RFC 1464 backquote escapes, as Consul encodes node meta."""
    key = key.replace("`", "``").replace("=", "`=")
    key = re.sub(r"^ +", lambda m: "` " * len(m.group()), key)
    key = re.sub(r" +$", lambda m: "` " * len(m.group()), key)
    return key + "=" + value.replace("`", "``")


def meta_txt(name: Name, node: Node, ttl: int) -> list[Record]:
    """One TXT per node meta entry; ``rfc1035-`` keys give the bare value."""
    return [rr.txt(name, ttl, value if key.lower().startswith("rfc1035-") else rfc1464(key, value))
            for key, value in (node.Meta or {}).items()]
