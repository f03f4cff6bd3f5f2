"""A real server's port takes native TLS dispatched by ALPN, as servers of other
DCs send it through mesh gateways (dialled here directly: a gateway only forwards
the bytes), beside the plain and type-byte TLS protocols it already served."""

from __future__ import annotations

import asyncio
import io
import ssl

import pytest

from proconsul.rpc import snapshot_stream, wanfed
from proconsul.rpc.codec import ClientCodec
from proconsul.rpc.errors import RPCConnectionError, RPCDialError
from proconsul.rpc.gateway import GatewayPool, dial_via_gateway
from proconsul.rpc.pool import MuxPool
from proconsul.structs.snapshot import SNAPSHOT_SAVE, SnapshotRequest
from tests.support.agent_process import ServerSpec, start_server, wait_until
from tests.support.certs import write_test_pki


def tls_hcl(out) -> tuple[str, str]:
    pem = out / "server.pem"
    return ("-hcl", f'''tls {{
  defaults {{ ca_file = "{out / 'ca.pem'}" cert_file = "{pem}" key_file = "{pem}" }}
}}''')


def context(out, with_cert: bool = True):
    def make() -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(out / "ca.pem"))
        if with_cert:
            ctx.load_cert_chain(str(out / "client.pem"))
        return ctx

    return make


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("rpc-alpn")
    out = write_test_pki(base, "server.dc1.consul")
    spec = ServerSpec(str(base / "s0"), node="s0")
    proc = start_server(spec, "-bootstrap-expect", "1", "-raft-multiplier", "1",
                        *tls_hcl(out))
    try:
        wait_until(lambda: proc.get("/v1/status/leader").json(), 30, "a leader")
        yield out, f"{spec.host}:{spec.server_port}", proc
    finally:
        proc.stop()


async def rpc_single(address: str, out) -> str:
    conn = await dial_via_gateway(address, context(out), datacenter="dc1",
                                  alpn="consul/rpc-single")
    try:
        return await ClientCodec(conn).call("Status.Leader", {})
    finally:
        await conn.close()


async def rpc_multi(address: str, out) -> list[str]:
    pool = GatewayPool(context(out))
    try:
        return await asyncio.gather(*(pool.call(address, "dc1", "Status.Leader", {}, str,
                                                timeout=5, node="s0") for _ in range(8)))
    finally:
        await pool.close()


async def snapshot(address: str, out) -> bytes:
    conn = await dial_via_gateway(address, context(out), datacenter="dc1",
                                  alpn="consul/rpc-snapshot", node="s0")
    archive = io.BytesIO()
    try:
        await snapshot_stream.call(conn, SnapshotRequest(Datacenter="dc1", Op=SNAPSHOT_SAVE),
                                   None, archive)
    finally:
        await conn.close()
    return archive.getvalue()


async def plain_leader(address: str) -> str:
    pool = MuxPool(dial_timeout=5)
    try:
        return await pool.call(address, "Status.Leader", {}, str, timeout=5)
    finally:
        await pool.close()


async def refused(address: str, out, **kw) -> bool:
    try:
        conn = await dial_via_gateway(address, context(out, kw.pop("with_cert", True)),
                                      datacenter="dc1", **kw)
        await ClientCodec(conn).call("Status.Leader", {})
    except (RPCDialError, RPCConnectionError):
        return True
    return False


async def gossip_refused(address: str, out) -> bool:
    conn = await dial_via_gateway(address, context(out), datacenter="dc1",
                                  alpn="consul/wan-gossip/packet")
    try:
        await conn.write(wanfed.frame(b"ping"))
        return await conn.read() == b""
    finally:
        await conn.close()


def test_rpc_single_multi_and_snapshot_over_alpn(server):
    out, address, _ = server
    leader = asyncio.run(rpc_single(address, out))
    assert leader.endswith(address.rsplit(":", 1)[1])
    assert asyncio.run(rpc_multi(address, out)) == [leader] * 8
    archive = asyncio.run(snapshot(address, out))
    assert archive[:2] == b"\x1f\x8b"  # a gzipped snapshot archive
    assert asyncio.run(plain_leader(address)) == leader  # byte 0 still served


def test_bad_sni_unknown_alpn_and_missing_cert_are_refused_with_a_log_line(server):
    out, address, proc = server
    assert asyncio.run(refused(address, out, alpn="consul/rpc-single", node="other"))
    wait_until(lambda: any("refusing native TLS connection for SNI 'other.server.dc1.consul'"
                           in line for line in proc.log), 5, "the SNI refusal logged")
    assert asyncio.run(refused(address, out, alpn="consul/rpc-single", with_cert=False))
    wait_until(lambda: any("TLS handshake failed" in line for line in proc.log), 5,
               "the missing client certificate logged")
    assert asyncio.run(gossip_refused(address, out))
    wait_until(lambda: any("WAN federation via mesh gateways is not enabled" in line
                           for line in proc.log), 5, "the gossip refusal logged")
