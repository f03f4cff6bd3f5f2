"""Query names: which part is the domain, and what the rest asks for.

Mirrors Consul's ``dispatch``: the labels left of the domain are scanned right
to left for the first keyword; labels left of it name the thing, labels right
of it give the locality (datacenter or peer).
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

import dns.exception
import dns.name
import dns.reversename

from proconsul.agent.dns.records import SRV, Name, parse_ip

KEYWORDS = frozenset(("service", "connect", "virtual", "ingress", "node", "query", "addr"))
_HEX = re.compile(r"[0-9a-f]+")


class Target(NamedTuple):
    """What a name in the domain asks for.

    ``kind`` is one of :data:`KEYWORDS`; ``name`` is the node, service,
    prepared query or hex address; ``datacenter`` is ``""`` for the agent's own.
    """

    kind: str
    name: str
    tag: str = ""
    datacenter: str = ""
    peer: str = ""


def domain_suffix(labels: tuple[bytes, ...], domain: tuple[bytes, ...],
                  alt_domain: tuple[bytes, ...] | None) -> int | None:
    """How many trailing labels of (lower-cased) ``labels`` are the matched domain, or None.

    When both domains match, the longer one wins, as in Consul.
    """
    best = None
    for candidate in (domain, alt_domain):
        if candidate is None:
            continue
        n = len(candidate)
        if len(labels) >= n and labels[len(labels) - n:] == candidate and (best is None or n > best):
            best = n
    return best


class _Locality(NamedTuple):
    datacenter: str = ""
    peer: str = ""
    peer_or_datacenter: str = ""

    @property
    def effective_datacenter(self) -> str:
        return self.datacenter or self.peer_or_datacenter


def _locality(labels: tuple[str, ...]) -> _Locality | None:
    """``[<dc>]``, ``[<dc>.dc]`` or ``[<peer>.peer]`` (at most one of each kind)."""
    if not labels:
        return _Locality()
    if len(labels) == 1:
        return _Locality(peer_or_datacenter=labels[0])
    if len(labels) not in (2, 4):
        return None
    found: dict[str, str] = {}
    for value, key in zip(labels[::2], labels[1::2], strict=True):
        if key not in ("dc", "peer"):
            return None
        found[key] = value
    if "dc" in found and "peer" in found:
        return None
    return _Locality(datacenter=found.get("dc", ""), peer=found.get("peer", ""))


def parse_target(labels: tuple[str, ...], qtype: int) -> Target | None:
    """Parse the lower-cased labels left of the domain; None means the name is invalid."""
    kind = None
    for i in range(len(labels) - 1, -1, -1):
        label = labels[i]
        if label in KEYWORDS:
            kind, parts, suffix = label, labels[:i], labels[i + 1:]
            break
        if qtype == SRV and label.startswith("_"):
            # For SRV questions the "service" keyword may be left out.
            kind, parts, suffix = "service", labels[:i + 1], labels[i + 1:]
            break
    if kind is None or not parts:
        return None
    if kind == "query":
        if len(suffix) > 1:
            return None
        if len(parts) >= 2 and parts[0].startswith("_") and parts[-1].startswith("_"):
            name = ".".join(parts[:-1])[1:]  # RFC 2782: _<query>._<proto>
        else:
            name = ".".join(parts)
        return Target("query", name, datacenter=suffix[0] if suffix else "")
    if kind == "addr":
        # The locality is not even looked at for addr names.
        if len(parts) != 1 or len(parts[0]) not in (8, 32) or not _HEX.fullmatch(parts[0]):
            return None
        return Target("addr", parts[0])
    locality = _locality(suffix)
    if locality is None:
        return None
    if kind == "service":
        if len(parts) == 2 and parts[0].startswith("_") and parts[1].startswith("_"):
            tag = parts[1][1:]
            return Target("service", parts[0][1:], "" if tag == "tcp" else tag,
                          "" if locality.peer else locality.effective_datacenter, locality.peer)
        return Target("service", parts[-1], ".".join(parts[:-1]),
                      "" if locality.peer else locality.effective_datacenter, locality.peer)
    if kind == "node":
        return Target("node", ".".join(parts), "",
                      "" if locality.peer else locality.effective_datacenter, locality.peer)
    if kind == "virtual":
        return Target("virtual", parts[-1], peer=locality.peer or locality.peer_or_datacenter)
    return Target(kind, parts[-1], datacenter=locality.effective_datacenter)  # connect, ingress


def ip_from_arpa(name: Name) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a lower-cased ``in-addr.arpa``/``ip6.arpa`` name stands for, or None."""
    try:
        text = dns.reversename.to_address(dns.name.Name((*name, b"")))
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return None
    return parse_ip(text)
