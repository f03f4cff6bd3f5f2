"""The HTTPS listener (ports.https with tls.https / tls.defaults) on a real agent."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest

from proconsul.cli.tls_commands import CA_CREATE, CERT_CREATE
from tests.support.agent_process import free_port, next_loopback, start_agent
from tests.support.certs import write_test_pki
from tests.support.cli_process import run_cli


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    host = next_loopback()
    return host, write_test_pki(tmp_path_factory.mktemp("pki"), "server.dc1.consul", (host,))


def start_https_agent(pki, **https_block):
    host, out = pki
    port = free_port(host)
    block = {"ca_file": str(out / "ca.pem"), "cert_file": str(out / "server.pem"),
             "key_file": str(out / "server.pem"), **https_block}
    hcl = "tls { https { " + " ".join(f"{k} = {json.dumps(v)}" for k, v in block.items()) + " } }"
    agent = start_agent("-https-port", str(port), "-hcl", hcl, host=host)
    return agent, port


def client_context(pki, with_cert: bool) -> ssl.SSLContext:
    _, out = pki
    context = ssl.create_default_context(cafile=str(out / "ca.pem"))
    context.set_alpn_protocols(["h2", "http/1.1"])
    if with_cert:
        context.load_cert_chain(str(out / "client.pem"))
    return context


def https_get(host: str, port: int, path: str, context: ssl.SSLContext):
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=10)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read(), conn.sock.selected_alpn_protocol()
    finally:
        conn.close()


def test_https_serves_the_same_api_as_http(pki):
    agent, port = start_https_agent(pki)
    try:
        assert agent.put("/v1/kv/over-http", b"plain").json() is True
        status, body, alpn = https_get(agent.host, port, "/v1/kv/over-http?raw",
                                       client_context(pki, with_cert=False))
        assert (status, body, alpn) == (200, b"plain", "http/1.1")
        assert agent.get("/v1/agent/self").json()["DebugConfig"]["HTTPSPort"] == port
        status, body, _ = https_get(agent.host, port, "/v1/no/such/path",
                                    client_context(pki, with_cert=False))
        assert status == 404
        # The CLI talks HTTPS as Consul's does: an https:// address and the CA.
        _, out = pki
        put = run_cli(None, "kv", "put", "over-https", "secret",
                      CONSUL_HTTP_ADDR=f"https://{agent.host}:{port}",
                      CONSUL_CACERT=str(out / "ca.pem"))
        assert put.returncode == 0, put.stderr
        assert agent.get("/v1/kv/over-https?raw").body == b"secret"
    finally:
        agent.stop()


def test_verify_incoming_requires_a_client_certificate_from_the_ca(pki):
    agent, port = start_https_agent(pki, verify_incoming=True)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            https_get(agent.host, port, "/v1/agent/self", client_context(pki, with_cert=False))
        status, _, _ = https_get(agent.host, port, "/v1/agent/self",
                                 client_context(pki, with_cert=True))
        assert status == 200
        _, out = pki
        refused = run_cli(None, "members", CONSUL_HTTP_ADDR=f"https://{agent.host}:{port}",
                          CONSUL_CACERT=str(out / "ca.pem"))
        assert refused.returncode != 0
        members = run_cli(None, "members", CONSUL_HTTP_ADDR=f"https://{agent.host}:{port}",
                          CONSUL_CACERT=str(out / "ca.pem"),
                          CONSUL_CLIENT_CERT=str(out / "client.pem"))
        assert members.returncode == 0 and "alive" in members.stdout.decode()
    finally:
        agent.stop()


def test_minimum_tls_version_is_enforced(pki):
    agent, port = start_https_agent(pki, tls_min_version="TLSv1_3")
    try:
        old = client_context(pki, with_cert=False)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https_get(agent.host, port, "/v1/agent/self", old)
        status, _, _ = https_get(agent.host, port, "/v1/agent/self",
                                 client_context(pki, with_cert=False))
        assert status == 200
    finally:
        agent.stop()


def test_unreadable_certificate_stops_the_agent_with_one_line(tmp_path):
    host = next_loopback()
    missing = tmp_path / "missing.pem"
    result = run_cli(None, "agent", "-dev", "-client", host, "-bind", host,
                     "-http-port", str(free_port(host)), "-https-port", str(free_port(host)),
                     "-dns-port", "-1", "-serf-lan-port", str(free_port(host)),
                     "-serf-wan-port", str(free_port(host)), "-server-port", str(free_port(host)),
                     "-hcl", f'tls {{ https {{ cert_file = "{missing}" key_file = "{missing}" }} }}')
    assert result.returncode == 1
    assert f"cannot load the HTTPS certificate {missing}" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_certificates_from_proconsul_tls_secure_an_agent(tmp_path, monkeypatch):
    # Consul's built-in CA guide: tls ca create, tls cert create -server / -cli.
    monkeypatch.chdir(tmp_path)
    assert CA_CREATE([]) == 0 and CERT_CREATE(["-server"]) == 0 and CERT_CREATE(["-cli"]) == 0
    host = next_loopback()
    port = free_port(host)
    hcl = f'''tls {{ defaults {{ ca_file = "{tmp_path}/consul-agent-ca.pem"
      cert_file = "{tmp_path}/dc1-server-consul-0.pem"
      key_file = "{tmp_path}/dc1-server-consul-0-key.pem" }}
      https {{ verify_incoming = true }} }}'''
    agent = start_agent("-https-port", str(port), "-hcl", hcl, host=host)
    try:
        members = run_cli(None, "members", CONSUL_HTTP_ADDR=f"https://{host}:{port}",
                          CONSUL_CACERT=str(tmp_path / "consul-agent-ca.pem"),
                          CONSUL_CLIENT_CERT=str(tmp_path / "dc1-cli-consul-0.pem"),
                          CONSUL_CLIENT_KEY=str(tmp_path / "dc1-cli-consul-0-key.pem"),
                          CONSUL_TLS_SERVER_NAME="server.dc1.consul")
        assert members.returncode == 0, members.stderr
        assert "alive" in members.stdout.decode()
    finally:
        agent.stop()


def test_cli_reads_a_ca_directory_and_names_a_missing_ca_file(pki, tmp_path):
    agent, port = start_https_agent(pki)
    try:
        _, out = pki
        cas = tmp_path / "cas"
        cas.mkdir()
        (cas / "agent-ca.pem").write_bytes((out / "ca.pem").read_bytes())
        address = f"https://{agent.host}:{port}"
        listed = run_cli(None, "members", CONSUL_HTTP_ADDR=address, CONSUL_CAPATH=str(cas))
        assert listed.returncode == 0, listed.stderr
        missing = run_cli(None, "members", CONSUL_HTTP_ADDR=address,
                          CONSUL_CACERT=str(tmp_path / "nope.pem"))
        assert missing.returncode == 1
        assert missing.stderr.decode() == ("Error retrieving members: Error loading CA file "
                                           f"{tmp_path / 'nope.pem'}: No such file or directory\n")
    finally:
        agent.stop()
