"""``addresses.http = "unix:///path"``: the API on a Unix socket, with ``unix_sockets``."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys

from tests.support.agent_process import next_loopback, start_agent


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def unix_call(path: str, method: str, url: str, body: bytes | None = None):
    conn = UnixHTTPConnection(path)
    try:
        conn.request(method, url, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_api_on_a_unix_socket_with_mode_and_a_tcp_listener_beside(tmp_path):
    sock = tmp_path / "http.sock"
    sock.write_text("stale")  # left from an earlier run: replaced, as Consul does
    uid, gid = os.getuid(), os.getgid()
    host = next_loopback()
    config = tmp_path / "unix.json"
    config.write_text(json.dumps({"unix_sockets": {"mode": "0600", "user": str(uid),
                                                   "group": str(gid)},
                                  "addresses": {"http": f"unix://{sock} {host}"}}))
    agent = start_agent("-config-file", str(config), host=host)
    try:
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert unix_call(str(sock), "PUT", "/v1/kv/over-unix", b"v") == (200, b"true")
        status, body = unix_call(str(sock), "GET", "/v1/kv/over-unix?raw")
        assert (status, body) == (200, b"v")
        assert unix_call(str(sock), "GET", "/v1/agent/self")[0] == 200
        assert agent.get("/v1/kv/over-unix?raw").body == b"v"  # the TCP listener too
        assert any(f"HTTP API listening on unix://{sock}" in line for line in agent.log)
    finally:
        agent.stop()
    assert not sock.exists()


def test_dns_address_cannot_be_a_unix_socket(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "proconsul", "agent", "-dev", "-hcl",
         f'addresses {{ dns = "unix://{tmp_path}/dns.sock" }}'],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr == "==> DNS address cannot be a unix socket\n"


def test_bad_unix_socket_mode_is_one_clear_error(tmp_path):
    sock = tmp_path / "http.sock"
    result = subprocess.run(
        [sys.executable, "-m", "proconsul", "agent", "-dev", "-dns-port", "-1",
         "-serf-lan-port", "0", "-serf-wan-port", "-1", "-server-port", "0", "-hcl",
         f'addresses {{ http = "unix://{sock}" }}', "-hcl", 'unix_sockets { mode = "rw" }'],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.endswith("==> Failed setting up socket: invalid mode specified: rw\n")
    assert not sock.exists()


def test_http_listens_on_every_client_address():
    first, second = next_loopback(), next_loopback()
    agent = start_agent("-client", f"{first} {second}", host=first)
    try:
        assert agent.get("/v1/agent/self").status == 200
        conn = http.client.HTTPConnection(second, agent.port, timeout=10)
        try:
            conn.request("GET", "/v1/agent/self")
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    finally:
        agent.stop()
