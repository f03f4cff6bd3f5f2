"""The built-in proxy's config from a registration and from dev-mode flags."""

from __future__ import annotations

import pytest

from proconsul.agent.proxy.config import (
    PREPARED_QUERY,
    ProxyConfigError,
    PublicListenerConfig,
    UpstreamConfig,
    from_agent_service,
    from_flags,
    parse_upstream_flag,
)


def registration(**proxy) -> dict:
    return {"ID": "web-sidecar-proxy", "Kind": "connect-proxy", "Port": 21000, "Address": "",
            "Proxy": {"DestinationServiceName": "web", "LocalServicePort": 8080, **proxy}}


def test_defaults_follow_consul():
    config = from_agent_service(registration(Upstreams=[
        {"DestinationName": "api", "LocalBindPort": 9191}]))
    assert config.service == "web"
    assert config.public == PublicListenerConfig("0.0.0.0", 21000, "127.0.0.1:8080", 1.0, 10.0)
    assert config.upstreams == (UpstreamConfig("api", 9191),)
    assert str(config.upstreams[0]) == "127.0.0.1:9191->service:default/api"


def test_timeouts_addresses_and_prepared_queries_are_read():
    svc = registration(LocalServiceAddress="10.0.0.5",
                       Config={"local_connect_timeout_ms": 250, "handshake_timeout_ms": 2000},
                       Upstreams=[{"DestinationType": "prepared_query", "DestinationName": "q",
                                   "Datacenter": "dc2", "LocalBindAddress": "127.0.0.2",
                                   "LocalBindPort": 1, "Config": {"connect_timeout_ms": 500}}])
    svc["Address"] = "10.0.0.6"
    config = from_agent_service(svc)
    assert config.public == PublicListenerConfig("10.0.0.6", 21000, "10.0.0.5:8080", 0.25, 2.0)
    assert config.upstreams == (UpstreamConfig("q", 1, PREPARED_QUERY, "default", "dc2",
                                               "127.0.0.2", 0.5),)


@pytest.mark.parametrize(("svc", "message"), [
    ({"ID": "web", "Port": 1}, "is not a connect-proxy (Kind 'typical')"),
    ({"ID": "p", "Kind": "connect-proxy", "Proxy": {}}, "has no DestinationServiceName"),
    (registration(Upstreams=[{"DestinationName": "a", "DestinationType": "x"}]),
     "DestinationType must be"),
    (registration(Upstreams=[{"LocalBindPort": 1}]), "an upstream has no DestinationName"),
    (registration(Upstreams=[{"DestinationName": "a", "LocalBindPort": 70000}]),
     "LocalBindPort must be a port number"),
    (registration(Config={"handshake_timeout_ms": "soon"}), "handshake_timeout_ms must be"),
    (registration(Config={"telemetry": "yes"}), "telemetry must be an object"),
    (registration(Upstreams=[{"DestinationName": "a", "LocalBindPort": 1},
                             {"DestinationName": "b", "LocalBindPort": 1}]),
     "upstream 'b' binds 127.0.0.1:1, already used by upstream 'a'"),
])
def test_unusable_registrations_say_why(svc, message):
    with pytest.raises(ProxyConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_agent_service(svc)


@pytest.mark.parametrize(("flag", "expected"), [
    ("db:8181", UpstreamConfig("db", 8181)),
    ("db:127.0.0.10:8282", UpstreamConfig("db", 8282, local_bind_address="127.0.0.10")),
    ("db.service:1", UpstreamConfig("db", 1)),
    ("q.query:0x10", UpstreamConfig("q", 16, PREPARED_QUERY)),
])
def test_upstream_flag_forms(flag, expected):
    assert parse_upstream_flag(flag) == expected


@pytest.mark.parametrize(("flag", "message"), [
    ("db", "Upstream value should be name:addr"),
    ("db.x:1", "Upstream type must be blank, 'service', or 'query'"),
    ("db:port", "invalid port 'port'"),
    ("db:0", "needs a name and a port"),
    (":1", "needs a name and a port"),
])
def test_bad_upstream_flags(flag, message):
    with pytest.raises(ProxyConfigError, match=message):
        parse_upstream_flag(flag)


def test_dev_mode_listener_needs_a_service_address():
    config = from_flags("web", ":8443", "127.0.0.1:8080", [parse_upstream_flag("db:1")])
    assert config.public == PublicListenerConfig("0.0.0.0", 8443, "127.0.0.1:8080")
    assert from_flags("web", "", "", []).public is None
    with pytest.raises(ProxyConfigError, match="-service-addr must be specified"):
        from_flags("web", ":8443", "", [])
    with pytest.raises(ProxyConfigError, match="missing port"):
        from_flags("web", "8443", "127.0.0.1:1", [])
