"""Telemetry: Consul's metric names in Prometheus text, the statsd / DogStatsD sinks,
metrics_prefix and prefix_filter, against real agents."""

from __future__ import annotations

import http.client
import json
import socket

import dns.message
import dns.query
import dns.reversename
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.agent_process import start_agent, wait_until

# Consul's names (Prometheus spelling) for what a server and a client agent did below.
EXPECTED = {
    "consul_raft_apply", "consul_raft_commitTime", "consul_raft_fsm_apply",
    "consul_raft_state_leader", "consul_fsm_kvs",
    "consul_fsm_register", "consul_kvs_apply", "consul_txn_apply", "consul_txn_read",
    "consul_catalog_register", "consul_catalog_deregister", "consul_session_apply",
    "consul_rpc_request", "consul_rpc_query", "consul_rpc_queries_blocking",
    "consul_client_rpc", "consul_serf_member_join", "consul_serf_events",
    "consul_memberlist_udp_sent", "consul_memberlist_udp_received",
    "consul_memberlist_tcp_accept", "consul_memberlist_tcp_connect",
    "consul_autopilot_healthy", "consul_autopilot_failure_tolerance",
    "consul_leader_barrier", "consul_leader_reconcile", "consul_leader_reconcileMember",
    "consul_api_http", "consul_dns_domain_query", "consul_dns_ptr_query",
    "consul_runtime_num_goroutines", "consul_runtime_alloc_bytes",
    "consul_catalog_service_query", "consul_health_service_query",
    "consul_health_service_not_found",
}


def families(agent) -> dict[str, object]:
    reply = agent.get("/v1/agent/metrics?format=prometheus")
    assert reply.status == 200
    return {family.name: family for family in text_string_to_metric_families(reply.text)}


def test_prometheus_text_parses_and_carries_consuls_names(tmp_path):
    server = start_agent("-hcl", "telemetry { disable_hostname = true }")
    client = start_agent("-data-dir", str(tmp_path / "client"), "-node", "metrics-client",
                         "-join", server.lan_address, "-hcl",
                         "telemetry { disable_hostname = true }", dev=False)
    try:
        wait_until(lambda: client.get("/v1/catalog/nodes").status == 200
                   and len(client.get("/v1/catalog/nodes").json()) == 2, what="client synced")
        assert client.put("/v1/kv/m/a", "1").status == 200
        index = client.get("/v1/kv/m/a").index
        assert client.get(f"/v1/kv/m/a?index={index}&wait=10ms").status == 200
        txn = [{"KV": {"Verb": "set", "Key": "m/b", "Value": "Mg=="}}]
        assert client.put("/v1/txn", txn).status == 200
        assert client.put("/v1/txn", [{"KV": {"Verb": "get", "Key": "m/b"}}]).status == 200
        assert client.put("/v1/catalog/register", {"Node": "ext", "Address": "10.1.1.1"}
                          ).status == 200
        assert client.put("/v1/catalog/deregister", {"Node": "ext"}).status == 200
        assert client.put("/v1/session/create", {"TTL": "30s"}).status == 200
        assert client.put("/v1/event/fire/deploy").status == 200
        assert client.get("/v1/catalog/service/consul").status == 200
        assert client.get("/v1/health/service/nothing-here").json() == []
        for name in ("metrics-client.node.consul.",
                     dns.reversename.from_address(server.host).to_text()):
            query = dns.message.make_query(name, "PTR" if "arpa" in name else "A")
            dns.query.udp(query, server.host, port=server.dns_port, timeout=5)
        wait_until(lambda: "consul_autopilot_healthy" in families(server), what="autopilot")
        names = set(families(server)) | set(families(client))
        assert EXPECTED - names == set()
        both = families(server)
        assert both["consul_kvs_apply"].type == "summary"
        assert both["consul_raft_apply"].type == "counter"
        assert both["consul_autopilot_healthy"].samples[0].value == 1
        http = {s.labels.get("path") for s in families(client)["consul_api_http"].samples}
        assert "v1_kv_" in http and "v1_txn" in http
    finally:
        client.stop()
        server.stop()


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def _lines_until(sock, predicate) -> list[str]:
    seen: list[str] = []
    while not any(predicate(line) for line in seen):
        seen += sock.recv(65536).decode().splitlines()
    return seen


