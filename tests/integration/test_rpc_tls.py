"""RPC over TLS: three servers and a client agent with tls.internal_rpc as Consul's
"secure agent communication" guide sets it up (verify_incoming, verify_outgoing,
verify_server_hostname), so Raft, forwarding and client RPC all run inside TLS."""

from __future__ import annotations

import asyncio
import http.client
import ssl

import pytest

from proconsul.rpc.pool import MuxPool
from tests.support.agent_process import (
    ServerSpec,
    free_port,
    retry_joins,
    start_agent,
    start_server,
    wait_until,
)
from tests.support.certs import write_test_pki
from tests.support.cli_process import run_cli

FAST = ("-raft-multiplier", "1", "-retry-interval", "1s")


def tls_hcl(out, leaf: str, https: bool = False) -> tuple[str, str]:
    pem = out / f"{leaf}.pem"
    https_block = "https { verify_incoming = false }" if https else ""
    return ("-hcl", f'''tls {{
  defaults {{ ca_file = "{out / 'ca.pem'}" cert_file = "{pem}" key_file = "{pem}"
             verify_incoming = true verify_outgoing = true }}
  internal_rpc {{ verify_server_hostname = true }}
  {https_block}
}}''')


async def ping(address: str, context: ssl.SSLContext | None, name: str) -> bool:
    pool = MuxPool(tls=context, server_name=name, dial_timeout=5)
    try:
        return await pool.call(address, "Status.Ping", None, bool, timeout=5) is not None
    except Exception:  # noqa: BLE001 - any failure to get an answer is a refusal here
        return False
    finally:
        await pool.close()


def client_tls(out, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(out / "ca.pem"))
    if with_cert:
        context.load_cert_chain(str(out / "client.pem"))
    return context


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("rpc-tls")
    out = write_test_pki(base, "server.dc1.consul")
    specs = [ServerSpec(str(base / f"s{i}"), node=f"s{i}") for i in range(3)]
    joins = retry_joins(specs)
    for spec in specs:
        spec.extra = ("-bootstrap-expect", "3", *FAST, *joins, *tls_hcl(out, "server"))
    procs = [start_server(spec) for spec in specs]
    try:
        client = start_agent("-data-dir", str(base / "client"), "-retry-join",
                             specs[0].lan_address, *FAST, *tls_hcl(out, "client"), dev=False)
        procs.append(client)
        yield out, specs, procs
    finally:
        for proc in procs:
            proc.stop()


def test_raft_and_client_rpc_run_over_tls(cluster):
    _, specs, procs = cluster
    client = procs[-1]
    def leader() -> str:
        reply = client.get("/v1/status/leader")
        return reply.json() if reply.status == 200 else ""

    wait_until(leader, 30, "a leader elected over TLS, seen through the client")
    assert client.put("/v1/kv/secure", b"inside TLS").json() is True
    for server in procs[:3]:  # replicated to every server by Raft over TLS
        wait_until(lambda s=server: s.get("/v1/kv/secure?raw&stale").body == b"inside TLS",
                   10, "the write replicated")
    members = run_cli(client, "catalog", "nodes")
    assert members.returncode == 0 and b"s0" in members.stdout


def test_server_port_refuses_plaintext_and_unverified_clients(cluster):
    out, specs, _ = cluster
    address = f"{specs[0].host}:{specs[0].server_port}"
    name = "server.dc1.consul"
    assert asyncio.run(ping(address, client_tls(out, with_cert=True), name))
    assert not asyncio.run(ping(address, None, name))  # plaintext
    assert not asyncio.run(ping(address, client_tls(out, with_cert=False), name))
    # verify_server_hostname: a certificate for dc1's servers is not one for dc2's.
    assert not asyncio.run(ping(address, client_tls(out, with_cert=True), "server.dc2.consul"))


def copy_pki(source, target) -> None:
    for name in ("ca.pem", "server.pem", "client.pem"):
        (target / name).write_bytes((source / name).read_bytes())


def https_status(host: str, port: int, pki) -> int:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.check_hostname = False  # the certificate names server.dc1.consul, not the IP
    conn = http.client.HTTPSConnection(host, port, timeout=10, context=context)
    try:
        conn.request("GET", "/v1/status/leader")
        return conn.getresponse().status
    finally:
        conn.close()


def test_reload_rotates_certificates_to_a_new_ca(tmp_path):
    # Every agent reads its files from tmp_path/live; rotating means overwriting them and
    # running `reload`, as with Consul.
    old, new, live = (tmp_path / "old", tmp_path / "new", tmp_path / "live")
    for directory in (old, new, live):
        directory.mkdir()
    write_test_pki(old, "server.dc1.consul")
    write_test_pki(new, "server.dc1.consul")
    copy_pki(old, live)
    spec = ServerSpec(str(tmp_path / "s0"), node="s0")
    https_port = free_port(spec.host)
    spec.extra = ("-bootstrap", *FAST, *tls_hcl(live, "server", https=True),
                  "-https-port", str(https_port))
    server = start_server(spec)
    client = None
    policy_file = tmp_path / "policy.json"
    policy_file.write_text("{}")
    try:
        client = start_agent("-data-dir", str(tmp_path / "client"), "-retry-join",
                             spec.lan_address, *FAST, *tls_hcl(live, "client"),
                             "-config-file", str(policy_file), dev=False)
        wait_until(lambda: client.put("/v1/kv/before", b"1").status == 200, 30,
                   "a write through the client under the old CA")

        copy_pki(new, live)
        for agent in (server, client):
            reply = agent.put("/v1/agent/reload")
            assert reply.status == 200 and "X-Proconsul-Restart-Required" not in reply.headers

        # HTTPS hands new handshakes the new certificate at once.
        assert https_status(spec.host, https_port, new) == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            https_status(spec.host, https_port, old)
        # The server port takes new-CA clients only; a restarted server makes the client
        # dial again, which works only because it reloaded its own files too.
        address = f"{spec.host}:{spec.server_port}"
        name = "server.dc1.consul"
        assert asyncio.run(ping(address, client_tls(new, with_cert=True), name))
        assert not asyncio.run(ping(address, client_tls(old, with_cert=True), name))
        server.stop()
        server = start_server(spec)
        wait_until(lambda: client.put("/v1/kv/after", b"2").status == 200, 30,
                   "a write through the client under the new CA")

        # A file that does not load fails the reload and changes nothing.
        (live / "server.pem").write_text("not a certificate")
        reply = server.put("/v1/agent/reload")
        assert reply.status == 500 and "cannot load the HTTPS certificate" in reply.text
        assert https_status(spec.host, https_port, new) == 200

        # A change of TLS policy is not applied by reload: it asks for a restart.
        policy_file.write_text('{"tls": {"internal_rpc": {"tls_min_version": "TLSv1_3"}}}')
        reply = client.put("/v1/agent/reload")
        assert reply.status == 200 and reply.headers["X-Proconsul-Restart-Required"] == "tls"
    finally:
        server.stop()
        if client is not None:
            client.stop()
