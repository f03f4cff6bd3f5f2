"""The peering stream's driver between two in-process servers over real gRPC TLS: the
acceptor serves its Connect peering certificate, the dialer verifies it with the
acceptor's roots, the pending stream secret is promoted, exported services and
their health reach the dialer's imported catalog, stream status drives State, and
deleting the peering on one side terminates it on the other.

(The peerings are written through raft directly: the Peering endpoints that make
them from a token are helper ``peering``'s.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
import pytest
from msgspec.structs import replace

from proconsul.agent.config.runtime import TLSSettings
from proconsul.agent.connect.server_cert import ServerCertManager
from proconsul.agent.xds.certificates import GrpcCertificates
from proconsul.server.peering.exchange import peerstream_handler
from proconsul.server.server import Server, ServerConfig
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.config_entry_rpc import ConfigEntryRequest
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    SECRETS_ESTABLISH,
    SECRETS_EXCHANGE_SECRET,
    SECRETS_GENERATE_TOKEN,
    STATE_ACTIVE,
    STATE_DELETING,
    STATE_TERMINATED,
    Peering,
    PeeringSecretsWriteRequest,
    PeeringWriteRequest,
    SecretsWriteRequest,
)

ACCEPTOR_ID, DIALER_ID, SECRET = "a0000000-0000-4000-8000-000000000001", \
    "d0000000-0000-4000-8000-000000000002", "stream-secret"


async def eventually(condition: Callable[[], object], what: str, timeout: float = 30.0):
    """Poll a condition another task makes true (stream progress has no single event)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return result


def imported(server: Server, peer: str, service: str) -> list[tuple[str, str, str]]:
    rows = server.store.catalog_reader(peer).check_service_nodes(None, service)[1]
    return [(r.Node.Node, r.Service.ID, r.Checks[0].Status if r.Checks else "") for r in rows]


async def register_web(server: Server, status: str) -> None:
    await server.raft_apply(MessageType.REGISTER, RegisterRequest(
        Node="n1", Address="10.0.0.1",
        Service=NodeService(ID="web-1", Service="web", Port=8080),
        Check=HealthCheck(Node="n1", CheckID="web-check", Name="web", Status=status,
                          ServiceID="web-1", ServiceName="web")))


async def export(server: Server, services: list[str]) -> None:
    await server.rpc("ConfigEntry.Apply", ConfigEntryRequest(Entry={
        "Kind": "exported-services", "Name": "default",
        "Services": [{"Name": s, "Consumers": [{"Peer": "dc2"}]} for s in services]}))


@pytest.fixture
async def clusters():
    dc1 = Server(ServerConfig(datacenter="dc1", node_name="s1", connect_enabled=True))
    dc2 = Server(ServerConfig(datacenter="dc2", node_name="s2", connect_enabled=True))
    for server in (dc1, dc2):
        server.peering_streams.heartbeat_interval = 0.5
        server.start()
    await eventually(lambda: dc1.store.ca_active_root() and dc2.store.ca_active_root(),
                     "both CAs")
    certificates = GrpcCertificates(TLSSettings(), "s1")
    cert_manager = ServerCertManager(dc1.rpc, "dc1", certificates.set_peering)
    cert_task = asyncio.create_task(cert_manager.run())
    grpc_server = grpc.aio.server()
    grpc_server.add_generic_rpc_handlers((peerstream_handler(dc1),))
    port = grpc_server.add_secure_port("127.0.0.1:0", certificates.credentials())
    await grpc_server.start()
    await eventually(lambda: cert_manager.cert, "dc1's peering certificate")
    yield dc1, dc2, port, cert_manager.server_name
    cert_task.cancel()
    await grpc_server.stop(0)
    for server in (dc1, dc2):
        await server.stop()


async def peer(dc1: Server, dc2: Server, port: int, server_name: str) -> None:
    """What GenerateToken + ExchangeSecret (dc1) and Establish (dc2) leave in raft."""
    await dc1.raft_apply(MessageType.PEERING_WRITE, PeeringWriteRequest(
        Peering(ID=ACCEPTOR_ID, Name="dc2", PeerID=DIALER_ID),
        SecretsWriteRequest(PeerID=ACCEPTOR_ID, Op=SECRETS_GENERATE_TOKEN,
                            EstablishmentSecret="est")))
    await dc1.raft_apply(MessageType.PEERING_SECRETS_WRITE, PeeringSecretsWriteRequest(
        SecretsWriteRequest(PeerID=ACCEPTOR_ID, Op=SECRETS_EXCHANGE_SECRET,
                            EstablishmentSecret="est", StreamSecret=SECRET)))
    await dc2.raft_apply(MessageType.PEERING_WRITE, PeeringWriteRequest(
        Peering(ID=DIALER_ID, Name="dc1", PeerID=ACCEPTOR_ID,
                PeerCAPems=[r.RootCert for r in dc1.store.ca_roots],
                PeerServerName=server_name, PeerServerAddresses=[f"127.0.0.1:{port}"]),
        SecretsWriteRequest(PeerID=DIALER_ID, Op=SECRETS_ESTABLISH, StreamSecret=SECRET)))


