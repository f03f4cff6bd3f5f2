"""What the built-in proxy runs: a public mTLS listener and upstream listeners.

Built from the proxy's registration (``/v1/agent/service/:id``) as Consul's
``AgentConfigWatcher`` does, or from ``-service``/``-listen``/``-upstream``
flags (dev mode). Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proconsul.structs.service_kinds import CONNECT_PROXY

SERVICE = "service"
PREPARED_QUERY = "prepared_query"
DEFAULT_NAMESPACE = "default"
DEFAULT_BIND_ADDRESS = "0.0.0.0"
DEFAULT_UPSTREAM_BIND = "127.0.0.1"
DEFAULT_LOCAL_CONNECT_TIMEOUT = 1.0  # seconds (local_connect_timeout_ms 1000)
DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # seconds (handshake_timeout_ms 10000)
DEFAULT_UPSTREAM_CONNECT_TIMEOUT = 10.0  # seconds (connect_timeout_ms 10000)


class ProxyConfigError(ValueError):
    """A registration or flag the proxy cannot run from; the message says why."""


@dataclass(frozen=True)
class PublicListenerConfig:
    """The mTLS listener in front of the local application."""

    bind_address: str
    bind_port: int
    local_service_address: str  # host:port of the application, plain TCP
    local_connect_timeout: float = DEFAULT_LOCAL_CONNECT_TIMEOUT
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT

    @property
    def bind(self) -> tuple[str, int]:
        return self.bind_address, self.bind_port


@dataclass(frozen=True)
class UpstreamConfig:
    """A local plain-TCP listener whose connections go over mTLS to a destination."""

    destination_name: str
    local_bind_port: int
    destination_type: str = SERVICE
    destination_namespace: str = DEFAULT_NAMESPACE
    datacenter: str = ""
    local_bind_address: str = DEFAULT_UPSTREAM_BIND
    connect_timeout: float = DEFAULT_UPSTREAM_CONNECT_TIMEOUT

    @property
    def bind(self) -> tuple[str, int]:
        return self.local_bind_address, self.local_bind_port

    def __str__(self) -> str:  # Consul's UpstreamConfig.String()
        return (f"{self.local_bind_address}:{self.local_bind_port}->{self.destination_type}:"
                f"{self.destination_namespace}/{self.destination_name}")


@dataclass(frozen=True)
class ProxyConfig:
    """Everything one proxy instance serves, for one proxied service."""

    service: str
    public: PublicListenerConfig | None = None
    upstreams: tuple[UpstreamConfig, ...] = field(default_factory=tuple)
    telemetry: dict[str, Any] = field(default_factory=dict)  # the agent's telemetry keys


def from_agent_service(svc: dict[str, Any]) -> ProxyConfig:
    """The config of a ``connect-proxy`` registration as ``/v1/agent/service/:id`` shows it.

    As in Consul the public listener binds the registration's Address (default
    0.0.0.0) and Port, and forwards to LocalServiceAddress:LocalServicePort;
    ``Proxy.Config`` may set local_connect_timeout_ms, handshake_timeout_ms and
    ``telemetry`` (the agent's telemetry keys: statsd_address, ...), an
    upstream's ``Config`` connect_timeout_ms.
    """
    if svc.get("Kind") != CONNECT_PROXY:
        raise ProxyConfigError(f"service {svc.get('ID', '')!r} is not a connect-proxy "
                               f"(Kind {svc.get('Kind') or 'typical'!r})")
    proxy = svc.get("Proxy") or {}
    name = proxy.get("DestinationServiceName") or ""
    if not name:
        raise ProxyConfigError(f"proxy {svc.get('ID', '')!r} has no DestinationServiceName")
    opaque = proxy.get("Config") or {}
    local_port = _port(proxy.get("LocalServicePort", 0), "LocalServicePort")
    public = PublicListenerConfig(
        bind_address=svc.get("Address") or DEFAULT_BIND_ADDRESS,
        bind_port=_port(svc.get("Port", 0), "Port"),
        local_service_address=_join(proxy.get("LocalServiceAddress") or "127.0.0.1",
                                    local_port),
        local_connect_timeout=_millis(opaque, "local_connect_timeout_ms",
                                      DEFAULT_LOCAL_CONNECT_TIMEOUT),
        handshake_timeout=_millis(opaque, "handshake_timeout_ms", DEFAULT_HANDSHAKE_TIMEOUT))
    upstreams = tuple(_upstream(u) for u in proxy.get("Upstreams") or ())
    _check_binds(public, upstreams)
    telemetry = opaque.get("telemetry") or {}
    if not isinstance(telemetry, dict):
        raise ProxyConfigError(f"Proxy.Config.telemetry must be an object, not {telemetry!r}")
    return ProxyConfig(service=name, public=public, upstreams=upstreams, telemetry=telemetry)


def _upstream(raw: dict[str, Any]) -> UpstreamConfig:
    kind = raw.get("DestinationType") or SERVICE
    if kind not in (SERVICE, PREPARED_QUERY):
        raise ProxyConfigError(f"upstream {raw.get('DestinationName')!r}: DestinationType "
                               f"must be {SERVICE!r} or {PREPARED_QUERY!r}, not {kind!r}")
    if not raw.get("DestinationName"):
        raise ProxyConfigError("an upstream has no DestinationName")
    if raw.get("LocalBindSocketPath"):
        raise ProxyConfigError(f"upstream {raw['DestinationName']!r}: LocalBindSocketPath "
                               "is not supported by the built-in proxy")
    return UpstreamConfig(
        destination_name=raw["DestinationName"], destination_type=kind,
        destination_namespace=raw.get("DestinationNamespace") or DEFAULT_NAMESPACE,
        datacenter=raw.get("Datacenter") or "",
        local_bind_address=raw.get("LocalBindAddress") or DEFAULT_UPSTREAM_BIND,
        local_bind_port=_port(raw.get("LocalBindPort", 0), "LocalBindPort"),
        connect_timeout=_millis(raw.get("Config") or {}, "connect_timeout_ms",
                                DEFAULT_UPSTREAM_CONNECT_TIMEOUT))


def _check_binds(public: PublicListenerConfig | None,
                 upstreams: tuple[UpstreamConfig, ...]) -> None:
    seen: dict[tuple[str, int], str] = {}
    if public is not None:
        seen[public.bind] = "the public listener"
    for upstream in upstreams:
        if upstream.bind in seen:
            raise ProxyConfigError(f"upstream {upstream.destination_name!r} binds "
                                   f"{_join(*upstream.bind)}, already used by "
                                   f"{seen[upstream.bind]}")
        seen[upstream.bind] = f"upstream {upstream.destination_name!r}"


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ProxyConfigError(f"{what} must be a port number, not {value!r}")
    return value


def _millis(opaque: dict[str, Any], key: str, default: float) -> float:
    value = opaque.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProxyConfigError(f"{key} must be a positive number of milliseconds, "
                               f"not {value!r}")
    return value / 1000


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(text: str, what: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` (an empty host is kept empty)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ProxyConfigError(f"{what} {text!r}: missing port in address")
    try:
        number = int(port, 0)
    except ValueError:
        raise ProxyConfigError(f"{what} {text!r}: invalid port {port!r}") from None
    if not 0 <= number <= 65535:
        raise ProxyConfigError(f"{what} {text!r}: port out of range")
    return host.strip("[]"), number


def parse_upstream_flag(value: str) -> UpstreamConfig:
    """``-upstream name[.service|.query]:[host:]port`` (Consul's FlagUpstreams)."""
    name, sep, addr = value.partition(":")
    if not sep:
        raise ProxyConfigError(f"Upstream value should be name:addr in {value!r}")
    host = ""
    if ":" in addr:
        host, _, addr = addr.partition(":")
    kind = SERVICE
    if "." in name:
        name, _, suffix = name.partition(".")
        if suffix == "query":
            kind = PREPARED_QUERY
        elif suffix not in ("", "service"):
            raise ProxyConfigError(
                f"Upstream type must be blank, 'service', or 'query'. Got: {suffix!r}")
    try:
        port = int(addr, 0)
    except ValueError:
        raise ProxyConfigError(f"Upstream {value!r}: invalid port {addr!r}") from None
    if not name or not 0 < port <= 65535:
        raise ProxyConfigError(f"Upstream {value!r}: needs a name and a port from 1 to 65535")
    return UpstreamConfig(destination_name=name, destination_type=kind, local_bind_port=port,
                          local_bind_address=host or DEFAULT_UPSTREAM_BIND)


def from_flags(service: str, listen: str, service_addr: str,
               upstreams: list[UpstreamConfig]) -> ProxyConfig:
    """Dev mode: ``-service`` with optional ``-listen``/``-service-addr`` and ``-upstream``."""
    public = None
    if listen:
        host, port = split_host_port(listen, "-listen")
        if not service_addr:
            raise ProxyConfigError("-service-addr must be specified with -listen so the proxy "
                                   "knows the backend service address.")
        split_host_port(service_addr, "-service-addr")
        public = PublicListenerConfig(bind_address=host or DEFAULT_BIND_ADDRESS,
                                      bind_port=port, local_service_address=service_addr)
    ordered = tuple(sorted(upstreams, key=lambda u: u.destination_name))
    _check_binds(public, ordered)
    return ProxyConfig(service=service, public=public, upstreams=ordered)
