"""DebugConfig of /v1/agent/self: the fields clients read, in the formats of Consul's
sanitized RuntimeConfig, for a few agent configurations."""

from __future__ import annotations

import pytest

from proconsul.agent.config.builder import build
from proconsul.agent.http.debug_config import debug_config, host_port


def config_for(tree: dict, dev: bool = False):
    return build({"data_dir": "/var/lib/consul", **tree}, dev).finish()


@pytest.mark.parametrize("tree,expected", [
    ({"bind_addr": "127.0.0.1", "node_name": "n1", "server": True},
     {"SerfAdvertiseAddrLAN": "tcp://127.0.0.1:8301",
      "SerfAdvertiseAddrWAN": "tcp://127.0.0.1:8302", "SerfBindAddrLAN": "tcp://127.0.0.1:8301",
      "RPCAdvertiseAddr": "tcp://127.0.0.1:8300", "AdvertiseAddrLAN": "127.0.0.1",
      "AdvertiseAddrWAN": "127.0.0.1", "BindAddr": "127.0.0.1", "ClientAddrs": ["127.0.0.1"],
      "HTTPAddrs": ["tcp://127.0.0.1:8500"], "HTTPSAddrs": [], "HTTPSPort": -1,
      "DNSAddrs": ["tcp://127.0.0.1:8600", "udp://127.0.0.1:8600"], "ServerMode": True,
      "NodeName": "n1", "Datacenter": "dc1", "DataDir": "/var/lib/consul",
      "RetryJoinIntervalLAN": "30s", "EncryptKey": "hidden"}),
    ({"bind_addr": "0.0.0.0", "advertise_addr": "10.1.2.3", "advertise_addr_wan": "198.51.100.7",
      "client_addr": "127.0.0.1 10.1.2.3", "datacenter": "east",
      "ports": {"serf_lan": 7301, "serf_wan": -1, "dns": -1, "http": 18500},
      "encrypt": "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",
      "node_meta": {"rack": "r1"}},
     {"SerfAdvertiseAddrLAN": "tcp://10.1.2.3:7301", "SerfAdvertiseAddrWAN": "",
      "SerfBindAddrLAN": "tcp://0.0.0.0:7301", "SerfBindAddrWAN": "", "SerfPortWAN": -1,
      "AdvertiseAddrLAN": "10.1.2.3", "AdvertiseAddrWAN": "198.51.100.7", "BindAddr": "0.0.0.0",
      "ClientAddrs": ["127.0.0.1", "10.1.2.3"], "HTTPAddrs": ["tcp://127.0.0.1:18500"],
      "DNSAddrs": [], "DNSPort": -1, "ServerMode": False, "Datacenter": "east",
      "NodeMeta": {"rack": "r1"}, "EncryptKey": "hidden"}),
    ({"bind_addr": "::1", "autopilot": {"server_stabilization_time": "1500ms"}},
     {"SerfAdvertiseAddrLAN": "tcp://[::1]:8301", "RPCBindAddr": "tcp://[::1]:8300",
      "AdvertiseAddrLAN": "::1", "AutopilotServerStabilizationTime": "1.5s",
      "AutopilotLastContactThreshold": "200ms"}),
])
def test_debug_config_fields(tree, expected):
    shown = debug_config(config_for(tree), "rev")
    assert {key: shown[key] for key in expected} == expected


def test_dev_agent_shape():
    shown = debug_config(config_for({}, dev=True), "rev")
    assert (shown["DevMode"], shown["ServerMode"], shown["Bootstrap"]) == (True, True, True)
    assert shown["Version"] and shown["Revision"] == "rev"


@pytest.mark.parametrize("host,port,text", [
    ("127.0.0.1", 80, "127.0.0.1:80"), ("::1", 8301, "[::1]:8301"),
    ("fe80::1", 1, "[fe80::1]:1"), ("consul.example", 8500, "consul.example:8500"),
])
def test_host_port_like_go(host, port, text):
    assert host_port(host, port) == text