def read(server: Server, peering_id: str) -> Peering:
    peering = server.store.peering_read_by_id(None, peering_id)[1]
    return server.peering_streams.decorate(peering)


async def test_exported_services_replicate_and_deletion_terminates(clusters):
    dc1, dc2, port, server_name = clusters
    await peer(dc1, dc2, port, server_name)
    await eventually(lambda: read(dc2, DIALER_ID).State == STATE_ACTIVE, "the stream")
    await register_web(dc1, "passing")
    await export(dc1, ["web"])
    await eventually(lambda: imported(dc2, "dc1", "web") == [
        ("n1", "web-1", "passing")], "web imported into dc2")
    assert dc1.store.peering_secrets_read(ACCEPTOR_ID).ActiveStreamSecretID == SECRET
    bundle = await eventually(lambda: dc2.store.peering_trust_bundle_read(None, "dc1")[1],
                              "dc1's trust bundle in dc2")
    assert bundle.TrustDomain == server_name.split(".peering.")[1]
    assert bundle.RootPEMs == [r.RootCert for r in dc1.store.ca_roots]
    accepting = await eventually(lambda: (p := read(dc1, ACCEPTOR_ID)).State == STATE_ACTIVE
                                 and p, "dc1's peering ACTIVE")
    assert accepting.StreamStatus.ExportedServices == ["web"]
    dialing = await eventually(lambda: (p := read(dc2, DIALER_ID)).StreamStatus.LastHeartbeat
                               and p, "a heartbeat in dc2")
    assert dialing.State == STATE_ACTIVE
    assert dialing.StreamStatus.ImportedServices == ["web"]
    assert dialing.StreamStatus.LastReceive and dialing.StreamStatus.LastSend
    # health changes travel
    await register_web(dc1, "critical")
    await eventually(lambda: imported(dc2, "dc1", "web") == [
        ("n1", "web-1", "critical")], "web critical in dc2")
    # un-exporting removes the imported rows
    await export(dc1, [])
    await eventually(lambda: imported(dc2, "dc1", "web") == [], "web gone from dc2")
    assert not list(dc2.store.peer_catalogs["dc1"].nodes.rows())
    await export(dc1, ["web"])
    await eventually(lambda: imported(dc2, "dc1", "web"), "web back in dc2")
    # dc1 deletes the peering: dc2's becomes TERMINATED and its imports go
    current = dc1.store.peering_read_by_id(None, ACCEPTOR_ID)[1]
    await dc1.raft_apply(MessageType.PEERING_WRITE, PeeringWriteRequest(replace(
        current, State=STATE_DELETING, DeletedAt=datetime.now(UTC))))
    await eventually(lambda: read(dc2, DIALER_ID).State == STATE_TERMINATED,
                     "dc2's peering terminated")
    await eventually(lambda: imported(dc2, "dc1", "web") == [], "dc2's imports removed")
    assert dc2.store.peering_trust_bundle_read(None, "dc1")[1] is None


async def refusal(port: int, roots: bytes, server_name: str, secret: str
                  ) -> grpc.aio.AioRpcError:
    """How the acceptor refuses a stream opened with ``secret``."""
    async with grpc.aio.secure_channel(
            f"127.0.0.1:{port}", grpc.ssl_channel_credentials(roots),
            options=[("grpc.ssl_target_name_override", server_name)]) as channel:
        call = channel.stream_stream(pb.STREAM_RESOURCES,
                                     request_serializer=pb.ReplicationMessage.SerializeToString,
                                     response_deserializer=pb.ReplicationMessage.FromString)()
        await call.write(pb.ReplicationMessage(open=pb.ReplicationMessage.Open(
            PeerID=ACCEPTOR_ID, StreamSecretID=secret)))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()
    return refused.value


async def test_refused_streams_leave_the_established_one_alone(clusters):
    dc1, dc2, port, server_name = clusters
    await peer(dc1, dc2, port, server_name)
    await eventually(lambda: read(dc2, DIALER_ID).State == STATE_ACTIVE, "the stream")
    roots = "".join(r.RootCert for r in dc1.store.ca_roots).encode()
    wrong = await refusal(port, roots, server_name, "wrong")
    assert (wrong.code(), wrong.details()) == (grpc.StatusCode.PERMISSION_DENIED,
                                               "invalid peering stream secret")
    assert read(dc2, DIALER_ID).State == STATE_ACTIVE
    # with peering disabled the acceptor takes no stream, even with the right secret
    dc1.config.peering_enabled = False
    disabled = await refusal(port, roots, server_name, SECRET)
    assert (disabled.code(), disabled.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION, "peering must be enabled to use this endpoint")
