"""Forwarding to another DC through a gateway address: native TLS with the SNI
of that DC's servers and ALPN consul/rpc-multi, relayed byte for byte by a TCP
proxy standing in for the mesh gateway (which never terminates TLS)."""

from __future__ import annotations

import random
import ssl

import pytest

from proconsul.rpc.codec import RPCServer
from proconsul.rpc.gateway import GatewayPool
from proconsul.rpc.mux import ConnType, PortMux
from proconsul.rpc.pool import FakePool
from proconsul.server.forward import Forwarder
from proconsul.structs.errors import ConsulError
from proconsul.structs.kv import DirEntry
from proconsul.structs.requests import IndexedDirEntries, KeyRequest
from tests.support.certs import write_test_pki
from tests.support.fault_proxy import FaultProxy

HOST = "127.0.0.1"


class Consensus:
    def is_leader(self) -> bool:
        return True

    def leader_address(self) -> str | None:
        return None


@pytest.fixture
async def dc2_server(tmp_path):
    """A dc2 server port (native TLS for server.dc2.consul) behind a gateway relay."""
    pki = write_test_pki(tmp_path, "server.dc2.consul")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem")
    context.load_verify_locations(pki / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    rpc = RPCServer()
    seen: list[KeyRequest] = []

    async def kv_get(request: KeyRequest) -> IndexedDirEntries:
        seen.append(request)
        return IndexedDirEntries(Index=9, Entries=[DirEntry(Key=request.Key, Value=b"dc2")])

    rpc.register("KVS.Get", kv_get, KeyRequest)
    mux = PortMux(tls=PortMux.alpn_context(context),
                  server_names=frozenset({"server.dc2.consul"}))
    mux.handle(ConnType.CONSUL, rpc.serve_conn)
    _, port = await mux.start(HOST)
    gateway = FaultProxy((HOST, port))
    yield pki, gateway, mux, seen
    gateway.close()
    await mux.close()


def client_context(pki):
    def make() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki / "ca.pem")
        ctx.load_cert_chain(pki / "client.pem")
        return ctx

    return make


def forwarder(pki, gateways: dict[str, str]) -> Forwarder:
    fwd = Forwarder(Consensus(), FakePool(), datacenter="dc1", rng=random.Random(1))
    fwd.gateway_for = gateways.get
    fwd.gateway_pool = GatewayPool(client_context(pki), dial_timeout=2)
    return fwd


async def local(_request):
    raise AssertionError("a dc2 request must not run in dc1")


async def test_request_for_another_dc_goes_through_its_gateway(dc2_server):
    pki, gateway, mux, seen = dc2_server
    fwd = forwarder(pki, {"dc2": f"{HOST}:{gateway.address[1]}"})
    try:
        for _ in range(3):
            reply = await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2", Key="k"), local)
            assert reply.Entries[0].Value == b"dc2"
    finally:
        await fwd.gateway_pool.close()
    assert [r.Key for r in seen] == ["k"] * 3
    assert mux.counts["alpn consul/rpc-multi"] == 1  # one session through the gateway


async def test_unreachable_gateway_fails_with_a_clear_error(dc2_server):
    pki, gateway, _, _ = dc2_server
    address = f"{HOST}:{gateway.address[1]}"
    gateway.close()
    fwd = forwarder(pki, {"dc2": address})
    try:
        with pytest.raises(ConsulError, match=f"to datacenter dc2 through gateway {address}"):
            await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2", Key="k"), local)
    finally:
        await fwd.gateway_pool.close()


async def test_without_a_gateway_the_wan_router_is_used(dc2_server):
    pki, _, _, _ = dc2_server
    fwd = forwarder(pki, {})
    with pytest.raises(ConsulError, match="No path to datacenter"):
        await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2", Key="k"), local)


async def test_a_gateway_that_cannot_be_dialled_is_reported_and_the_next_one_used(dc2_server):
    pki, gateway, _, seen = dc2_server
    dead = FaultProxy(gateway.target)
    dead_address = f"{HOST}:{dead.address[1]}"
    dead.close()
    good = f"{HOST}:{gateway.address[1]}"
    order = [dead_address, good]
    failed: list[tuple[str, str]] = []
    fwd = forwarder(pki, {})
    fwd.gateway_for = lambda dc: order[0]
    fwd.gateway_failed = lambda dc, gw: (failed.append((dc, gw)), order.remove(gw))
    try:
        for _ in range(2):
            reply = await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2", Key="k"), local)
            assert reply.Entries[0].Value == b"dc2"
    finally:
        await fwd.gateway_pool.close()
    assert failed == [("dc2", dead_address)]
    assert len(seen) == 2
