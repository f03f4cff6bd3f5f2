"""dns_config checked and converted: limits, durations, TTL prefixes, recursor addresses."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.agent.config import AgentConfig, DNSConfig
from proconsul.agent.dns.settings import DNSSettings, recursor_address
from proconsul.cli.agent_command import config_from_args
from proconsul.structs.errors import ConsulError


def settings(**dns_config) -> DNSSettings:
    return DNSSettings.from_config(AgentConfig(dns_config=msgspec.convert(dns_config, DNSConfig)))


def test_consul_defaults():
    s = DNSSettings.from_config(AgentConfig())
    assert (s.domain, s.alt_domain, s.recursors) == ((b"consul",), None, ())
    assert (s.allow_stale, s.max_stale_ms, s.node_ttl, s.service_ttl("web")) == (
        True, 87600 * 3600 * 1000, 0, 0)
    assert (s.udp_answer_limit, s.a_record_limit, s.only_passing, s.enable_truncate) == (
        3, 0, False, False)
    assert (s.recursor_timeout, s.recursor_strategy, s.compress, s.node_meta_txt) == (
        2.0, "sequential", True, True)
    assert (s.soa_refresh, s.soa_retry, s.soa_expire, s.soa_min_ttl) == (3600, 600, 86400, 0)
    assert (s.serve_stale_on_error, s.stale_ttl) == (False, 5)


def test_service_ttls_exact_names_then_longest_prefix():
    s = settings(service_ttl={"*": "1s", "db*": "2s", "db-main*": "3s", "db": "4s", "web": "1m"})
    assert [s.service_ttl(n) for n in ("other", "dbx", "db-main-1", "db", "web")] == [
        1, 2, 3, 4, 60]
    assert settings(service_ttl={"web": "5s"}).service_ttl("other") == 0


@pytest.mark.parametrize("dns_config,message", [
    ({"udp_answer_limit": -1}, "udp_answer_limit cannot be -1"),
    ({"a_record_limit": -2}, "a_record_limit cannot be -2"),
    ({"recursor_strategy": "fastest"}, "invalid strategy"),
    ({"node_ttl": "ten"}, "node_ttl"),
    ({"max_stale": "-1s"}, "max_stale cannot be negative"),
    ({"service_ttl": {"web": "1x"}}, "service_ttl"),
])
def test_invalid_settings(dns_config, message):
    with pytest.raises(ConsulError, match=message):
        settings(**dns_config)


@pytest.mark.parametrize("text,address", [
    ("10.0.0.1", ("10.0.0.1", 53)),
    ("10.0.0.1:5353", ("10.0.0.1", 5353)),
    ("2001:db8::1", ("2001:db8::1", 53)),
    ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ("[2001:db8::1]", ("2001:db8::1", 53)),
])
def test_recursor_addresses(text, address):
    assert recursor_address(text) == address


@pytest.mark.parametrize("text", ["dns.example.com", "10.0.0.1:0", "10.0.0.1:x", "[::1",
                                  "[::1]x", "10.0.0.1:70000"])
def test_invalid_recursor_addresses(text):
    with pytest.raises(ConsulError, match="Invalid recursor address"):
        recursor_address(text)


def test_agent_flags():
    config = config_from_args(["-dev", "-dns-port", "8653", "-domain", "Example.",
                               "-alt-domain", "alt", "-recursor", "10.0.0.1",
                               "-recursor=10.0.0.2:54"])
    assert (config.dns_port, config.domain, config.alt_domain, config.recursors) == (
        8653, "Example.", "alt", ["10.0.0.1", "10.0.0.2:54"])
    s = DNSSettings.from_config(config)
    assert (s.domain, s.alt_domain, s.recursors) == (
        (b"example",), (b"alt",), (("10.0.0.1", 53), ("10.0.0.2", 54)))
    defaults = config_from_args(["-dev"])
    assert (defaults.dns_port, defaults.domain, defaults.recursors) == (8600, "consul.", [])
