"""Configs as Consul's own tooling writes them start real agents; new agent keys act."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.agent_process import (
    free_port,
    start_agent,
    start_agent_with_args,
    wait_until,
)

NODE_ID = "0d7c6e9b-3f1a-4c2e-9b8d-5a6f7e8d9c0b"

# What Consul's sdk/testutil (NewTestServerConfigT) writes for a default test server:
# encoding/json of TestServerConfig with its omitempty rules, fields in struct order
# (nil Segments marshals as null; the pointer to an empty TestAddressConfig as {}; the
# TestACLs struct with only its Tokens struct left as {"tokens":{}}; the connect map with
# sorted keys), "version" from `consul version`. HTTPS gets a port but no certificate.
TESTUTIL_JSON = (
    '{"node_name":"node-%(id)s","node_id":"%(id)s","performance":{"raft_multiplier":1},'
    '"bootstrap":true,"server":true,"data_dir":"%(data)s","segments":null,'
    '"disable_update_check":true,"log_level":"debug","bind_addr":"127.0.0.1","addresses":{},'
    '"ports":{"dns":%(dns)d,"http":%(http)d,"https":%(https)d,"serf_lan":%(serf_lan)d,'
    '"serf_wan":%(serf_wan)d,"server":%(server)d,"grpc":%(grpc)d,"grpc_tls":%(grpc_tls)d},'
    '"acl":{"tokens":{}},'
    '"connect":{"ca_config":{"cluster_id":"11111111-2222-3333-4444-555555555555"},'
    '"enabled":true},'
    '"skip_leave_on_interrupt":true,"peering":{"enabled":true},"version":"1.22.0"}'
)


def _refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def test_sdk_testutil_server_config_serves(tmp_path):
    host = "127.0.0.1"
    ports = {name: free_port(host) for name in ("dns", "http", "https", "serf_lan",
                                                 "serf_wan", "server", "grpc", "grpc_tls")}
    path = tmp_path / "config.json"
    path.write_text(TESTUTIL_JSON % {"id": NODE_ID, "data": tmp_path / "data", **ports})
    agent = start_agent_with_args(["-config-file", str(path)], host, ports["http"])
    try:
        def leader_with_index():  # testutil's WaitForLeader
            reply = agent.get("/v1/catalog/nodes")
            ok = reply.status == 200 and reply.headers.get("X-Consul-KnownLeader") == "true"
            return ok and reply.index >= 2
        wait_until(leader_with_index, what="a leader and the node registered")
        assert agent.put("/v1/kv/testutil", b"served").json() is True
        assert agent.get("/v1/kv/testutil?raw").body == b"served"
        self_info = agent.get("/v1/agent/self").json()["Config"]
        assert (self_info["NodeID"], self_info["NodeName"]) == (NODE_ID, f"node-{NODE_ID}")
        log = "".join(agent.log)
        assert "the HTTPS listener is disabled" in log
        assert _refused(host, ports["https"])
        assert log.count('config key "version" is accepted but not supported yet') == 1
        assert 'config key "peering.enabled"' not in log
        # gRPC (xDS) serves on ports.grpc; a Connect server opens grpc_tls without a configured
        # certificate too: it serves its own peering certificate there, as Consul's auto cert
        assert not _refused(host, ports["grpc"])
        assert not _refused(host, ports["grpc_tls"])
        assert 'config key "connect' not in log
        # testutil fixes the cluster ID through ca_config.cluster_id, as Consul allows.
        roots = wait_until(lambda: (r := agent.get("/v1/connect/ca/roots")).status == 200
                           and r.json()["Roots"] and r.json(), what="CA roots")
        assert roots["TrustDomain"] == "11111111-2222-3333-4444-555555555555.consul"
    finally:
        agent.stop()


@pytest.mark.parametrize("name", ["empty.json", "empty.hcl"])
def test_an_empty_config_file_starts_an_agent(tmp_path, name):
    path = tmp_path / name
    path.write_text("")
    agent = start_agent("-config-file", str(path))
    try:
        assert agent.get("/v1/status/leader").status == 200
    finally:
        agent.stop()


def test_unsupported_keys_warn_at_start_and_on_every_reload(tmp_path):
    path = tmp_path / "c.hcl"
    path.write_text('telemetry { statsite_address = "127.0.0.1:8125" }\n')
    agent = start_agent("-config-file", str(path))
    line = 'config key "telemetry.statsite_address" is accepted but not supported yet'
    try:
        assert "".join(agent.log).count(line) == 1
        agent.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "".join(agent.log).count(line) == 2, what="warning on SIGHUP")
        assert agent.put("/v1/agent/reload").status == 200
        wait_until(lambda: "".join(agent.log).count(line) == 3, what="warning on HTTP reload")
        path.write_text('http_config { block_endpoints = ["/v1/kv"] }\n')
        failed = agent.put("/v1/agent/reload")
        assert failed.status == 500 and "block_endpoints: not supported yet" in failed.text
    finally:
        agent.stop()


def test_bad_acl_default_policy_stops_start_up_with_a_clear_error(tmp_path):
    path = tmp_path / "acl.hcl"
    path.write_text('acl {\n  enabled = true\n  default_policy = "maybe"\n}\n')
    result = subprocess.run([sys.executable, "-m", "proconsul", "agent", "-dev",
                             "-config-file", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("==> Unsupported default ACL policy: maybe")
    assert "Traceback" not in result.stderr


def test_pid_file_is_written_at_start_and_removed_at_exit(tmp_path):
    pid_file = tmp_path / "agent.pid"
    agent = start_agent("-pid-file", str(pid_file))
    try:
        assert pid_file.read_text() == str(agent.process.pid)
    finally:
        agent.stop()
    assert agent.process.returncode == 0 and not pid_file.exists()


def test_auto_reload_config_applies_an_edited_file(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.json").write_text(json.dumps({"auto_reload_config": True,
                                             "services": [{"name": "first"}]}))
    agent = start_agent("-config-dir", str(conf))
    try:
        assert set(agent.get("/v1/agent/services").json()) == {"first"}
        (conf / "b.hcl").write_text('service { name = "second" }\n')
        wait_until(lambda: set(agent.get("/v1/agent/services").json()) == {"first", "second"},
                   what="the new file's service")
        (conf / "b.hcl").write_text('service { name = "third" }\n')
        wait_until(lambda: set(agent.get("/v1/agent/services").json()) == {"first", "third"},
                   what="the edited file's service")
    finally:
        agent.stop()


def _open(agent) -> socket.socket:
    sock = socket.create_connection((agent.host, agent.port), timeout=10)
    return sock


def _status(sock: socket.socket) -> int:
    sock.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_http_max_conns_per_client_answers_429_beyond_the_limit(tmp_path):
    path = tmp_path / "limits.hcl"
    path.write_text("limits { http_max_conns_per_client = 2 }\n")
    agent = start_agent("-config-file", str(path))
    held = [_open(agent), _open(agent)]
    try:
        assert [_status(sock) for sock in held] == [200, 200]
        with _open(agent) as third:
            assert _status(third) == 429
            assert third.recv(4096) == b""  # then closed
        held.pop().close()
        wait_until(lambda: agent.get("/v1/status/leader").status == 200,
                   what="a free connection slot")
    finally:
        for sock in held:
            sock.close()
        agent.stop()


def test_query_times_bound_blocking_queries():
    # far apart, so a loaded box cannot blur which bound a query met
    agent = start_agent("-default-query-time", "1s", "-max-query-time", "4s")
    try:
        assert agent.put("/v1/kv/k", b"v").json() is True
        index = agent.get("/v1/kv/k").index
        for query, low, high in (("", 1.0, 3.5), ("&wait=30s", 4.0, 15.0)):
            start = time.monotonic()
            reply = agent.get(f"/v1/kv/k?index={index}{query}")
            took = time.monotonic() - start
            assert reply.status == 200 and low <= took <= high, (query, took)
    finally:
        agent.stop()


def test_serf_binds_and_protocol(tmp_path):
    agent = start_agent("-serf-lan-bind", "127.0.0.1", "-serf-wan-bind", "127.0.0.1",
                        "-protocol", "3")
    try:
        for port in (agent.lan_port, agent.wan_port):  # gossip listens on TCP too
            assert not _refused("127.0.0.1", port)
            assert _refused(agent.host, port)
        members = agent.get("/v1/agent/members").json()
        assert members[0]["Tags"]["vsn"] == "3"
    finally:
        agent.stop()


@pytest.mark.skipif(not os.path.exists("/etc/machine-id"), reason="no host ID on this machine")
def test_host_node_id_is_used_when_not_disabled():
    first = start_agent("-disable-host-node-id=false")
    try:
        node_id = first.get("/v1/agent/self").json()["Config"]["NodeID"]
    finally:
        first.stop()
    second = start_agent("-disable-host-node-id=false")
    try:
        assert second.get("/v1/agent/self").json()["Config"]["NodeID"] == node_id
    finally:
        second.stop()
    third = start_agent()
    try:
        assert third.get("/v1/agent/self").json()["Config"]["NodeID"] != node_id
    finally:
        third.stop()


def _alive(server, node: str) -> bool:
    return any(m["Name"] == node and m["Status"] == 1
               for m in server.get("/v1/agent/members").json())


@pytest.mark.parametrize("rejoin", [True, False])
def test_rejoin_after_a_graceful_leave_only_with_rejoin(tmp_path, rejoin):
    server = start_agent()
    data = str(tmp_path / "client")
    client_args = ("-data-dir", data, "-node", "client-a")
    client = start_agent(*client_args, "-join", server.lan_address, dev=False)
    try:
        wait_until(lambda: _alive(server, "client-a"), what="the client joined")
        client.process.send_signal(signal.SIGINT)  # a client leaves on interrupt
        client.process.wait(20)
        wait_until(lambda: not _alive(server, "client-a"), what="the client left")
        client = start_agent(*client_args, *(["-rejoin"] if rejoin else []), dev=False)
        if rejoin:
            wait_until(lambda: _alive(server, "client-a"), what="the client rejoined")
        else:
            time.sleep(2)  # nothing to await: the absence of a join
            assert not _alive(server, "client-a")
    finally:
        client.stop()
        server.stop()
