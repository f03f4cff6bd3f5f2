"""The start-up block: Consul's labels, aligned, with this agent's settings."""

from __future__ import annotations

import base64

from proconsul.agent.config.builder import load_config
from proconsul.agent.startup_summary import summary_lines


def test_client_agent_summary(tmp_path):
    key = base64.b64encode(bytes(32)).decode()
    config = load_config([], [], {
        "data_dir": str(tmp_path), "node_name": "web-1", "datacenter": "east",
        "client_addr": "127.0.0.1 10.0.0.1", "bind_addr": "10.0.0.1", "encrypt": key,
        "ports": {"http": 8600, "dns": -1}, "acl": {"default_policy": "deny"},
        "tls": {"internal_rpc": {"verify_outgoing": True, "verify_server_hostname": True,
                                 "ca_file": str(tmp_path / "ca.pem")},
                "grpc": {"verify_incoming": True, "tls_min_version": "TLSv1_3"}}})
    config.node_id = "0b7d2c53-8f3c-4b0e-9a53-4f1d2d9d6a01"
    config.finish()
    lines = summary_lines(config)
    assert lines[0] == "==> Starting Consul agent..."
    assert lines[-3:] == ["", "==> Log data will now stream in as it occurs:", ""]
    rows = dict(line.strip().split(": ", 1) for line in lines[1:-3])
    assert {line.index(":") for line in lines[1:-3]} == {22}  # labels right-aligned
    assert rows["Node ID"] == "'0b7d2c53-8f3c-4b0e-9a53-4f1d2d9d6a01'"
    assert rows["Node name"] == "'web-1'"
    assert rows["Datacenter"] == "'east' (Segment: '')"
    assert rows["Server"] == "false (Bootstrap: false)"
    assert rows["Client Addr"] == \
        "[127.0.0.1 10.0.0.1] (HTTP: 8600, HTTPS: -1, gRPC: -1, gRPC-TLS: -1, DNS: -1)"
    assert rows["Cluster Addr"] == "10.0.0.1 (LAN: 8301, WAN: 8302)"
    assert rows["Gossip Encryption"] == "true"
    assert rows["ACL Default Policy"] == "deny"
    assert rows["gRPC TLS"] == "Verify Incoming: true, Min Version: TLSv1_3"
    assert rows["Internal RPC TLS"] == ("Verify Incoming: false, Verify Outgoing: true "
                                        "(Verify Hostname: true), Min Version: TLSv1_2")
