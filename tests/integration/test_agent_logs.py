"""The agent's start-up summary and log lines, in its log file, as text and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.agent_process import free_port, next_loopback, start_agent, wait_until


def _file_lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_summary_and_lines_for_leadership_join_and_failed_reload(tmp_path):
    config = tmp_path / "extra.json"
    config.write_text("{}")
    agent = start_agent("-log-file", f"{tmp_path}/", "-config-file", str(config))
    try:
        out = "".join(agent.log)
        assert "==> Starting Consul agent...\n" in out
        for label in ("Version: '1.22.0'", "Node name: '", "Datacenter: 'dc1' (Segment: '<all>')",
                      "Server: true (Bootstrap: true)",
                      f"Client Addr: [{agent.host}] (HTTP: {agent.port}, HTTPS: -1, ",
                      f"Cluster Addr: {agent.host} (LAN: {agent.lan_port}, WAN: {agent.wan_port})",
                      "Gossip Encryption: false", "ACL Enabled: false",
                      "Internal RPC TLS: Verify Incoming: false, Verify Outgoing: false "
                      "(Verify Hostname: false), Min Version: TLSv1_2"):
            assert label in out, label
        log_path = tmp_path / "consul.log"
        for wanted in (" [INFO]  proconsul.raft.inmem: New leader elected: payload=",
                       "cluster leadership acquired", "EventMemberJoin",
                       " [INFO]  agent: Consul agent running!"):
            wait_until(lambda wanted=wanted: any(wanted in line
                                                 for line in _file_lines(log_path)),
                       what=wanted)

        assert agent.put(f"/v1/agent/join/{agent.lan_address}").status == 200
        wait_until(lambda: any("(LAN) joined: number_of_nodes=1" in line
                               for line in _file_lines(log_path)), what="a joined line")

        config.write_text("{not json")
        reply = agent.put("/v1/agent/reload")
        assert reply.status == 500
        wait_until(lambda: any("[ERROR] agent: Reload config failed: " in line
                               for line in _file_lines(log_path)), what="a reload error line")
    finally:
        agent.stop()


def test_json_logs_every_line_parses_and_no_summary(tmp_path):
    agent = start_agent("-log-file", str(tmp_path / "agent.log"), "-log-json")
    try:
        wait_until(lambda: any("cluster leadership acquired" in line
                               for line in _file_lines(tmp_path / "agent.log")),
                   what="leadership in the log file")
    finally:
        agent.stop()
    for lines in (_file_lines(tmp_path / "agent.log"), agent.log):  # the file and stdout
        assert lines
        for line in lines:
            body = json.loads(line)
            assert {"@level", "@message", "@module", "@timestamp"} <= set(body)
    assert "Starting Consul agent" not in "".join(agent.log)


def test_log_file_rotates_by_bytes_in_a_running_agent(tmp_path):
    agent = start_agent("-log-file", f"{tmp_path}/", "-log-rotate-bytes", "200",
                        "-log-rotate-max-files", "2", "-log-level", "debug")
    try:
        for i in range(30):
            agent.put(f"/v1/kv/rotate-{i}", "x")
        wait_until(lambda: len(os.listdir(tmp_path)) == 3, what="two rotated files")
    finally:
        agent.stop()
    names = sorted(os.listdir(tmp_path))
    assert "consul.log" in names
    assert all(n == "consul.log" or (n.startswith("consul-") and n.endswith(".log"))
               for n in names)
    assert len(names) <= 3


def test_syslog_without_a_socket_fails_in_one_line(tmp_path):
    if any(os.path.exists(p) for p in ("/dev/log", "/var/run/syslog")):
        pytest.skip("this machine has a syslog socket")
    result = subprocess.run([sys.executable, "-m", "proconsul", "agent", "-dev", "-syslog",
                             "-http-port", "-1", "-dns-port", "-1"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "==> Syslog setup failed: no syslog socket (/dev/log or /var/run/syslog)"]


def test_reload_changes_the_level_of_every_output(tmp_path):
    config = tmp_path / "level.json"
    config.write_text('{"log_level": "info"}')
    log_path = tmp_path / "agent.log"
    agent = start_agent("-log-file", str(log_path), "-config-file", str(config))
    try:
        assert agent.get("/v1/agent/self").status == 200
        assert not any("Request finished" in line for line in _file_lines(log_path))
        config.write_text('{"log_level": "debug"}')
        assert agent.put("/v1/agent/reload").status == 200
        wait_until(lambda: agent.get("/v1/agent/self").status == 200 and any(
            "Request finished: method=GET url=/v1/agent/self" in line
            for line in _file_lines(log_path)), what="a debug line after reload")
        assert any("Request finished" in line for line in agent.log)  # stdout too
    finally:
        agent.stop()


def test_leave_is_logged(tmp_path):
    log_path = tmp_path / "agent.log"
    agent = start_agent("-log-file", str(log_path))
    try:
        assert agent.put("/v1/agent/leave").status == 200
        agent.process.wait(20)
    finally:
        agent.stop()
    lines = _file_lines(log_path)
    leaving = [i for i, line in enumerate(lines) if "agent.gossip: (LAN) leaving" in line]
    left = [i for i, line in enumerate(lines) if "agent.gossip: (LAN) left" in line]
    assert leaving and left and leaving[0] < left[0]


def test_log_lines_go_to_stdout_as_consuls_do():
    host = next_loopback()
    process = subprocess.Popen(
        [sys.executable, "-m", "proconsul", "agent", "-dev", "-client", host, "-bind", host,
         "-http-port", str(free_port(host)), "-dns-port", "-1",
         "-serf-lan-port", str(free_port(host)), "-serf-wan-port", "-1",
         "-server-port", str(free_port(host))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # tools wait for this line on Consul's stdout
            if "New leader elected" in line:
                break
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
    assert "New leader elected" in line
    assert errors == ""