def test_statsd_sink_sends_consuls_lines(udp):
    port = udp.getsockname()[1]
    agent = start_agent("-hcl", f'telemetry {{ statsd_address = "127.0.0.1:{port}" '
                                "disable_hostname = true }")
    try:
        assert agent.put("/v1/kv/s", "1").status == 200
        lines = _lines_until(udp, lambda line: line.startswith("consul.kvs.apply:"))
        apply = next(line for line in lines if line.startswith("consul.kvs.apply:"))
        assert apply.endswith("|ms")
        assert any(line.startswith("consul.runtime.alloc_bytes:") and line.endswith("|g")
                   for line in _lines_until(udp, lambda line: "runtime.alloc_bytes" in line))
    finally:
        agent.stop()


def test_dogstatsd_sink_tags_labels(udp):
    port = udp.getsockname()[1]
    agent = start_agent("-hcl", f'telemetry {{ dogstatsd_addr = "127.0.0.1:{port}" '
                                'dogstatsd_tags = ["env:ci"] }')
    try:
        assert agent.put("/v1/kv/d", "1").status == 200
        lines = _lines_until(udp, lambda line: line.startswith("consul.api.http:")
                             and "method:PUT" in line)
        line = next(line for line in lines if line.startswith("consul.api.http:")
                    and "method:PUT" in line)
        assert line.endswith("|#env:ci,method:PUT,path:v1_kv_")
    finally:
        agent.stop()


def test_metrics_prefix_and_prefix_filter():
    agent = start_agent("-hcl", 'telemetry { metrics_prefix = "acme" '
                                'prefix_filter = ["-acme.http", "+acme.http.GET", '
                                '"-acme.runtime.total"] disable_hostname = true }')
    try:
        assert agent.put("/v1/kv/p", "1").status == 200
        assert agent.get("/v1/kv/p").status == 200
        names = set(families(agent))
    finally:
        agent.stop()
    assert {"acme_kvs_apply", "acme_api_http", "acme_runtime_alloc_bytes"} <= names
    assert not any(name.startswith("consul_") for name in names)
    assert "acme_http_GET_v1_kv__" in names and "acme_http_PUT_v1_kv__" not in names
    assert "acme_runtime_total_gc_runs" not in names


def test_bad_statsd_address_stops_start_up():
    with pytest.raises(RuntimeError, match="telemetry: invalid address 'nowhere'"):
        start_agent("-hcl", 'telemetry { statsd_address = "nowhere" }')


def test_metrics_stream_sends_each_finished_interval(agent):
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=30)
    try:
        conn.request("GET", "/v1/agent/metrics/stream")
        reply = conn.getresponse()
        assert reply.status == 200
        summary = json.loads(reply.readline())
    finally:
        conn.close()
    assert set(summary) == {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
    assert any(".runtime." in gauge["Name"] for gauge in summary["Gauges"])


def test_reload_applies_telemetry(udp, tmp_path):
    conf = tmp_path / "telemetry.hcl"
    conf.write_text("telemetry { disable_hostname = true }\n")
    agent = start_agent("-config-file", str(conf))
    try:
        port = udp.getsockname()[1]
        conf.write_text(f'telemetry {{ statsd_address = "127.0.0.1:{port}" '
                        'disable_hostname = true prefix_filter = ["-consul.runtime"] }\n')
        assert agent.put("/v1/agent/reload").status == 200
        assert agent.put("/v1/kv/r", "1").status == 200
        lines = _lines_until(udp, lambda line: line.startswith("consul.kvs.apply:"))
        assert not any(line.startswith("consul.runtime.") for line in lines)
        conf.write_text('telemetry { statsd_address = "nowhere" }\n')
        failed = agent.put("/v1/agent/reload")
        assert failed.status == 500 and "telemetry: invalid address 'nowhere'" in failed.text
        assert agent.put("/v1/kv/r", "2").status == 200  # the sink in force still sends
        _lines_until(udp, lambda line: line.startswith("consul.kvs.apply:"))
    finally:
        agent.stop()
