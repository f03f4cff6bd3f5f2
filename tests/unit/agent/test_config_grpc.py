"""ports.grpc / ports.grpc_tls, addresses.grpc and tls.grpc (the xDS listeners)."""

from __future__ import annotations

from proconsul.agent.config.builder import build, load_config


def test_grpc_is_off_by_default_and_8502_with_dev():
    config = build({"data_dir": "/d"})
    assert (config.grpc_port, config.grpc_tls_port) == (-1, -1)
    dev = load_config([], [], {}, dev=True)
    assert dev.grpc_port == 8502 and dev.grpc_tls_port == -1  # no certificate: TLS off
    flagged = load_config([], [], {"ports": {"grpc": 9502}}, dev=True)
    assert flagged.grpc_port == 9502


def test_grpc_listens_on_client_addr_unless_addresses_grpc_says_otherwise():
    config = build({"data_dir": "/d", "client_addr": "10.0.0.5", "ports": {"grpc": 8502}})
    assert config.grpc_addr == "10.0.0.5"
    config = build({"data_dir": "/d", "client_addr": "10.0.0.5", "ports": {"grpc": 8502},
                    "addresses": {"grpc": "127.0.0.9", "grpc_tls": "127.0.0.8"}})
    assert (config.grpc_addr, config.grpc_tls_addr) == ("127.0.0.9", "127.0.0.8")


def test_grpc_tls_takes_tls_grpc_over_tls_defaults_and_warns_without_a_certificate():
    config = build({"data_dir": "/d", "ports": {"grpc_tls": 8503}, "tls": {
        "defaults": {"cert_file": "/c.pem", "key_file": "/k.pem", "ca_file": "/ca.pem"},
        "grpc": {"cert_file": "/g.pem", "verify_incoming": True}}})
    assert config.grpc_tls_port == 8503
    tls = config.grpc_tls
    assert (tls.cert_file, tls.key_file, tls.ca_file, tls.verify_incoming) == (
        "/g.pem", "/k.pem", "/ca.pem", True)
    bare = build({"data_dir": "/d", "ports": {"grpc_tls": 8503}})
    assert bare.grpc_tls_port == -1
    assert any("gRPC TLS listener is disabled" in w for w in bare.warnings)
    # a server defaults to 8503 when it has a certificate, silently stays off otherwise
    server = build({"data_dir": "/d", "server": True})
    assert server.grpc_tls_port == -1 and not any("gRPC" in w for w in server.warnings)
    server = build({"data_dir": "/d", "server": True,
                    "tls": {"grpc": {"cert_file": "/g.pem", "key_file": "/k.pem"}}})
    assert server.grpc_tls_port == 8503


def test_a_connect_server_listens_for_peering_on_grpc_tls_without_a_certificate():
    peering = {"data_dir": "/d", "server": True, "connect": {"enabled": True},
               "ports": {"grpc_tls": 8503}}
    config = build(peering)
    assert config.grpc_tls_port == 8503 and not any("gRPC" in w for w in config.warnings)
    assert build({**peering, "connect": {"enabled": False}}).grpc_tls_port == -1
    assert build({**peering, "server": False}).grpc_tls_port == -1


def test_grpc_keys_are_supported():
    config = build({"data_dir": "/d", "ports": {"grpc": 8502}, "addresses": {"grpc": "x"},
                    "tls": {"grpc": {"tls_min_version": "TLSv1_3"}}})
    assert not any("not supported yet" in w for w in config.warnings)
