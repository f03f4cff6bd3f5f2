"""The DNS server's settings: the agent's ``dns_config`` checked and converted once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from proconsul.agent.config import AgentConfig
from proconsul.lib.duration import SECOND, DurationError, parse_duration
from proconsul.structs.errors import ConsulError

RECURSOR_STRATEGIES = ("sequential", "random")


def fqdn_labels(domain: str) -> tuple[bytes, ...]:
    """``"Consul"`` or ``"consul."`` → ``(b"consul",)``; the root is ``()``."""
    text = domain.lower().strip(".")
    return tuple(label.encode() for label in text.split(".")) if text else ()


def recursor_address(text: str) -> tuple[str, int]:
    """``ip``, ``ip:port``, ``[ipv6]:port`` or a bare IPv6 address; the port defaults to 53."""
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConsulError(f"Invalid recursor address: {text}")
        if rest:
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(text, port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConsulError(f"Invalid recursor address: {text}") from None
    return host, port


def _port(text: str, port: str) -> int:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConsulError(f"Invalid recursor address: {text}")
    return int(port)


def _seconds(name: str, text: str) -> float:
    try:
        nanos = parse_duration(text)
    except DurationError as err:
        raise ConsulError(f"dns_config.{name}: {err}") from None
    if nanos < 0:
        raise ConsulError(f"dns_config.{name} cannot be negative")
    return nanos / SECOND


@dataclass(frozen=True)
class DNSSettings:
    """Everything the resolver needs to know, in the units it uses (TTLs in whole seconds)."""

    datacenter: str
    domain: tuple[bytes, ...] = (b"consul",)
    alt_domain: tuple[bytes, ...] | None = None
    recursors: tuple[tuple[str, int], ...] = ()
    recursor_timeout: float = 2.0
    recursor_strategy: str = "sequential"
    allow_stale: bool = True
    max_stale_ms: int = 87600 * 3600 * 1000
    node_ttl: int = 0
    service_ttls: dict[str, int] = field(default_factory=dict)
    service_ttl_prefixes: tuple[tuple[str, int], ...] = ()
    udp_answer_limit: int = 3
    a_record_limit: int = 0
    only_passing: bool = False
    enable_truncate: bool = False
    compress: bool = True
    node_meta_txt: bool = True
    soa_refresh: int = 3600
    soa_retry: int = 600
    soa_expire: int = 86400
    soa_min_ttl: int = 0
    serve_stale_on_error: bool = False
    stale_ttl: int = 5

    @classmethod
    def from_config(cls, config: AgentConfig) -> DNSSettings:
        """Check ``config``'s DNS settings the way Consul's config builder does."""
        dns = config.dns_config
        if dns.udp_answer_limit < 0:
            raise ConsulError(f"dns_config.udp_answer_limit cannot be {dns.udp_answer_limit}. "
                              "Must be greater than or equal to zero")
        if dns.a_record_limit < 0:
            raise ConsulError(f"dns_config.a_record_limit cannot be {dns.a_record_limit}. "
                              "Must be greater than or equal to zero")
        if dns.recursor_strategy not in RECURSOR_STRATEGIES:
            raise ConsulError(f"dns_config.recursor_strategy: invalid strategy "
                              f"{dns.recursor_strategy!r}")
        exact, prefixes = {}, []
        for name, ttl in dns.service_ttl.items():
            seconds = int(_seconds(f"service_ttl[{name!r}]", ttl))
            if name.endswith("*"):
                prefixes.append((name[:-1], seconds))
            else:
                exact[name] = seconds
        prefixes.sort(key=lambda pair: -len(pair[0]))
        alt = fqdn_labels(config.alt_domain)
        return cls(
            datacenter=config.datacenter,
            domain=fqdn_labels(config.domain or "consul."),
            alt_domain=alt or None,
            recursors=tuple(recursor_address(r) for r in config.recursors),
            recursor_timeout=_seconds("recursor_timeout", dns.recursor_timeout),
            recursor_strategy=dns.recursor_strategy,
            allow_stale=dns.allow_stale,
            max_stale_ms=int(_seconds("max_stale", dns.max_stale) * 1000),
            node_ttl=int(_seconds("node_ttl", dns.node_ttl)),
            service_ttls=exact,
            service_ttl_prefixes=tuple(prefixes),
            udp_answer_limit=dns.udp_answer_limit,
            a_record_limit=dns.a_record_limit,
            only_passing=dns.only_passing,
            enable_truncate=dns.enable_truncate,
            compress=not dns.disable_compression,
            node_meta_txt=dns.enable_additional_node_meta_txt,
            soa_refresh=dns.soa.refresh,
            soa_retry=dns.soa.retry,
            soa_expire=dns.soa.expire,
            soa_min_ttl=dns.soa.min_ttl,
            serve_stale_on_error=dns.serve_stale_on_error,
            stale_ttl=int(_seconds("stale_ttl", dns.stale_ttl)),
        )

    def service_ttl(self, service: str) -> int:
        """TTL of a service's records: exact name first, then the longest ``prefix*`` match."""
        ttl = self.service_ttls.get(service)
        if ttl is not None:
            return ttl
        for prefix, ttl in self.service_ttl_prefixes:
            if service.startswith(prefix):
                return ttl
        return 0
